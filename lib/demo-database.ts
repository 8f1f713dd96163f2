import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import type { DemoTarget } from '../functions/deployment.ts';
import { VpcAccess } from './network.ts';

const ENGINE_VERSIONS: Record<DemoTarget['engineVersion'], rds.PostgresEngineVersion> = {
  '16': rds.PostgresEngineVersion.VER_16,
  '17': rds.PostgresEngineVersion.VER_17,
  '18': rds.PostgresEngineVersion.VER_18,
};

export interface DemoDatabaseProps {
  settings: DemoTarget;
  /** endpoints: isolated subnets and VPC endpoints; nat: private subnets behind one NAT gateway. */
  egress: 'endpoints' | 'nat';
  logRetention: RetentionDays;
}

/**
 * demo mode: a VPC with flow logs and an encrypted RDS PostgreSQL whose parameter group preloads
 * pg_stat_statements (the optimizer's workload source; HypoPG is an RDS extension that needs no
 * preload), TLS enforced, and a generated admin secret rotated by Secrets Manager.
 */
export class DemoDatabase extends Construct {
  readonly vpc: ec2.Vpc;
  readonly vpcAccess: VpcAccess;
  readonly instance: rds.DatabaseInstance;
  readonly securityGroup: ec2.SecurityGroup;
  readonly subnets: ec2.SubnetSelection;

  constructor(scope: Construct, id: string, props: DemoDatabaseProps) {
    super(scope, id);
    const s = props.settings;
    const nat = props.egress === 'nat';
    this.subnets = { subnetType: nat ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED };
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.42.0.0/16'),
      maxAzs: 2,
      natGateways: nat ? 1 : 0,
      subnetConfiguration: nat
        ? [
            { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
            { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
          ]
        : [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      // The default security group is unused (every resource here has its own); stripping its rules
      // would add a custom-resource Lambda to the stack for nothing.
      restrictDefaultSecurityGroup: false,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new LogGroup(this, 'FlowLogs', {
          retention: props.logRetention,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      ),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
    this.vpcAccess = new VpcAccess(this, 'Access', {
      vpc: this.vpc,
      subnets: this.subnets,
      createEndpoints: !nat,
    });

    this.securityGroup = new ec2.SecurityGroup(this, 'DatabaseSecurityGroup', {
      vpc: this.vpc,
      description: `dgm-db-ops demo PostgreSQL ${s.name}: reachable from the stack Lambdas only`,
      allowAllOutbound: false,
    });
    const engine = rds.DatabaseInstanceEngine.postgres({ version: ENGINE_VERSIONS[s.engineVersion] });
    const parameterGroup = new rds.ParameterGroup(this, 'Parameters', {
      engine,
      description: 'dgm-db-ops demo: pg_stat_statements preloaded, TLS only',
      parameters: {
        shared_preload_libraries: 'pg_stat_statements',
        'pg_stat_statements.track': 'all',
        'pg_stat_statements.max': '10000',
        track_io_timing: '1',
        'rds.force_ssl': '1',
      },
    });
    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      engine,
      instanceType: new ec2.InstanceType(s.instanceType),
      vpc: this.vpc,
      vpcSubnets: this.subnets,
      securityGroups: [this.securityGroup],
      port: s.port,
      databaseName: s.database,
      credentials: rds.Credentials.fromGeneratedSecret('dgm_admin'),
      parameterGroup,
      allocatedStorage: s.allocatedStorageGb,
      storageType: rds.StorageType.GP3,
      storageEncrypted: true,
      multiAz: s.multiAz,
      deletionProtection: s.deletionProtection,
      backupRetention: Duration.days(s.backupRetentionDays),
      autoMinorVersionUpgrade: true,
      cloudwatchLogsExports: ['postgresql'],
      publiclyAccessible: false,
      removalPolicy: s.deletionProtection ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
    });
    // The rotation function (a Secrets Manager application) runs next to the database; without a NAT
    // it reaches Secrets Manager through the endpoint, which admits only the groups allowed in.
    const rotationSecurityGroup = new ec2.SecurityGroup(this, 'RotationSecurityGroup', {
      vpc: this.vpc,
      description: `dgm-db-ops demo ${s.name}: the secret rotation function`,
    });
    this.vpcAccess.allowFrom(rotationSecurityGroup);
    this.instance.addRotationSingleUser({
      automaticallyAfter: Duration.days(s.secretRotationDays),
      vpcSubnets: this.subnets,
      securityGroup: rotationSecurityGroup,
      endpoint: this.vpcAccess.secretsManagerEndpoint,
    });

    if (!s.multiAz) {
      Validations.of(this.instance).acknowledge({
        id: 'AwsSolutions-RDS3',
        reason: 'demo mode: a single-AZ instance keeps the demo cheap; set demo.multiAz for more.',
      });
    }
    if (!s.deletionProtection) {
      Validations.of(this.instance).acknowledge({
        id: 'AwsSolutions-RDS10',
        reason: 'demo mode: `cdk destroy` removes the demo database; set demo.deletionProtection to keep it.',
      });
    }
  }
}
