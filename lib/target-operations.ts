import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ArnFormat,
  type CfnElement,
  CustomResource,
  Duration,
  RemovalPolicy,
  Stack,
  TimeZone,
  Validations,
} from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { Construct, type IDependable } from 'constructs';
import {
  DEFAULT_SCHEDULES,
  type DeploymentConfig,
  lambdaTimeoutsFor,
  type RuntimeConfig,
  SCHEDULED_TASKS,
  type ScheduledTask,
} from '../functions/config.ts';
import type { Alerting } from './alerting.ts';
import { PROJECT_ROOT } from './bundling.ts';
import { TargetDashboard } from './dashboard.ts';
import { type AlarmSink, DgmFunction, notify } from './dgm-function.ts';
import { DGM_METRICS, dgmMetric, METRIC_NAMESPACE } from './metrics.ts';
import { lambdaSecurityGroup, type VpcAccess } from './network.ts';

/** A database the stack operates, whether it existed before or the stack made it (demo). */
export interface TargetSpec {
  name: string;
  /** Writer endpoint; a token for a database the stack creates. */
  host: string;
  port: number;
  database: string;
  secret: secretsmanager.ISecret;
  /** The ARN of the secret's customer-managed key, when it has one. */
  secretKeyArn?: string;
  databaseSecurityGroup: ec2.ISecurityGroup;
  vpcAccess: VpcAccess;
  /** The subnets this target's Lambdas run in (a route to the database, and to AWS APIs). */
  subnets: ec2.SubnetSelection;
  rds?: { dimension: 'DBInstanceIdentifier' | 'DBClusterIdentifier'; identifier: string };
  /** The target's overrides of the runtime config, as written into DGM_TARGETS. */
  overrides: Record<string, unknown>;
  /** The resolved runtime config (base + overrides), which timeouts and thresholds derive from. */
  runtime: RuntimeConfig;
  /** Resources the schema install must wait for (a demo database and its network). */
  dependsOn?: IDependable[];
}

export interface TargetOperationsProps {
  spec: TargetSpec;
  deployment: DeploymentConfig;
  alerting: Alerting;
  scheduleGroup: scheduler.IScheduleGroup;
  logRetention: RetentionDays;
}

/**
 * Partition maintenance runs daily and premakes months ahead: a week of runway left means it has been
 * failing for weeks, with time to fix it before rows go to a default partition.
 */
export const PARTITIONS_AHEAD_ALARM_DAYS = 7;

/** Which Lambda runs a scheduled task. */
export const TASK_FUNCTION: Record<ScheduledTask, 'sampler' | 'maintainer'> = {
  sample: 'sampler',
  partitions: 'maintainer',
  indexes: 'maintainer',
  vacuum: 'maintainer',
  statistics: 'maintainer',
  optimize: 'maintainer',
};

/**
 * A hash of every migration file: it is a property of the schema custom resource, so a deploy that
 * changes a migration sends CloudFormation an Update, which runs migrate.
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

/**
 * Everything one target gets: its sampler, maintainer and migrator Lambdas (each with only this
 * target's secret and database port), the schema custom resource, one schedule per task, the
 * missed-sample and KPI alarms, and its dashboard.
 */
export class TargetOperations extends Construct {
  readonly sampler: DgmFunction;
  readonly maintainer: DgmFunction;
  readonly migrator: DgmFunction;
  readonly schema: CustomResource;
  readonly schedules: Partial<Record<ScheduledTask, scheduler.Schedule>> = {};
  readonly alarms: Alarm[] = [];
  readonly dashboard: TargetDashboard;
  readonly securityGroup: ec2.SecurityGroup;
  readonly schedulerRole: iam.Role;
  readonly schemaProvider: Provider;

  constructor(scope: Construct, id: string, props: TargetOperationsProps) {
    super(scope, id);
    const { spec, deployment, alerting } = props;
    const stack = Stack.of(this);
    const access = spec.vpcAccess;
    const timeouts = lambdaTimeoutsFor(spec.runtime);

    this.securityGroup = lambdaSecurityGroup(this, 'LambdaSecurityGroup', access.vpc, {
      securityGroup: spec.databaseSecurityGroup,
      port: spec.port,
      name: spec.name,
    });
    access.allowFrom(this.securityGroup);

    // What the handlers read (functions/handlers/runtime.ts): this target only, so a function can reach
    // nothing but its own database.
    const targets = stack.toJsonString([
      {
        name: spec.name,
        host: spec.host,
        port: spec.port,
        database: spec.database,
        secretArn: spec.secret.secretArn,
        config: spec.overrides,
        // The optimizer reads literal statements from the instance's log (an Aurora cluster's logs are
        // per member instance: not read).
        ...(spec.rds?.dimension === 'DBInstanceIdentifier' ? { rdsInstanceId: spec.rds.identifier } : {}),
      },
    ]);
    const common = {
      DGM_TARGETS: targets,
      DGM_CONFIG: JSON.stringify(deployment.runtime),
      // The RDS CA bundle the Lambda runtime ships; TLS to the database is verified against it.
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
    };
    const inVpc = {
      vpc: access.vpc,
      vpcSubnets: spec.subnets,
      securityGroups: [this.securityGroup],
      logRetention: props.logRetention,
      failureQueue: alerting.failureQueue,
      alarms: alerting.alarmSink,
    };

    this.maintainer = new DgmFunction(this, 'Maintainer', {
      ...inVpc,
      handler: 'maintainer',
      label: `maintainer of ${spec.name}`,
      description: `dgm-db-ops maintainer of ${spec.name}: partitions, indexes, statistics, vacuum, optimize`,
      memorySize: deployment.lambda.maintainerMemoryMb,
      timeout: Duration.seconds(timeouts.maintainerSeconds),
      environment: common,
      // Maintenance takes locks and long statements: a retry is a new run, not a replay. The advisory
      // lock makes a concurrent duplicate skip, and reserved concurrency caps connections.
      retryAttempts: 0,
      maxEventAge: Duration.hours(1),
      reservedConcurrentExecutions:
        deployment.lambda.maintainerReservedConcurrency > 0
          ? deployment.lambda.maintainerReservedConcurrency
          : undefined,
    });
    this.sampler = new DgmFunction(this, 'Sampler', {
      ...inVpc,
      handler: 'sampler',
      label: `sampler of ${spec.name}`,
      description: `dgm-db-ops sampler of ${spec.name}: KPIs to CloudWatch, alerts to SNS`,
      memorySize: deployment.lambda.samplerMemoryMb,
      timeout: Duration.seconds(timeouts.samplerSeconds),
      environment: {
        ...common,
        DGM_ALERT_TOPIC_ARN: alerting.topic.topicArn,
        DGM_ALERT_TABLE: alerting.stateTable.tableName,
        DGM_MAINTAINER_FUNCTION: this.maintainer.fn.functionName,
      },
      // The next sample is a minute away: a late or repeated one only adds noise.
      retryAttempts: 0,
      maxEventAge: Duration.minutes(2),
    });
    this.migrator = new DgmFunction(this, 'Migrator', {
      ...inVpc,
      handler: 'migrator',
      label: `migrator of ${spec.name}`,
      description: `dgm-db-ops migrator of ${spec.name}: installs or upgrades the DGM schema`,
      memorySize: 512,
      timeout: Duration.seconds(timeouts.migratorSeconds),
      environment: common,
      retryAttempts: 0,
      maxEventAge: Duration.hours(1),
    });

    // Grants: each function gets what its job does, on this target's resources.
    for (const f of [this.sampler, this.maintainer, this.migrator]) {
      spec.secret.grantRead(f.fn);
      if (spec.secretKeyArn) {
        f.fn.addToRolePolicy(
          new iam.PolicyStatement({
            sid: 'DecryptTheDatabaseSecret',
            actions: ['kms:Decrypt'],
            resources: [spec.secretKeyArn],
            // Only when Secrets Manager decrypts the secret for the function, never directly.
            conditions: {
              StringEquals: {
                'kms:ViaService': `secretsmanager.${spec.secretKeyArn.split(':')[3]}.amazonaws.com`,
              },
            },
          }),
        );
      }
    }
    // Only the sampler puts metrics (the maintainer's runs show in its Lambda metrics).
    this.sampler.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PutDgmMetrics',
        actions: ['cloudwatch:PutMetricData'],
        // PutMetricData has no resource-level scope; the namespace condition is its least privilege.
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
      }),
    );
    // Only the sampler alerts (a failed maintenance run too, through its maintenance_failed rule, so it
    // arrives once). Not topic.grantPublish: it grants kms:GenerateDataKey*; publishing to an encrypted
    // topic needs exactly these two key actions.
    this.sampler.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PublishAlerts',
        actions: ['sns:Publish'],
        resources: [alerting.topic.topicArn],
      }),
    );
    alerting.key.grant(this.sampler.fn, 'kms:Decrypt', 'kms:GenerateDataKey');
    alerting.stateTable.grant(this.sampler.fn, 'dynamodb:GetItem', 'dynamodb:PutItem');
    // The governance check starts an optimize run: an async invoke of this target's maintainer only.
    this.sampler.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StartMaintenanceRuns',
        actions: ['lambda:InvokeFunction'],
        resources: [this.maintainer.fn.functionArn],
      }),
    );

    // The optimizer (in the maintainer) reads literal statements from this instance's log only.
    if (spec.rds?.dimension === 'DBInstanceIdentifier') {
      this.maintainer.fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadServerLog',
          actions: ['rds:DescribeDBLogFiles', 'rds:DownloadDBLogFilePortion'],
          resources: [
            stack.formatArn({
              service: 'rds',
              resource: 'db',
              resourceName: spec.rds.identifier,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      );
    }

    // The schema is installed (or upgraded) on every deploy that changes a migration.
    this.schemaProvider = new Provider(this, 'SchemaProvider', {
      onEventHandler: this.migrator.fn,
      logGroup: new LogGroup(this, 'SchemaProviderLogs', {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });
    this.schema = new CustomResource(this, 'Schema', {
      serviceToken: this.schemaProvider.serviceToken,
      resourceType: 'Custom::DgmSchema',
      properties: {
        Target: spec.name,
        MigrationsHash: migrationsHash(),
        ConstitutionalHash: spec.runtime.constitutionalHash,
      },
    });
    for (const d of spec.dependsOn ?? []) this.schema.node.addDependency(d);
    // The database must accept the Lambdas before the schema install connects.
    this.schema.node.addDependency(this.securityGroup, spec.databaseSecurityGroup);

    // One role for this target's schedules, so its grants can be reviewed (and acknowledged) here.
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: `EventBridge Scheduler invokes the dgm-db-ops Lambdas of ${spec.name}`,
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    });
    const expressions = { ...DEFAULT_SCHEDULES, ...stripUndefined(deployment.schedules) };
    for (const task of SCHEDULED_TASKS) {
      const expression = expressions[task];
      if (expression === null) continue;
      const fn = TASK_FUNCTION[task] === 'sampler' ? this.sampler.fn : this.maintainer.fn;
      const schedule = new scheduler.Schedule(this, `Schedule-${task}`, {
        scheduleGroup: props.scheduleGroup,
        description: `dgm-db-ops ${task} of ${spec.name}`,
        schedule: scheduler.ScheduleExpression.expression(expression, TimeZone.of(deployment.timeZone)),
        target: new LambdaInvoke(fn, {
          role: this.schedulerRole,
          input: scheduler.ScheduleTargetInput.fromObject({ task, target: spec.name, reason: 'schedule' }),
          // Few retries and a short age: a sample is replaced by the next one, a maintenance run
          // by the next day's; an invocation that cannot be delivered lands in the failure queue.
          retryAttempts: task === 'sample' ? 0 : 2,
          maxEventAge: task === 'sample' ? Duration.minutes(1) : Duration.hours(1),
          deadLetterQueue: alerting.failureQueue,
        }),
      });
      // No job runs before its schema exists.
      schedule.node.addDependency(this.schema);
      this.schedules[task] = schedule;
    }

    this.alarms.push(...this.kpiAlarms(spec, expressions.sample !== null, alerting.alarmSink));
    this.dashboard = new TargetDashboard(this, 'Dashboard', {
      dashboardName: `${stack.stackName}-${spec.name}`,
      target: spec.name,
      runtime: spec.runtime,
      sampler: this.sampler.fn,
      maintainer: this.maintainer.fn,
      alarms: [...this.alarms, ...this.sampler.alarms, ...this.maintainer.alarms],
      rds: spec.rds,
    });

    this.acknowledgeFindings();
  }

  /** The missed-sample alarm and alarms on the critical KPIs, all to the alert topic. */
  private kpiAlarms(spec: TargetSpec, sampled: boolean, sink: AlarmSink): Alarm[] {
    const mon = spec.runtime.monitoring;
    const alarms: Alarm[] = [];
    const add = (alarm: Alarm) => alarms.push(notify(alarm, sink));
    if (sampled) {
      add(
        new Alarm(this, 'MissedSample', {
          alarmDescription: `No successful sample of ${spec.name} for 5 minutes: the sampler is not running, failing, or cannot reach the database`,
          metric: dgmMetric(spec.name, DGM_METRICS.up, 'Maximum'),
          threshold: 1,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 5,
          // No datum at all is the loudest failure: it must count.
          treatMissingData: TreatMissingData.BREACHING,
        }),
      );
    }
    add(
      new Alarm(this, 'ConnectionUtilizationHigh', {
        alarmDescription: `Connections of ${spec.name} above ${mon.connectionUtilizationThreshold * 100}% of max_connections for 5 minutes`,
        // The sampler reports it in Percent.
        metric: dgmMetric(spec.name, DGM_METRICS.connectionUtilization, 'Maximum'),
        threshold: mon.connectionUtilizationThreshold * 100,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    add(
      new Alarm(this, 'CacheHitRatioLow', {
        alarmDescription: `Cache hit ratio of ${spec.name} below ${mon.cacheHitRatioThreshold * 100}% for 15 minutes`,
        metric: dgmMetric(spec.name, DGM_METRICS.cacheHitRatio, 'Average', Duration.minutes(5)),
        threshold: mon.cacheHitRatioThreshold * 100,
        comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    add(
      new Alarm(this, 'Deadlocks', {
        alarmDescription: `Deadlocks in ${spec.name} in the last 5 minutes`,
        metric: dgmMetric(spec.name, DGM_METRICS.deadlocks, 'Sum', Duration.minutes(5)),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    add(
      new Alarm(this, 'PartitionsRunningOut', {
        alarmDescription: `A managed partition set of ${spec.name} has partitions for less than ${PARTITIONS_AHEAD_ALARM_DAYS} more days: daily maintenance is not keeping up, and new rows will land in the default partition`,
        metric: dgmMetric(spec.name, DGM_METRICS.partitionsAheadDays, 'Minimum', Duration.minutes(15)),
        threshold: PARTITIONS_AHEAD_ALARM_DAYS,
        comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    return alarms;
  }

  /** cdk-nag findings that are the intended design, each with its reason. */
  private acknowledgeFindings(): void {
    const stack = Stack.of(this);
    const logicalId = (c: Construct) => stack.getLogicalId(c.node.defaultChild as CfnElement);
    const ack = (scope: Construct, id: string, reason: string) =>
      Validations.of(scope).acknowledge({ id, reason });
    for (const f of [this.sampler]) {
      ack(
        f.fn.role!,
        'AwsSolutions-IAM5[Resource::*]',
        'cloudwatch:PutMetricData has no resource-level scope; the statement is limited by the cloudwatch:namespace condition to DGM/Database.',
      );
    }
    ack(
      this.schedulerRole,
      `AwsSolutions-IAM5[Resource::<${logicalId(this.sampler.fn)}.Arn>:*]`,
      "The scheduler target's grantInvoke also covers versions and aliases of the sampler; the schedules invoke the unqualified function.",
    );
    ack(
      this.schedulerRole,
      `AwsSolutions-IAM5[Resource::<${logicalId(this.maintainer.fn)}.Arn>:*]`,
      "The scheduler target's grantInvoke also covers versions and aliases of the maintainer; the schedules invoke the unqualified function.",
    );
    ack(
      this.schemaProvider,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'The CDK custom-resource framework function: AWS-managed logging policy only.',
    );
    ack(
      this.schemaProvider,
      `AwsSolutions-IAM5[Resource::<${logicalId(this.migrator.fn)}.Arn>:*]`,
      'The CDK custom-resource framework may invoke the migrator (and its versions); it invokes nothing else.',
    );
  }
}

function stripUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
