import { join } from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IAlarmAction,
  type IMetric,
  type MetricOptions,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  HANDLER_ENTRIES,
  type HandlerName,
  LAMBDA_ARCHITECTURE,
  LAMBDA_RUNTIME,
  nodejsBundling,
  PROJECT_ROOT,
} from './bundling.ts';

/** Where alarms send their notifications (the alert topic), and whether they also say "OK again". */
export interface AlarmSink {
  actions: IAlarmAction[];
  okActions: IAlarmAction[];
}

/** Wires an alarm to the sink. */
export function notify(alarm: Alarm, sink: AlarmSink): Alarm {
  alarm.addAlarmAction(...sink.actions);
  if (sink.okActions.length > 0) alarm.addOkAction(...sink.okActions);
  return alarm;
}

export interface DgmFunctionProps {
  handler: HandlerName;
  description: string;
  memorySize: number;
  timeout: Duration;
  environment: Record<string, string>;
  logRetention: RetentionDays;
  /** Async invocations that failed (after retries) or expired go here, with the error. */
  failureQueue: IQueue;
  retryAttempts: number;
  maxEventAge: Duration;
  reservedConcurrentExecutions?: number;
  vpc?: ec2.IVpc;
  vpcSubnets?: ec2.SubnetSelection;
  securityGroups?: ec2.ISecurityGroup[];
  alarms: AlarmSink;
  /** Names the function in alarm descriptions, e.g. "sampler of prod". */
  label: string;
  /** Files (absolute paths) copied next to the bundle, read by the handler at run time. */
  bundleFiles?: readonly string[];
}

/**
 * One Lambda as the stack runs it: bundled with the shared settings, its own log group with retention,
 * an async failure destination, and alarms on its own health (errors, throttles, duration near the
 * timeout). What a job needs beyond that (grants, schedules) its owner adds.
 */
export class DgmFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: DgmFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      // Logs age out by retention; keeping the group after the stack is gone only leaves clutter.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.fn = new NodejsFunction(this, 'Function', {
      entry: join(PROJECT_ROOT, HANDLER_ENTRIES[props.handler]),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      runtime: LAMBDA_RUNTIME,
      architecture: LAMBDA_ARCHITECTURE,
      description: props.description,
      memorySize: props.memorySize,
      timeout: props.timeout,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      logGroup: this.logGroup,
      bundling: nodejsBundling(props.bundleFiles),
      onFailure: new SqsDestination(props.failureQueue),
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      vpc: props.vpc,
      vpcSubnets: props.vpc ? props.vpcSubnets : undefined,
      securityGroups: props.vpc ? props.securityGroups : undefined,
    });

    Validations.of(this.fn.role!).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The AWS-managed Lambda logging policy; the function writes only to its own log group.',
    });
    if (props.vpc) {
      Validations.of(this.fn.role!).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason:
          'The AWS-managed policy for the network interfaces of a Lambda in a VPC; EC2 ENI actions allow no resource-level scope.',
      });
    }
    Validations.of(this.fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x on purpose: the code and its tests run on Node 22 (middy 7 engine, the CLI node); it moves with them.',
    });

    const fiveMinutes = (metric: IMetric & { with(o: MetricOptions): IMetric }, statistic: string) =>
      metric.with({ period: Duration.minutes(5), statistic });
    this.alarms.push(
      notify(
        new Alarm(this, 'Errors', {
          alarmDescription: `The ${props.label} Lambda failed (an unhandled error) in the last 5 minutes`,
          metric: fiveMinutes(this.fn.metricErrors(), 'Sum'),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
        props.alarms,
      ),
      notify(
        new Alarm(this, 'Throttles', {
          alarmDescription: `The ${props.label} Lambda was throttled (concurrency limit) in the last 5 minutes`,
          metric: fiveMinutes(this.fn.metricThrottles(), 'Sum'),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
        props.alarms,
      ),
      notify(
        new Alarm(this, 'DurationNearTimeout', {
          alarmDescription: `The ${props.label} Lambda ran longer than 80% of its ${props.timeout.toSeconds()} s timeout`,
          metric: fiveMinutes(this.fn.metricDuration(), 'Maximum'),
          threshold: Math.round(props.timeout.toMilliseconds() * 0.8),
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
        props.alarms,
      ),
    );
  }
}
