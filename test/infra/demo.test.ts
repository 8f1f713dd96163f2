import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULED_TASKS } from '../../functions/deployment.ts';
import {
  DEMO,
  type Json,
  resourcesOf,
  type Synthesized,
  synthesize,
  unusedAcknowledgements,
} from './support.ts';

// Bundling skipped: this file looks at resources only (single-target.test.ts builds the bundles).
let s: Synthesized;
let nat: Synthesized;
beforeAll(() => {
  s = synthesize(DEMO, { bundle: false });
  nat = synthesize(
    { ...DEMO, network: { egress: 'nat' }, demo: { multiAz: true, deletionProtection: true } },
    { bundle: false },
  );
}, 300_000);

const only = (syn: Synthesized, type: string): Json => {
  const found = resourcesOf(syn, type);
  expect(found).toHaveLength(1);
  return found[0]![1];
};

describe('demo: true', () => {
  it('creates a VPC with isolated subnets, flow logs and the API endpoints, no NAT', () => {
    only(s, 'AWS::EC2::VPC');
    expect(resourcesOf(s, 'AWS::EC2::NatGateway')).toHaveLength(0);
    expect(resourcesOf(s, 'AWS::EC2::InternetGateway')).toHaveLength(0);
    expect(resourcesOf(s, 'AWS::EC2::Subnet')).toHaveLength(2);
    expect(only(s, 'AWS::EC2::FlowLog').Properties.LogDestinationType).toBe('cloud-watch-logs');
    const services = resourcesOf(s, 'AWS::EC2::VPCEndpoint').map(([, e]) =>
      JSON.stringify(e.Properties.ServiceName),
    );
    for (const service of ['secretsmanager', 'sns', 'monitoring', 'lambda', 'dynamodb']) {
      expect(services.some((x) => x.includes(`.${service}`))).toBe(true);
    }
  });

  it('an encrypted RDS PostgreSQL with pg_stat_statements preloaded, TLS forced, backups, not public', () => {
    const db = only(s, 'AWS::RDS::DBInstance').Properties;
    expect(db).toMatchObject({
      Engine: 'postgres',
      EngineVersion: '17',
      DBInstanceClass: 'db.t4g.micro',
      StorageEncrypted: true,
      StorageType: 'gp3',
      AllocatedStorage: '20',
      Port: '5433',
      DBName: 'dgm',
      MultiAZ: false,
      PubliclyAccessible: false,
      BackupRetentionPeriod: 7,
      EnableCloudwatchLogsExports: ['postgresql'],
    });
    const params = only(s, 'AWS::RDS::DBParameterGroup').Properties;
    expect(params.Family).toBe('postgres17');
    expect(params.Parameters).toMatchObject({
      shared_preload_libraries: 'pg_stat_statements',
      'pg_stat_statements.track': 'all',
      'rds.force_ssl': '1',
    });
  });

  it('a generated secret rotated by Secrets Manager, reachable through the VPC endpoint', () => {
    only(s, 'AWS::SecretsManager::Secret');
    const rotation = only(s, 'AWS::SecretsManager::RotationSchedule').Properties;
    expect(rotation.RotationRules.ScheduleExpression).toBe('rate(30 days)');
    const app = only(s, 'AWS::Serverless::Application').Properties;
    expect(JSON.stringify(s.json)).toContain('SecretsManagerRDSPostgreSQLRotationSingleUser');
    expect(JSON.stringify(app.Parameters.endpoint)).toContain('SecretsManagerEndpoint');
    // The rotation function may reach that endpoint (endpoints admit only the groups let in).
    const rotationSg = resourcesOf(s, 'AWS::EC2::SecurityGroup').find(([id]) =>
      id.startsWith('DemoRotationSecurityGroup'),
    )![0];
    expect(JSON.stringify(app.Parameters.vpcSecurityGroupIds)).toContain(rotationSg);
    s.template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DemoAccessEndpointSecurityGroup'), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [rotationSg, 'GroupId'] },
      FromPort: 443,
      ToPort: 443,
    });
  });

  it('the demo target is operated like any other: its own placement, a registry entry, schedules, dashboards', () => {
    expect(
      resourcesOf(s, 'AWS::Lambda::Function').filter(([id]) => id.startsWith('Placementdemo')),
    ).toHaveLength(3);
    // Its registry entry is resolved at deploy time around the instance endpoint and secret.
    const [, seed] = resourcesOf(s, 'Custom::DgmTargetRegistry')[0]!;
    const targets = JSON.stringify(seed.Properties.Targets);
    expect(targets).toContain('Endpoint.Address');
    expect(targets).toContain('\\"port\\":5433');
    expect(targets).toContain('\\"placement\\":\\"demo\\"');
    expect(resourcesOf(s, 'AWS::Scheduler::Schedule')).toHaveLength(SCHEDULED_TASKS.length);
    expect(resourcesOf(s, 'AWS::CloudWatch::Dashboard')).toHaveLength(2);
    // The generated secret carries the tag the Lambdas' read permission requires.
    const [, secret] = resourcesOf(s, 'AWS::SecretsManager::Secret')[0]!;
    expect(secret.Properties.Tags).toContainEqual({ Key: 'dgm-db-ops', Value: 'DgmDbOps' });
  });

  it('installs the schema only once the database and its network exist', () => {
    const [, schema] = resourcesOf(s, 'Custom::DgmFleetSchema')[0]!;
    const dbId = resourcesOf(s, 'AWS::RDS::DBInstance')[0]![0];
    expect(schema.DependsOn).toContain(dbId);
    for (const [id] of resourcesOf(s, 'AWS::EC2::VPCEndpoint')) expect(schema.DependsOn).toContain(id);
    // The database accepts the demo Lambdas (and the rotation function) on its port only.
    const ingress = resourcesOf(s, 'AWS::EC2::SecurityGroupIngress')
      .map(([, r]) => r.Properties)
      .filter((p) => JSON.stringify(p.GroupId).includes('DemoDatabaseSecurityGroup'));
    const sources = ingress.map((p) => JSON.stringify(p.SourceSecurityGroupId)).sort();
    expect(sources).toHaveLength(2);
    expect(sources[0]).toContain('DemoRotationSecurityGroup');
    expect(sources[1]).toContain('PlacementdemoLambdaSecurityGroup');
    // The rotation rule uses the instance's port attribute, ours the configured port: both 5433.
    const endpointPort = { 'Fn::GetAtt': [dbId, 'Endpoint.Port'] };
    for (const p of ingress) {
      expect([5433, JSON.stringify(endpointPort)]).toContain(
        typeof p.FromPort === 'number' ? p.FromPort : JSON.stringify(p.FromPort),
      );
      expect(p.ToPort).toEqual(p.FromPort);
    }
    expect(only(s, 'AWS::RDS::DBInstance').Properties.Port).toBe('5433');
  });

  it('acknowledges only real findings', () => {
    expect(unusedAcknowledgements(s)).toEqual([]);
  });

  it('has no unacknowledged cdk-nag finding', () => {
    expect(s.nag.violations.map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`)).toEqual(
      [],
    );
  });
});

describe('demo with network.egress nat, multi-AZ and deletion protection', () => {
  it('one NAT gateway and private subnets with egress, no interface endpoints', () => {
    expect(resourcesOf(nat, 'AWS::EC2::NatGateway')).toHaveLength(1);
    expect(resourcesOf(nat, 'AWS::EC2::VPCEndpoint')).toHaveLength(0);
    expect(resourcesOf(nat, 'AWS::EC2::Subnet')).toHaveLength(4);
  });

  it('keeps a snapshot on delete and needs no demo acknowledgements', () => {
    const [, db] = resourcesOf(nat, 'AWS::RDS::DBInstance')[0]!;
    expect(db.Properties).toMatchObject({ MultiAZ: true, DeletionProtection: true });
    expect(db.DeletionPolicy).toBe('Snapshot');
    expect(nat.nag.violations.map((v) => `${v.ruleName} ${v.violatingResources[0]?.constructPath}`)).toEqual(
      [],
    );
    expect(unusedAcknowledgements(nat)).toEqual([]);
  });
});
