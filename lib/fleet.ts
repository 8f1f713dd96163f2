import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ArnFormat,
  type CfnElement,
  CustomResource,
  Duration,
  RemovalPolicy,
  Stack,
  Stage,
  TimeZone,
  Validations,
} from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import {
  DEFAULT_SCHEDULES,
  type DeploymentConfig,
  SCHEDULED_TASKS,
  type ScheduledTask,
} from '../functions/deployment.ts';
import type { RegisteredTarget } from '../functions/ports.ts';
import type { Alerting } from './alerting.ts';
import { PROJECT_ROOT } from './bundling.ts';
import { type AlarmSink, DgmFunction, notify } from './dgm-function.ts';
import { DGM_METRICS, METRIC_NAMESPACE } from './metrics.ts';
import type { Placement } from './placement.ts';

/**
 * A hash of every migration file: part of the schema resource's properties, so a deploy that changes a
 * migration starts the migrate fan-out.
 */
export function migrationsHash(): string {
  const dir = join(PROJECT_ROOT, 'functions/sql/migrations');
  const hash = createHash('sha256');
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()) {
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(dir, file)))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/** Errors of a synchronous Lambda invoke that a retry may cure (throttling, service hiccups). */
/** The ASL placeholder definitionSubstitutions fills with the fan-out function's ARN. */
const FAN_OUT_FUNCTION = '$' + '{FanOutFunction}';

const LAMBDA_TRANSIENT = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

export interface FanOutStateMachineProps {
  /** "Sampling" or "Maintenance": names the machine and its alarms. */
  family: string;
  fanOut: IFunction;
  /** Every function an item may name (the placements' functions for this family). */
  workers: IFunction[];
  /** EXPRESS for runs under 5 minutes (samples), STANDARD for longer ones (maintenance). */
  childType: 'EXPRESS' | 'STANDARD';
  maxConcurrency: number;
  targetTimeoutSeconds: number;
  logRetention: RetentionDays;
}

/**
 * One run of a job over the fleet, on Step Functions:
 *   ListTargets (fan-out Lambda: registry -> items {target, function})
 *   -> EachTarget (Distributed Map: MaxConcurrency targets at a time, each item a child workflow that
 *      invokes its placement's function with {task, target}, TimeoutSeconds per target; every failure
 *      is caught and becomes that item's outcome, so ToleratedFailurePercentage is never needed)
 *   -> Report (fan-out Lambda: outcomes -> FanOut* metrics per job and per failed target, log lines).
 * The definition is ASL text (a Task whose FunctionName comes from the item has no L2 state).
 */
export class FanOutStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: FanOutStateMachineProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const lambdaRetry = (attempts: number) => ({
      ErrorEquals: LAMBDA_TRANSIENT,
      IntervalSeconds: 2,
      MaxAttempts: attempts,
      BackoffRate: 2,
      JitterStrategy: 'FULL',
    });
    const definition = {
      Comment: `dgm-db-ops ${props.family.toLowerCase()} fan-out: input {"task": ...}`,
      StartAt: 'ListTargets',
      States: {
        ListTargets: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: {
            FunctionName: FAN_OUT_FUNCTION,
            Payload: { action: 'list', 'task.$': '$.task' },
          },
          ResultSelector: {
            'task.$': '$.Payload.task',
            'items.$': '$.Payload.items',
            'skipped.$': '$.Payload.skipped',
          },
          Retry: [lambdaRetry(3)],
          Next: 'EachTarget',
        },
        EachTarget: {
          Type: 'Map',
          Label: 'EachTarget',
          ItemsPath: '$.items',
          ItemSelector: {
            'target.$': '$$.Map.Item.Value.target',
            'function.$': '$$.Map.Item.Value.function',
            'task.$': '$.task',
          },
          MaxConcurrency: props.maxConcurrency,
          ItemProcessor: {
            ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: props.childType },
            StartAt: 'RunTarget',
            States: {
              RunTarget: {
                Type: 'Task',
                Resource: 'arn:aws:states:::lambda:invoke',
                Parameters: {
                  'FunctionName.$': '$.function',
                  Payload: { 'task.$': '$.task', 'target.$': '$.target', reason: 'schedule', fanOut: true },
                },
                // The per-target timeout: a database that does not answer holds its own item only.
                TimeoutSeconds: props.targetTimeoutSeconds,
                ResultSelector: { 'status.$': '$.Payload.status' },
                ResultPath: '$.result',
                Retry: [lambdaRetry(2)],
                Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'TargetFailed' }],
                Next: 'TargetDone',
              },
              TargetDone: {
                Type: 'Pass',
                Parameters: { 'target.$': '$.target', status: 'ok', 'jobStatus.$': '$.result.status' },
                End: true,
              },
              // The error name and the start of its cause: outcomes of a whole fleet stay far below
              // the 256 KB state limit even when every target fails.
              TargetFailed: {
                Type: 'Pass',
                QueryLanguage: 'JSONata',
                Output: {
                  target: '{% $states.input.target %}',
                  status: "{% $states.input.error.Error = 'States.Timeout' ? 'timeout' : 'error' %}",
                  error:
                    "{% $substring($states.input.error.Error & ': ' & $string($states.input.error.Cause), 0, 300) %}",
                },
                End: true,
              },
            },
          },
          ResultPath: '$.outcomes',
          Next: 'Report',
        },
        Report: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: {
            FunctionName: FAN_OUT_FUNCTION,
            Payload: {
              action: 'report',
              'task.$': '$.task',
              'outcomes.$': '$.outcomes',
              'skipped.$': '$.skipped',
            },
          },
          ResultSelector: {
            'status.$': '$.Payload.status',
            'targets.$': '$.Payload.targets',
            'failed.$': '$.Payload.failed',
          },
          Retry: [lambdaRetry(3)],
          End: true,
        },
      },
    };
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: `dgm-db-ops ${props.family.toLowerCase()} fan-out over the target registry`,
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(definition)),
      definitionSubstitutions: { FanOutFunction: props.fanOut.functionArn },
      stateMachineType: sfn.StateMachineType.STANDARD,
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    const role = this.stateMachine.role;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'InvokeFanOutAndWorkers',
        actions: ['lambda:InvokeFunction'],
        resources: [props.fanOut.functionArn, ...props.workers.map((f) => f.functionArn)],
      }),
    );
    // A Distributed Map starts its child workflows as executions of this very state machine; a policy
    // of its own, attached after the machine exists (the machine's ARN in its role would be a cycle).
    const name = this.stateMachine.stateMachineName;
    new iam.Policy(this, 'ChildWorkflows', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          actions: ['states:StartExecution'],
          resources: [this.stateMachine.stateMachineArn],
        }),
        new iam.PolicyStatement({
          actions: ['states:DescribeExecution', 'states:StopExecution'],
          resources: [
            stack.formatArn({
              service: 'states',
              resource: 'execution',
              resourceName: `${name}/*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
            stack.formatArn({
              service: 'states',
              resource: 'express',
              resourceName: `${name}/*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      ],
    });
    const ack = (c: Construct, rule: string, reason: string) =>
      Validations.of(c).acknowledge({ id: rule, reason });
    ack(
      this,
      'AwsSolutions-IAM5[Resource::*]',
      'Step Functions log delivery and X-Ray tracing: these actions have no resource-level scope (CDK grants them with logs and tracing on).',
    );
    ack(
      this,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<${stack.getLogicalId(this.stateMachine.node.defaultChild as CfnElement)}.Name>/*]`,
      "The Distributed Map describes and stops its own child executions, whose ids are only known at run time (this state machine's executions only).",
    );
    ack(
      this,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:express:<${stack.getLogicalId(this.stateMachine.node.defaultChild as CfnElement)}.Name>/*]`,
      'The Distributed Map describes and stops its own Express child executions, whose ids are only known at run time.',
    );
  }
}

export interface FleetProps {
  deployment: DeploymentConfig;
  alerting: Alerting;
  logRetention: RetentionDays;
  scheduleGroup: scheduler.IScheduleGroup;
  placements: Placement[];
  placementNames: string[];
  registry: dynamodb.Table;
  /** cdk.json's targets, bundled with the seeder (no tokens). */
  seedTargets: RegisteredTarget[];
  /** Targets whose attributes are tokens (the demo database): passed as a resource property. */
  tokenTargets: RegisteredTarget[];
  samplerTimeoutSeconds: number;
  maintainerTimeoutSeconds: number;
  constitutionalHash: string;
}

/**
 * The fleet's moving parts: the fan-out Lambda, one fan-out state machine per job family, one schedule
 * per job kind, the registry seeding and the schema migration on deploy, and the alarms that must be
 * alarms (the runs themselves); per-database alerts are the sampler's rules engine.
 */
export class Fleet extends Construct {
  readonly fanOut: DgmFunction;
  readonly seeder: DgmFunction;
  readonly sampling: FanOutStateMachine;
  readonly maintenance: FanOutStateMachine;
  readonly schedules: Partial<Record<ScheduledTask, scheduler.Schedule>> = {};
  readonly schedulerRole: iam.Role;
  readonly alarms: Alarm[] = [];
  readonly schema: CustomResource;

  constructor(scope: Construct, id: string, props: FleetProps) {
    super(scope, id);
    const { deployment, alerting } = props;
    const stack = Stack.of(this);
    const placements = stack.toJsonString(
      Object.fromEntries(
        props.placements.map((p, i) => [
          props.placementNames[i],
          {
            sampler: p.sampler.fn.functionName,
            maintainer: p.maintainer.fn.functionName,
            migrator: p.migrator.fn.functionName,
          },
        ]),
      ),
    );

    // Outside any VPC: it reads the registry and puts metrics, and never connects to a database.
    this.fanOut = new DgmFunction(this, 'FanOut', {
      handler: 'fanout',
      label: 'fleet fan-out',
      description: 'dgm-db-ops fan-out: lists the registry for a run, reports its per-target outcomes',
      memorySize: 512,
      timeout: Duration.seconds(60),
      environment: { DGM_TARGET_TABLE: props.registry.tableName, DGM_PLACEMENTS: placements },
      logRetention: props.logRetention,
      failureQueue: alerting.failureQueue,
      retryAttempts: 0,
      maxEventAge: Duration.minutes(5),
      alarms: alerting.alarmSink,
    });
    props.registry.grant(this.fanOut.fn, 'dynamodb:Scan');
    this.fanOut.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PutFanOutMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
      }),
    );
    Validations.of(this.fanOut.fn.role!).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:PutMetricData has no resource-level scope; the statement is limited by the cloudwatch:namespace condition to DGM/Database.',
    });

    const sampleTimeout = props.samplerTimeoutSeconds + 5;
    this.sampling = new FanOutStateMachine(this, 'Sampling', {
      family: 'Sampling',
      fanOut: this.fanOut.fn,
      workers: props.placements.map((p) => p.sampler.fn),
      childType: 'EXPRESS',
      maxConcurrency: deployment.fleet.sampleConcurrency,
      targetTimeoutSeconds: sampleTimeout,
      logRetention: props.logRetention,
    });
    this.maintenance = new FanOutStateMachine(this, 'Maintenance', {
      family: 'Maintenance',
      fanOut: this.fanOut.fn,
      workers: props.placements.flatMap((p) => [p.maintainer.fn, p.migrator.fn]),
      childType: 'STANDARD',
      maxConcurrency: deployment.fleet.maintenanceConcurrency,
      targetTimeoutSeconds: props.maintainerTimeoutSeconds + 30,
      logRetention: props.logRetention,
    });

    // cdk.json's targets go to the registry on deploy from a file bundled with the seeder, so neither
    // the template nor an environment variable grows with the fleet.
    const seedJson = JSON.stringify(props.seedTargets);
    const seedHash = createHash('sha256').update(seedJson).digest('hex').slice(0, 16);
    // In the cloud assembly's folder, which goes when the synth output goes.
    const seedDir = join(Stage.of(this)!.outdir, `.dgm-seed-${seedHash}`);
    mkdirSync(seedDir, { recursive: true });
    const seedFile = join(seedDir, 'dgm-targets.json');
    writeFileSync(seedFile, seedJson);
    this.seeder = new DgmFunction(this, 'RegistrySeeder', {
      handler: 'registry',
      label: 'registry seeder',
      description: "dgm-db-ops: writes cdk.json's targets into the registry, starts the schema fan-out",
      memorySize: 512,
      timeout: Duration.minutes(5),
      environment: {
        DGM_TARGET_TABLE: props.registry.tableName,
        DGM_MAINTENANCE_STATE_MACHINE: this.maintenance.stateMachine.stateMachineArn,
      },
      logRetention: props.logRetention,
      failureQueue: alerting.failureQueue,
      retryAttempts: 0,
      maxEventAge: Duration.minutes(5),
      alarms: alerting.alarmSink,
      bundleFiles: [seedFile],
    });
    props.registry.grant(this.seeder.fn, 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Scan');
    this.maintenance.stateMachine.grantStartExecution(this.seeder.fn);
    const provider = new Provider(this, 'RegistryProvider', {
      onEventHandler: this.seeder.fn,
      logGroup: new LogGroup(this, 'RegistryProviderLogs', {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });
    const seed = new CustomResource(this, 'SeedTargets', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::DgmTargetRegistry',
      properties: {
        Kind: 'targets',
        Version: seedHash,
        Targets: stack.toJsonString(props.tokenTargets),
      },
    });
    this.schema = new CustomResource(this, 'Schema', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::DgmFleetSchema',
      properties: {
        Kind: 'schema',
        Version: `${migrationsHash()}-${props.constitutionalHash}-${seedHash}`,
      },
    });
    this.schema.node.addDependency(seed, ...props.placements);

    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: 'EventBridge Scheduler starts the dgm-db-ops fan-outs',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    });
    const expressions = { ...DEFAULT_SCHEDULES, ...stripUndefined(deployment.schedules) };
    for (const task of SCHEDULED_TASKS) {
      const expression = expressions[task];
      if (expression === null) continue;
      const machine = task === 'sample' ? this.sampling : this.maintenance;
      const schedule = new scheduler.Schedule(this, `Schedule-${task}`, {
        scheduleGroup: props.scheduleGroup,
        description: `dgm-db-ops ${task} of every registered database`,
        schedule: scheduler.ScheduleExpression.expression(expression, TimeZone.of(deployment.timeZone)),
        target: new StepFunctionsStartExecution(machine.stateMachine, {
          role: this.schedulerRole,
          input: scheduler.ScheduleTargetInput.fromObject({ task }),
          retryAttempts: task === 'sample' ? 0 : 2,
          maxEventAge: task === 'sample' ? Duration.minutes(1) : Duration.hours(1),
          deadLetterQueue: alerting.failureQueue,
        }),
      });
      schedule.node.addDependency(this.schema);
      this.schedules[task] = schedule;
    }

    this.alarms.push(...this.fleetAlarms(expressions.sample !== null, alerting.alarmSink));
    this.acknowledgeFindings(provider);
  }

  /**
   * The alarms that must be alarms: the runs themselves (a missed sampling run, a failed fan-out, a
   * maintenance target that failed) and the fleet-wide failure share. No alarm reads a figure an alert
   * rule judges (RULE_METRICS, from the rule definitions): per-database thresholds are the sampler's
   * rules engine's (one grouped notification per database, cooldown); an unreachable database is its
   * database_unreachable rule, not an alarm as well.
   */
  private fleetAlarms(sampled: boolean, sink: AlarmSink): Alarm[] {
    const alarms: Alarm[] = [];
    const add = (a: Alarm) => alarms.push(notify(a, sink));
    const fanOutMetric = (name: string, job: string) =>
      new Metric({
        namespace: METRIC_NAMESPACE,
        metricName: name,
        dimensionsMap: { Job: job },
        statistic: 'Sum',
        period: Duration.minutes(1),
      });
    if (sampled) {
      add(
        new Alarm(this, 'MissedSamplingRun', {
          alarmDescription:
            'No sampling fan-out completed for 5 minutes: the schedule, the state machine or the registry is failing, and no database is being sampled',
          metric: this.sampling.stateMachine.metricSucceeded({
            period: Duration.minutes(5),
            statistic: 'Sum',
          }),
          threshold: 1,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.BREACHING,
        }),
      );
      add(
        new Alarm(this, 'SamplingFailureShare', {
          alarmDescription:
            'More than 10% of the fleet failed to be sampled for 5 minutes: a fleet-wide cause (network, Secrets Manager, a bad deploy); each database also alerts on its own',
          metric: new MathExpression({
            expression: '100 * failed / MAX([targets, 1])',
            usingMetrics: {
              failed: fanOutMetric(DGM_METRICS.fanOutFailures, 'sample'),
              targets: fanOutMetric(DGM_METRICS.fanOutTargets, 'sample'),
            },
            period: Duration.minutes(1),
            label: 'failed share (%)',
          }),
          threshold: 10,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 5,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    add(
      new Alarm(this, 'FanOutFailed', {
        alarmDescription:
          'A fan-out run itself failed (the registry could not be read, or its report not written); its targets may not have run',
        metric: new MathExpression({
          expression: 'sampling + maintenance',
          usingMetrics: {
            sampling: this.sampling.stateMachine.metricFailed({
              period: Duration.minutes(5),
              statistic: 'Sum',
            }),
            maintenance: this.maintenance.stateMachine.metricFailed({
              period: Duration.minutes(5),
              statistic: 'Sum',
            }),
          },
          period: Duration.minutes(5),
        }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    add(
      new Alarm(this, 'MaintenanceTargetFailed', {
        alarmDescription:
          'A maintenance or migrate run failed, timed out or was skipped for at least one database in the last hour; the fleet dashboard and the fan-out log name them',
        metric: new MathExpression({
          expression: `SELECT SUM(${DGM_METRICS.fanOutFailures}) FROM SCHEMA("${METRIC_NAMESPACE}", Job) WHERE Job != 'sample'`,
          usingMetrics: {},
          period: Duration.hours(1),
          label: 'failed maintenance targets',
        }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    return alarms;
  }

  private acknowledgeFindings(provider: Provider): void {
    const ack = (c: Construct, id: string, reason: string) => Validations.of(c).acknowledge({ id, reason });
    const stack = Stack.of(this);
    const logicalId = (c: Construct) => stack.getLogicalId(c.node.defaultChild as CfnElement);
    ack(
      provider,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The CDK custom-resource framework function: AWS-managed logging policy only.',
    );
    ack(
      provider,
      `AwsSolutions-IAM5[Resource::<${logicalId(this.seeder.fn)}.Arn>:*]`,
      'The CDK custom-resource framework may invoke the registry seeder (and its versions); it invokes nothing else.',
    );
  }
}

function stripUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
