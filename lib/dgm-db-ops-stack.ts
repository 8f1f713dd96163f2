import { createHash } from 'node:crypto';
import { CfnOutput, Duration, NestedStack, RemovalPolicy, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import {
  type DeploymentConfig,
  type ExistingTarget,
  lambdaTimeoutsFor,
  resolveTargetRuntimeConfig,
} from '../functions/deployment.ts';
import type { RegisteredTarget } from '../functions/ports.ts';
import { Alerting } from './alerting.ts';
import { FleetDashboard, TargetDashboard } from './dashboard.ts';
import { DemoDatabase } from './demo-database.ts';
import { notify } from './dgm-function.ts';
import { Fleet } from './fleet.ts';
import { VpcAccess } from './network.ts';
import { Placement, type PlacementSpec } from './placement.ts';

export interface DgmDbOpsStackProps extends StackProps {
  /** The validated cdk.json context (functions/deployment.ts parseDeploymentConfig). */
  config: DeploymentConfig;
}

/** Ingress rules the main template holds before they move to nested stacks of this many. */
const INGRESS_RULES_IN_MAIN = 100;
const INGRESS_RULES_PER_NESTED_STACK = 400;

/** A placement's name: its VPC and a short hash of its subnets (stable when targets come and go). */
export function placementName(vpcId: string, subnetIds: readonly string[]): string {
  const hash = createHash('sha256')
    .update([...subnetIds].sort().join(','))
    .digest('hex')
    .slice(0, 6);
  return `${vpcId}-${hash}`;
}

interface PlacementGroup {
  name: string;
  targets: ExistingTarget[];
  first: ExistingTarget;
}

/**
 * The whole deployment, in a shape that does not grow with the fleet: alerting (topic, Slack, alert
 * state, failure queue), the target registry, per network placement one set of Lambdas, one fan-out
 * state machine per job family with one schedule per job kind, a fleet dashboard and one per-target
 * dashboard with a DBInstance variable. Only the database ingress rules (one per distinct database
 * security group and port, fleet.databaseIngress "stack") grow with the databases; past 100 they go to
 * nested stacks of 400. Synthesizes offline: every id comes from the config, nothing is looked up.
 */
export class DgmDbOpsStack extends Stack {
  readonly alerting: Alerting;
  readonly registry: dynamodb.Table;
  readonly placements = new Map<string, Placement>();
  readonly fleet: Fleet;
  readonly demo?: DemoDatabase;
  readonly scheduleGroup: scheduler.ScheduleGroup;
  readonly fleetDashboard: FleetDashboard;
  readonly targetDashboard: TargetDashboard;
  readonly ingressStacks: NestedStack[] = [];

  constructor(scope: Construct, id: string, props: DgmDbOpsStackProps) {
    super(scope, id, {
      description:
        'dgm-db-ops: scheduled sampling, alerting and maintenance of a fleet of PostgreSQL databases',
      ...props,
    });
    const cfg = props.config;
    const logRetention = cfg.lambda.logRetentionDays as RetentionDays;
    for (const [k, v] of Object.entries(cfg.tags)) Tags.of(this).add(k, v);
    const secretTag = { key: cfg.fleet.secretTag.key, value: cfg.fleet.secretTag.value ?? this.stackName };

    this.alerting = new Alerting(this, 'Alerting', { alerts: cfg.alerts, logRetention });
    this.scheduleGroup = new scheduler.ScheduleGroup(this, 'Schedules', {});
    notify(
      new Alarm(this, 'SchedulesDropped', {
        alarmDescription:
          'EventBridge Scheduler dropped a fan-out start (retries and event age exhausted, and it could not reach the failure queue)',
        metric: this.scheduleGroup.metricDropped({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      this.alerting.alarmSink,
    );

    // The fleet's databases: cdk.json seeds it on deploy, operators add more with put-item.
    this.registry = new dynamodb.Table(this, 'TargetRegistry', {
      partitionKey: { name: 'name', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      // Operators' entries live only here: deleting the stack keeps them.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Placements: targets grouped by VPC and subnets.
    const groups = new Map<string, PlacementGroup>();
    for (const t of cfg.targets) {
      const name = placementName(t.vpc.vpcId, t.vpc.subnetIds);
      const g = groups.get(name);
      if (g) g.targets.push(t);
      else groups.set(name, { name, targets: [t], first: t });
    }
    const vpcs = new Map<string, VpcAccess>();
    const baseTimeouts = lambdaTimeoutsFor(resolveTargetRuntimeConfig(cfg, {}, 'base'));
    const specs: PlacementSpec[] = [];
    const seedTargets: RegisteredTarget[] = [];
    for (const g of groups.values()) {
      const v = g.first.vpc;
      const subnets = v.subnetIds.map((subnetId, i) =>
        ec2.Subnet.fromSubnetAttributes(this, `Subnet-${g.name}-${i}`, {
          subnetId,
          availabilityZone: v.availabilityZones[i % v.availabilityZones.length],
          routeTableId: v.routeTableIds?.[i],
        }),
      );
      let access = vpcs.get(v.vpcId);
      if (!access) {
        const vpc = ec2.Vpc.fromVpcAttributes(this, `Vpc-${v.vpcId}`, {
          vpcId: v.vpcId,
          availabilityZones: v.availabilityZones,
          privateSubnetIds: v.subnetIds,
          privateSubnetRouteTableIds: v.routeTableIds,
        });
        access = new VpcAccess(this, `Network-${v.vpcId}`, {
          vpc,
          subnets: { subnets },
          createEndpoints: cfg.network.egress === 'endpoints',
        });
        vpcs.set(v.vpcId, access);
      }
      const timeouts = g.targets.map((t) =>
        lambdaTimeoutsFor(resolveTargetRuntimeConfig(cfg, t.config, t.name)),
      );
      specs.push({
        name: g.name,
        vpcAccess: access,
        subnets: { subnets },
        ports: g.targets.map((t) => t.port),
        samplerSeconds: Math.max(baseTimeouts.samplerSeconds, ...timeouts.map((x) => x.samplerSeconds)),
        maintainerSeconds: Math.max(
          baseTimeouts.maintainerSeconds,
          ...timeouts.map((x) => x.maintainerSeconds),
        ),
        migratorSeconds: Math.max(baseTimeouts.migratorSeconds, ...timeouts.map((x) => x.migratorSeconds)),
        secretKeyArns: [
          ...new Set(g.targets.flatMap((t) => (t.secretKmsKeyArn ? [t.secretKmsKeyArn] : []))),
        ].sort(),
      });
      for (const t of g.targets) {
        seedTargets.push({
          name: t.name,
          host: t.host,
          port: t.port,
          database: t.database,
          secretArn: t.secretArn,
          placement: g.name,
          config: t.config,
          // The optimizer reads literal statements from the instance's log (an Aurora cluster's logs are
          // per member instance: not read).
          ...(t.engine === 'rds-postgres' && t.identifier ? { rdsInstanceId: t.identifier } : {}),
        });
      }
    }

    const tokenTargets: RegisteredTarget[] = [];
    if (cfg.demo) {
      const d = cfg.demo;
      this.demo = new DemoDatabase(this, 'Demo', { settings: d, egress: cfg.network.egress, logRetention });
      const secret = this.demo.instance.secret!;
      // instance.secret is the attachment; the tag goes on the generated secret itself.
      for (const c of this.demo.node.findAll()) {
        if (c instanceof secretsmanager.CfnSecret) Tags.of(c).add(secretTag.key, secretTag.value);
      }
      const t = lambdaTimeoutsFor(resolveTargetRuntimeConfig(cfg, d.config, d.name));
      specs.push({
        name: 'demo',
        vpcAccess: this.demo.vpcAccess,
        subnets: this.demo.subnets,
        ports: [d.port],
        samplerSeconds: Math.max(baseTimeouts.samplerSeconds, t.samplerSeconds),
        maintainerSeconds: Math.max(baseTimeouts.maintainerSeconds, t.maintainerSeconds),
        migratorSeconds: Math.max(baseTimeouts.migratorSeconds, t.migratorSeconds),
        secretKeyArns: [],
      });
      tokenTargets.push({
        name: d.name,
        host: this.demo.instance.dbInstanceEndpointAddress,
        port: d.port,
        database: d.database,
        secretArn: secret.secretArn,
        placement: 'demo',
        config: d.config,
      });
    }

    for (const spec of specs) {
      const placement = new Placement(this, `Placement-${spec.name}`, {
        spec,
        deployment: cfg,
        alerting: this.alerting,
        logRetention,
        registryTableName: this.registry.tableName,
        registryTableArn: this.registry.tableArn,
        secretTag,
      });
      this.placements.set(spec.name, placement);
    }
    if (this.demo) {
      const demoPlacement = this.placements.get('demo')!;
      this.demo.securityGroup.addIngressRule(
        demoPlacement.securityGroup,
        ec2.Port.tcp(cfg.demo!.port),
        'dgm-db-ops Lambdas of the demo placement',
      );
    }
    if (cfg.fleet.databaseIngress === 'stack') this.databaseIngress(groups);

    const samplerSeconds = Math.max(...specs.map((s) => s.samplerSeconds));
    const maintainerSeconds = Math.max(...specs.map((s) => s.maintainerSeconds));
    this.fleet = new Fleet(this, 'Fleet', {
      deployment: cfg,
      alerting: this.alerting,
      logRetention,
      scheduleGroup: this.scheduleGroup,
      placements: [...this.placements.values()],
      placementNames: [...this.placements.keys()],
      registry: this.registry,
      seedTargets,
      tokenTargets,
      samplerTimeoutSeconds: samplerSeconds,
      maintainerTimeoutSeconds: maintainerSeconds,
      constitutionalHash: resolveTargetRuntimeConfig(cfg, {}, 'base').constitutionalHash,
    });
    if (this.demo) this.fleet.schema.node.addDependency(this.demo.instance, this.demo.vpcAccess);

    const base = resolveTargetRuntimeConfig(cfg, {}, 'base');
    const firstTarget = cfg.targets[0]?.name ?? cfg.demo?.name ?? 'demo';
    this.targetDashboard = new TargetDashboard(this, 'TargetDashboard', {
      dashboardName: `${this.stackName}-database`,
      defaultTarget: firstTarget,
      runtime: base,
    });
    this.fleetDashboard = new FleetDashboard(this, 'FleetDashboard', {
      dashboardName: `${this.stackName}-fleet`,
      worst: 10,
      runtime: base,
      sampling: this.fleet.sampling.stateMachine,
      maintenance: this.fleet.maintenance.stateMachine,
      alarms: this.fleet.alarms,
      targetDashboardName: `${this.stackName}-database`,
    });

    const console = (name: string) =>
      `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${name}`;
    new CfnOutput(this, 'FleetDashboardUrl', { value: console(this.fleetDashboard.dashboard.dashboardName) });
    new CfnOutput(this, 'DatabaseDashboardUrl', {
      description: 'One database in detail: pick it with the DBInstance variable',
      value: console(this.targetDashboard.dashboard.dashboardName),
    });
    new CfnOutput(this, 'TargetRegistryTable', {
      description:
        'Add a database: aws dynamodb put-item (docs/deploy.md, "Adding a database without a deploy")',
      value: this.registry.tableName,
    });
    new CfnOutput(this, 'Placements', {
      description:
        'Placement names for registry entries, with the Lambda security group each database must allow',
      value: this.toJsonString(
        Object.fromEntries(
          [...this.placements.entries()].map(([name, p]) => [
            name,
            { lambdaSecurityGroup: p.securityGroup.securityGroupId },
          ]),
        ),
      ),
    });
    new CfnOutput(this, 'SecretTag', {
      description: 'A database secret is readable by the Lambdas only with this tag',
      value: `${secretTag.key}=${secretTag.value}`,
    });
    new CfnOutput(this, 'SamplingStateMachine', { value: this.fleet.sampling.stateMachine.stateMachineArn });
    new CfnOutput(this, 'MaintenanceStateMachine', {
      value: this.fleet.maintenance.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'AlertTopicArn', { value: this.alerting.topic.topicArn });
    new CfnOutput(this, 'AlertStateTable', { value: this.alerting.stateTable.tableName });
    new CfnOutput(this, 'FailedInvocationsQueue', { value: this.alerting.failureQueue.queueUrl });
    if (this.demo?.instance.secret) {
      new CfnOutput(this, 'DemoSecretArn', { value: this.demo.instance.secret.secretArn });
      new CfnOutput(this, 'DemoEndpoint', { value: this.demo.instance.dbInstanceEndpointAddress });
    }
  }

  /**
   * Each database security group accepts its placement's Lambdas on its port: one rule per distinct
   * group, port and placement. Up to 100 rules stay in this template, more go to nested stacks of 400,
   * so no template nears CloudFormation's 500 resources.
   */
  private databaseIngress(groups: Map<string, PlacementGroup>): void {
    const rules = new Map<
      string,
      { groupId: string; port: number; placement: Placement; placementName: string }
    >();
    for (const g of groups.values()) {
      for (const t of g.targets) {
        const key = `${t.securityGroupId}:${t.port}:${g.name}`;
        if (!rules.has(key))
          rules.set(key, {
            groupId: t.securityGroupId,
            port: t.port,
            placement: this.placements.get(g.name)!,
            placementName: g.name,
          });
      }
    }
    const list = [...rules.values()];
    const nested = list.length > INGRESS_RULES_IN_MAIN;
    list.forEach((r, i) => {
      let scope: Construct = this;
      if (nested) {
        const batch = Math.floor(i / INGRESS_RULES_PER_NESTED_STACK);
        if (!this.ingressStacks[batch]) {
          this.ingressStacks[batch] = new NestedStack(this, `DatabaseIngress${batch}`, {
            description: `dgm-db-ops: database ingress rules ${batch * INGRESS_RULES_PER_NESTED_STACK + 1}-${(batch + 1) * INGRESS_RULES_PER_NESTED_STACK}`,
          });
        }
        scope = this.ingressStacks[batch]!;
      }
      new ec2.CfnSecurityGroupIngress(scope, `Ingress-${r.groupId}-${r.port}-${r.placementName}`, {
        groupId: r.groupId,
        ipProtocol: 'tcp',
        fromPort: r.port,
        toPort: r.port,
        sourceSecurityGroupId: r.placement.securityGroup.securityGroupId,
        description: `dgm-db-ops Lambdas of placement ${r.placementName}`,
      });
    });
  }
}
