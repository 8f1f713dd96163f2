import { CfnOutput, Duration, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import {
  type DeploymentConfig,
  type ExistingTarget,
  resolveTargetRuntimeConfig,
} from '../functions/config.ts';
import { Alerting } from './alerting.ts';
import { DemoDatabase } from './demo-database.ts';
import { notify } from './dgm-function.ts';
import { VpcAccess } from './network.ts';
import { TargetOperations, type TargetSpec } from './target-operations.ts';

export interface DgmDbOpsStackProps extends StackProps {
  /** The validated cdk.json context (functions/config.ts parseDeploymentConfig). */
  config: DeploymentConfig;
}

/**
 * The whole deployment: alerting (topic, Slack, alert state, failure queue), one schedule group, the
 * network each VPC needs, a demo database when asked for, and per target its Lambdas, schema,
 * schedules, alarms and dashboard. Synthesizes offline: every id comes from the config, nothing is
 * looked up.
 */
export class DgmDbOpsStack extends Stack {
  readonly alerting: Alerting;
  readonly targets = new Map<string, TargetOperations>();
  readonly demo?: DemoDatabase;
  readonly scheduleGroup: scheduler.ScheduleGroup;

  constructor(scope: Construct, id: string, props: DgmDbOpsStackProps) {
    super(scope, id, {
      description: 'dgm-db-ops: scheduled sampling, alerting and maintenance of PostgreSQL databases',
      ...props,
    });
    const cfg = props.config;
    const logRetention = cfg.lambda.logRetentionDays as RetentionDays;
    for (const [k, v] of Object.entries(cfg.tags)) Tags.of(this).add(k, v);

    this.alerting = new Alerting(this, 'Alerting', { alerts: cfg.alerts, logRetention });
    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'Schedules', {});
    notify(
      new Alarm(this, 'SchedulesDropped', {
        alarmDescription:
          'EventBridge Scheduler dropped a job invocation (retries and event age exhausted, and it could not reach the failure queue)',
        metric: this.scheduleGroup.metricDropped({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      this.alerting.alarmSink,
    );

    const specs: TargetSpec[] = [];
    const vpcs = new Map<string, VpcAccess>();
    for (const t of cfg.targets) specs.push(this.existingTarget(t, cfg, vpcs));
    if (cfg.demo) {
      const d = cfg.demo;
      this.demo = new DemoDatabase(this, 'Demo', { settings: d, egress: cfg.network.egress, logRetention });
      specs.push({
        name: d.name,
        host: this.demo.instance.dbInstanceEndpointAddress,
        port: d.port,
        database: d.database,
        secret: this.demo.instance.secret!,
        databaseSecurityGroup: this.demo.securityGroup,
        vpcAccess: this.demo.vpcAccess,
        subnets: this.demo.subnets,
        rds: { dimension: 'DBInstanceIdentifier', identifier: this.demo.instance.instanceIdentifier },
        overrides: d.config,
        runtime: resolveTargetRuntimeConfig(cfg, d.config, d.name),
        dependsOn: [this.demo.instance, this.demo.vpcAccess],
      });
    }

    for (const spec of specs) {
      const ops = new TargetOperations(this, `Target-${spec.name}`, {
        spec,
        deployment: cfg,
        alerting: this.alerting,
        scheduleGroup: this.scheduleGroup,
        logRetention,
      });
      this.targets.set(spec.name, ops);
      new CfnOutput(this, `Dashboard-${spec.name}`, {
        description: `CloudWatch dashboard of ${spec.name}`,
        value: `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${ops.dashboard.dashboard.dashboardName}`,
      });
      new CfnOutput(this, `Sampler-${spec.name}`, { value: ops.sampler.fn.functionName });
      new CfnOutput(this, `Maintainer-${spec.name}`, { value: ops.maintainer.fn.functionName });
      new CfnOutput(this, `Migrator-${spec.name}`, { value: ops.migrator.fn.functionName });
    }
    new CfnOutput(this, 'AlertTopicArn', { value: this.alerting.topic.topicArn });
    new CfnOutput(this, 'AlertStateTable', { value: this.alerting.stateTable.tableName });
    new CfnOutput(this, 'FailedInvocationsQueue', { value: this.alerting.failureQueue.queueUrl });
    if (this.demo?.instance.secret) {
      new CfnOutput(this, 'DemoSecretArn', { value: this.demo.instance.secret.secretArn });
      new CfnOutput(this, 'DemoEndpoint', { value: this.demo.instance.dbInstanceEndpointAddress });
    }
  }

  /** An existing database: its VPC (shared by targets in the same VPC), subnets, secret and group. */
  private existingTarget(t: ExistingTarget, cfg: DeploymentConfig, vpcs: Map<string, VpcAccess>): TargetSpec {
    const subnets = t.vpc.subnetIds.map((subnetId, i) =>
      ec2.Subnet.fromSubnetAttributes(this, `Subnet-${t.name}-${i}`, {
        subnetId,
        availabilityZone: t.vpc.availabilityZones[i % t.vpc.availabilityZones.length],
        routeTableId: t.vpc.routeTableIds?.[i],
      }),
    );
    let access = vpcs.get(t.vpc.vpcId);
    if (!access) {
      const vpc = ec2.Vpc.fromVpcAttributes(this, `Vpc-${t.vpc.vpcId}`, {
        vpcId: t.vpc.vpcId,
        availabilityZones: t.vpc.availabilityZones,
        privateSubnetIds: t.vpc.subnetIds,
        privateSubnetRouteTableIds: t.vpc.routeTableIds,
      });
      access = new VpcAccess(this, `Network-${t.vpc.vpcId}`, {
        vpc,
        subnets: { subnets },
        createEndpoints: cfg.network.egress === 'endpoints',
      });
      vpcs.set(t.vpc.vpcId, access);
    }
    return {
      name: t.name,
      host: t.host,
      port: t.port,
      database: t.database,
      secret: secretsmanager.Secret.fromSecretCompleteArn(this, `Secret-${t.name}`, t.secretArn),
      secretKeyArn: t.secretKmsKeyArn,
      databaseSecurityGroup: ec2.SecurityGroup.fromSecurityGroupId(
        this,
        `DatabaseSg-${t.name}`,
        t.securityGroupId,
      ),
      vpcAccess: access,
      subnets: { subnets },
      rds: t.identifier
        ? {
            dimension: t.engine === 'aurora-postgresql' ? 'DBClusterIdentifier' : 'DBInstanceIdentifier',
            identifier: t.identifier,
          }
        : undefined,
      overrides: t.config,
      runtime: resolveTargetRuntimeConfig(cfg, t.config, t.name),
    };
  }
}
