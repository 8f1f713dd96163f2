import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type DeploymentConfig, SCHEDULED_TASKS } from '../functions/deployment.ts';
import type { Alerting } from './alerting.ts';
import { DgmFunction } from './dgm-function.ts';
import { METRIC_NAMESPACE } from './metrics.ts';
import type { VpcAccess } from './network.ts';

/**
 * A network placement: one VPC and one set of subnets. Every database reached from there is run by the
 * same three Lambdas (sampler, maintainer, migrator), one invocation per target: the function count
 * grows with the placements, not with the databases.
 */
export interface PlacementSpec {
  /** Stable name: the registry's `placement` attribute, part of construct ids. */
  name: string;
  vpcAccess: VpcAccess;
  subnets: ec2.SubnetSelection;
  /** Database ports the functions connect to (egress rules of their security group). */
  ports: number[];
  /** Lambda timeouts: the largest any target of this placement needs. */
  samplerSeconds: number;
  maintainerSeconds: number;
  migratorSeconds: number;
  /** Customer-managed keys of the targets' secrets (decrypt through Secrets Manager only). */
  secretKeyArns: string[];
}

export interface PlacementProps {
  spec: PlacementSpec;
  deployment: DeploymentConfig;
  alerting: Alerting;
  logRetention: RetentionDays;
  /** The target registry the functions read their target from (GetItem). */
  registryTableName: string;
  registryTableArn: string;
  /** The tag a database secret must carry to be readable (aws:ResourceTag). */
  secretTag: { key: string; value: string };
}

/** More distinct secret keys than this: one key-pattern statement instead of a list. */
const MAX_LISTED_KEYS = 10;

export class Placement extends Construct {
  readonly sampler: DgmFunction;
  readonly maintainer: DgmFunction;
  readonly migrator: DgmFunction;
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: PlacementProps) {
    super(scope, id);
    const { spec, deployment, alerting } = props;
    const stack = Stack.of(this);
    const access = spec.vpcAccess;

    this.securityGroup = new ec2.SecurityGroup(this, 'LambdaSecurityGroup', {
      vpc: access.vpc,
      description: `dgm-db-ops Lambdas of placement ${spec.name}: database ports and HTTPS out, nothing in`,
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'HTTPS to AWS APIs (endpoints or NAT)',
    );
    // To any address on the database ports: one rule per port, not per database (a security group holds
    // 60 rules); which databases accept the Lambdas is decided on the databases' side.
    for (const port of [...new Set(spec.ports)].sort((a, b) => a - b)) {
      this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(port), `PostgreSQL on ${port}`);
    }
    access.allowFrom(this.securityGroup);

    const common = {
      DGM_TARGET_TABLE: props.registryTableName,
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
      label: `maintainer of placement ${spec.name}`,
      description: `dgm-db-ops maintainer (placement ${spec.name}): ${SCHEDULED_TASKS.filter((t) => t !== 'sample').join(', ')}`,
      memorySize: deployment.lambda.maintainerMemoryMb,
      timeout: Duration.seconds(spec.maintainerSeconds),
      environment: common,
      // Invoked synchronously by the fan-out (which retries throttles) or asynchronously by the
      // sampler's governance check: a retry is a new run, not a replay.
      retryAttempts: 0,
      maxEventAge: Duration.hours(1),
      reservedConcurrentExecutions:
        deployment.lambda.maintainerReservedConcurrency > 0
          ? Math.max(deployment.lambda.maintainerReservedConcurrency, deployment.fleet.maintenanceConcurrency)
          : undefined,
    });
    this.sampler = new DgmFunction(this, 'Sampler', {
      ...inVpc,
      handler: 'sampler',
      label: `sampler of placement ${spec.name}`,
      description: `dgm-db-ops sampler (placement ${spec.name}): KPIs to CloudWatch, alerts to SNS`,
      memorySize: deployment.lambda.samplerMemoryMb,
      timeout: Duration.seconds(spec.samplerSeconds),
      environment: {
        ...common,
        DGM_ALERT_TOPIC_ARN: alerting.topic.topicArn,
        DGM_ALERT_TABLE: alerting.stateTable.tableName,
        DGM_MAINTAINER_FUNCTION: this.maintainer.fn.functionName,
      },
      retryAttempts: 0,
      maxEventAge: Duration.minutes(2),
    });
    this.migrator = new DgmFunction(this, 'Migrator', {
      ...inVpc,
      handler: 'migrator',
      label: `migrator of placement ${spec.name}`,
      description: `dgm-db-ops migrator (placement ${spec.name}): installs or upgrades the DGM schema`,
      memorySize: 512,
      timeout: Duration.seconds(spec.migratorSeconds),
      environment: common,
      retryAttempts: 0,
      maxEventAge: Duration.hours(1),
    });

    const functions = [this.sampler, this.maintainer, this.migrator];
    for (const f of functions) {
      // One statement for any number of databases: a secret is readable when it carries the
      // deployment's tag, never by listing each secret's ARN.
      f.fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadTaggedDatabaseSecrets',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [
            stack.formatArn({
              service: 'secretsmanager',
              resource: 'secret',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
          conditions: { StringEquals: { [`aws:ResourceTag/${props.secretTag.key}`]: props.secretTag.value } },
        }),
      );
      // Its own target's registry entry only by name: the table holds no secret.
      f.fn.addToRolePolicy(
        new iam.PolicyStatement({
          sid: 'ReadTheTargetRegistry',
          actions: ['dynamodb:GetItem'],
          resources: [props.registryTableArn],
        }),
      );
      if (spec.secretKeyArns.length > 0) {
        const keys =
          spec.secretKeyArns.length <= MAX_LISTED_KEYS
            ? spec.secretKeyArns
            : [stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' })];
        f.fn.addToRolePolicy(
          new iam.PolicyStatement({
            sid: 'DecryptDatabaseSecrets',
            actions: ['kms:Decrypt'],
            resources: keys,
            // Only when Secrets Manager decrypts a secret for the function, never directly.
            conditions: {
              StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com` },
            },
          }),
        );
      }
    }
    this.sampler.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PutDgmMetrics',
        actions: ['cloudwatch:PutMetricData'],
        // PutMetricData has no resource-level scope; the namespace condition is its least privilege.
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
      }),
    );
    // Only the sampler alerts. Not topic.grantPublish: it grants kms:GenerateDataKey*.
    this.sampler.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PublishAlerts',
        actions: ['sns:Publish'],
        resources: [alerting.topic.topicArn],
      }),
    );
    alerting.key.grant(this.sampler.fn, 'kms:Decrypt', 'kms:GenerateDataKey');
    alerting.stateTable.grant(this.sampler.fn, 'dynamodb:GetItem', 'dynamodb:PutItem');
    // The governance check starts an optimize run: an async invoke of this placement's maintainer.
    this.sampler.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StartMaintenanceRuns',
        actions: ['lambda:InvokeFunction'],
        resources: [this.maintainer.fn.functionArn],
      }),
    );

    // The optimizer (in the maintainer) reads literal statements from the server log of the RDS instances
    // that carry the same tag as their secrets: one statement for a fleet of any size.
    this.maintainer.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadTaggedInstanceLogs',
        actions: ['rds:DescribeDBLogFiles', 'rds:DownloadDBLogFilePortion'],
        resources: [
          stack.formatArn({
            service: 'rds',
            resource: 'db',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
        conditions: { StringEquals: { [`rds:db-tag/${props.secretTag.key}`]: props.secretTag.value } },
      }),
    );

    const ack = (c: Construct, rule: string, reason: string) =>
      Validations.of(c).acknowledge({ id: rule, reason });
    ack(
      this.maintainer.fn.role!,
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:rds:<AWS::Region>:<AWS::AccountId>:db:*]',
      `Server logs are read from the RDS instances tagged like their secrets (rds:db-tag/${props.secretTag.key}), one statement for a fleet of any size instead of one ARN per database.`,
    );
    for (const f of functions) {
      ack(
        f.fn.role!,
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:*]',
        `Database secrets are read by tag (aws:ResourceTag/${props.secretTag.key}), one statement for a fleet of any size instead of one ARN per database.`,
      );
      if (spec.secretKeyArns.length > MAX_LISTED_KEYS) {
        ack(
          f.fn.role!,
          'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]',
          'More secret keys than a policy lists: kms:Decrypt only through Secrets Manager (kms:ViaService), which itself checks the secret tag.',
        );
      }
    }
    ack(
      this.sampler.fn.role!,
      'AwsSolutions-IAM5[Resource::*]',
      'cloudwatch:PutMetricData has no resource-level scope; the statement is limited by the cloudwatch:namespace condition to DGM/Database.',
    );
  }
}
