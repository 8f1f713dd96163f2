import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_SCHEDULES,
  lambdaTimeoutsFor,
  parseConfig,
  SCHEDULED_TASKS,
} from '../../functions/config.ts';
import { MAINTAINER_TASKS, parseJobEvent } from '../../functions/handlers/events.ts';
import { configForTarget, loadTargets } from '../../functions/handlers/runtime.ts';
import { ALERT_METRIC_SPECS } from '../../functions/monitor/alert-metrics.ts';
import { METRIC_SPECS, type MetricSpec } from '../../functions/monitor/metrics.ts';
import { DGM_METRICS, SEARCH_DIMENSIONS } from '../../lib/metrics.ts';
import { migrationsHash } from '../../lib/target-operations.ts';
import {
  acknowledgements,
  type Json,
  KEY_ARN,
  ONE_TARGET,
  resourcesOf,
  SECRET_ARN,
  type Synthesized,
  synthesize,
  unusedAcknowledgements,
} from './support.ts';

// One synthesis, bundled for real with the local esbuild, shared by every assertion in this file.
let s: Synthesized;
beforeAll(() => {
  s = synthesize(ONE_TARGET);
}, 300_000);

const fnId = (s: Synthesized, part: string) => {
  const found = resourcesOf(s, 'AWS::Lambda::Function').filter(([id]) => id.includes(part));
  expect(found).toHaveLength(1);
  return found[0]!;
};
const topicRef = () => ({ Ref: resourcesOf(s, 'AWS::SNS::Topic')[0]![0] });

describe('Lambdas', () => {
  it('run Node.js 22 (pinned) on ARM64, in the private subnets behind their own security group', () => {
    for (const name of ['Sampler', 'Maintainer', 'Migrator']) {
      const [, fn] = fnId(s, `Targetprod${name}Function`);
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.Handler).toBe('index.handler');
      expect(fn.Properties.VpcConfig.SubnetIds).toEqual(ONE_TARGET.targets[0]!.vpc.subnetIds);
      expect(fn.Properties.VpcConfig.SecurityGroupIds).toEqual([
        { 'Fn::GetAtt': [expect.stringMatching(/^TargetprodLambdaSecurityGroup/), 'GroupId'] },
      ]);
      expect(fn.Properties.Environment.Variables).toMatchObject({
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
        NODE_OPTIONS: '--enable-source-maps',
      });
    }
    const [, forwarder] = fnId(s, 'SlackForwarder');
    expect(forwarder.Properties.Runtime).toBe('nodejs22.x');
    expect(forwarder.Properties.VpcConfig).toBeUndefined();
  });

  it('have timeouts derived from the statement timeouts the code uses, and reserved concurrency for the maintainer', () => {
    const t = lambdaTimeoutsFor(parseConfig({}));
    expect(fnId(s, 'TargetprodSamplerFunction')[1].Properties.Timeout).toBe(t.samplerSeconds);
    expect(t.samplerSeconds).toBeLessThan(60);
    const maintainer = fnId(s, 'TargetprodMaintainerFunction')[1].Properties;
    expect(maintainer.Timeout).toBe(900);
    expect(maintainer.Timeout * 1000).toBeGreaterThan(parseConfig({}).maintenance.statementTimeoutMs);
    expect(maintainer.ReservedConcurrentExecutions).toBe(2);
    expect(fnId(s, 'TargetprodSamplerFunction')[1].Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('write the environment the handlers parse: DGM_TARGETS with this target only, DGM_CONFIG, topic, table, maintainer', () => {
    const env = fnId(s, 'TargetprodSamplerFunction')[1].Properties.Environment.Variables;
    const targets = loadTargets({ DGM_TARGETS: env.DGM_TARGETS });
    expect(targets).toEqual([
      {
        name: 'prod',
        host: 'prod.abcdefghij.eu-west-1.rds.amazonaws.com',
        port: 5432,
        database: 'dgm',
        secretArn: SECRET_ARN.prod,
        config: {},
        rdsInstanceId: 'prod',
      },
    ]);
    expect(configForTarget(targets[0]!, { DGM_CONFIG: env.DGM_CONFIG }).target).toBe('prod');
    expect(env.DGM_ALERT_TOPIC_ARN).toEqual(topicRef());
    expect(env.DGM_ALERT_TABLE).toEqual({ Ref: resourcesOf(s, 'AWS::DynamoDB::Table')[0]![0] });
    expect(env.DGM_MAINTAINER_FUNCTION).toEqual({ Ref: fnId(s, 'TargetprodMaintainerFunction')[0] });
  });

  it('log to their own log group with retention', () => {
    for (const name of [
      'TargetprodSampler',
      'TargetprodMaintainer',
      'TargetprodMigrator',
      'AlertingSlackForwarder',
    ]) {
      const [, fn] = fnId(s, `${name}Function`);
      const groupId = fn.Properties.LoggingConfig.LogGroup.Ref as string;
      expect(s.json.Resources[groupId]).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: 30 },
      });
    }
  });

  it('send failed async invocations to the failure queue, with few retries and a short event age', () => {
    const queue = resourcesOf(s, 'AWS::SQS::Queue')[0]![0];
    const configs = resourcesOf(s, 'AWS::Lambda::EventInvokeConfig');
    expect(configs).toHaveLength(4);
    for (const [, c] of configs) {
      expect(c.Properties.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': [queue, 'Arn'] });
      expect(c.Properties.MaximumRetryAttempts).toBeLessThanOrEqual(2);
      expect(c.Properties.MaximumEventAgeInSeconds).toBeLessThanOrEqual(3600);
    }
  });

  it('are bundled with the local esbuild: ESM with source map, SQL inlined, the parser wasm next to bundles that load it', () => {
    for (const name of ['TargetprodSampler', 'TargetprodMaintainer', 'TargetprodMigrator']) {
      const [, fn] = fnId(s, `${name}Function`);
      const dir = join(s.outdir, fn.Metadata['aws:asset:path']);
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
      // Booleans, not toContain: a failure would print the whole bundle.
      expect(code.startsWith("import{createRequire as __dgmCreateRequire}from'node:module'"), name).toBe(
        true,
      );
      expect(/["'][^"'\n]*\.sql["']/.test(code), `${name} imports a .sql file at run time`).toBe(false);
      expect(/from\s*["']@aws-sdk\//.test(code), `${name} expects the runtime's AWS SDK`).toBe(false);
      expect(existsSync(join(dir, 'libpg-query.wasm')), name).toBe(code.includes('libpg-query.wasm'));
      if (name === 'TargetprodMigrator')
        expect(code.includes('CREATE TABLE IF NOT EXISTS dgm.schema_migrations')).toBe(true);
    }
  });
});

describe('schedules', () => {
  it('one per task, in the configured time zone, with an input the handlers accept', () => {
    const schedules = resourcesOf(s, 'AWS::Scheduler::Schedule');
    expect(schedules).toHaveLength(SCHEDULED_TASKS.length);
    const byTask = new Map(
      schedules.map(([, r]) => [JSON.parse(r.Properties.Target.Input).task, r.Properties]),
    );
    for (const task of SCHEDULED_TASKS) {
      const p = byTask.get(task)!;
      expect(p.ScheduleExpression).toBe(DEFAULT_SCHEDULES[task]);
      expect(p.ScheduleExpressionTimezone).toBe('UTC');
      expect(p.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
      expect(p.GroupName).toBe(resourcesOf(s, 'AWS::Scheduler::ScheduleGroup')[0]![1].Properties.Name);
      const input = JSON.parse(p.Target.Input);
      expect(input).toEqual({ task, target: 'prod', reason: 'schedule' });
      if (task !== 'sample') expect(parseJobEvent(input, MAINTAINER_TASKS)).toEqual(input);
      const fn = task === 'sample' ? 'TargetprodSamplerFunction' : 'TargetprodMaintainerFunction';
      expect(p.Target.Arn).toEqual({ 'Fn::GetAtt': [fnId(s, fn)[0], 'Arn'] });
      expect(p.Target.RetryPolicy.MaximumRetryAttempts).toBeLessThanOrEqual(2);
      expect(p.Target.RetryPolicy.MaximumEventAgeInSeconds).toBeLessThanOrEqual(3600);
      expect(p.Target.DeadLetterConfig.Arn).toEqual({
        'Fn::GetAtt': [resourcesOf(s, 'AWS::SQS::Queue')[0]![0], 'Arn'],
      });
    }
    expect(byTask.get('sample')!.Target.RetryPolicy).toEqual({
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });

  it('start only after the schema is installed', () => {
    const schema = resourcesOf(s, 'Custom::DgmSchema')[0]![0];
    for (const [, r] of resourcesOf(s, 'AWS::Scheduler::Schedule')) expect(r.DependsOn).toContain(schema);
  });
});

describe('schema install on deploy', () => {
  it('is a custom resource served by the migrator, re-run when a migration or the hash changes', () => {
    const [, cr] = resourcesOf(s, 'Custom::DgmSchema')[0]!;
    expect(cr.Properties).toMatchObject({
      Target: 'prod',
      MigrationsHash: migrationsHash(),
      ConstitutionalHash: 'cdd01ef066bc6cf2',
    });
    const provider = fnId(s, 'SchemaProviderframeworkonEvent')[1];
    expect(provider.Properties.Environment.Variables.USER_ON_EVENT_FUNCTION_ARN).toEqual({
      'Fn::GetAtt': [fnId(s, 'TargetprodMigratorFunction')[0], 'Arn'],
    });
    expect(cr.Properties.ServiceToken).toEqual({
      'Fn::GetAtt': [fnId(s, 'SchemaProviderframeworkonEvent')[0], 'Arn'],
    });
    // It waits for the rule that lets the migrator into the database.
    expect(cr.DependsOn.some((d: string) => d.startsWith('TargetprodLambdaSecurityGroup'))).toBe(true);
  });
});

describe('least privilege', () => {
  const statements = (fn: string) => {
    const [id] = fnId(s, fn);
    const role = (s.json.Resources[id]!.Properties.Role['Fn::GetAtt'] as string[])[0];
    const policy = resourcesOf(s, 'AWS::IAM::Policy').find(([, p]) =>
      p.Properties.Roles.some((r: Json) => r.Ref === role),
    );
    return policy![1].Properties.PolicyDocument.Statement as Json[];
  };

  it('PutMetricData only in the DGM/Database namespace; no other wildcard resource', () => {
    for (const fn of ['TargetprodSamplerFunction']) {
      const st = statements(fn);
      const wildcard = st.filter((x) => x.Resource === '*');
      expect(wildcard).toEqual([
        {
          Sid: 'PutDgmMetrics',
          Action: 'cloudwatch:PutMetricData',
          Effect: 'Allow',
          Resource: '*',
          Condition: { StringEquals: { 'cloudwatch:namespace': 'DGM/Database' } },
        },
      ]);
    }
    // The maintainer's runs show in its Lambda metrics; it puts none of its own.
    expect(statements('TargetprodMaintainerFunction').some((x) => x.Resource === '*')).toBe(false);
    expect(statements('TargetprodMigratorFunction').some((x) => x.Resource === '*')).toBe(false);
  });

  it('reads only its target secret (decrypting through Secrets Manager only), and the migrator nothing else', () => {
    for (const fn of [
      'TargetprodSamplerFunction',
      'TargetprodMaintainerFunction',
      'TargetprodMigratorFunction',
    ]) {
      const st = statements(fn);
      expect(st).toContainEqual({
        Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        Effect: 'Allow',
        Resource: SECRET_ARN.prod,
      });
      expect(st).toContainEqual({
        Sid: 'DecryptTheDatabaseSecret',
        Action: 'kms:Decrypt',
        Effect: 'Allow',
        Resource: KEY_ARN,
        Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } },
      });
    }
    const actions = statements('TargetprodMigratorFunction').flatMap((x) => [x.Action].flat());
    expect(actions.sort()).toEqual(
      [
        'kms:Decrypt',
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
      ].sort(),
    );
  });

  it("the maintainer may read its own instance's server log only (the optimizer's literal samples); no other function", () => {
    const rdsStatements = (fn: string) =>
      statements(fn).filter((x) => [x.Action].flat().some((a: string) => a.startsWith('rds:')));
    expect(rdsStatements('TargetprodMaintainerFunction')).toEqual([
      {
        Sid: 'ReadServerLog',
        Action: ['rds:DescribeDBLogFiles', 'rds:DownloadDBLogFilePortion'],
        Effect: 'Allow',
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':rds:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':db:prod',
            ],
          ],
        },
      },
    ]);
    expect(rdsStatements('TargetprodSamplerFunction')).toEqual([]);
    expect(rdsStatements('TargetprodMigratorFunction')).toEqual([]);
  });

  it('the sampler publishes alerts, keeps alert state with two item actions, and may start its own maintainer only', () => {
    const st = statements('TargetprodSamplerFunction');
    expect(st).toContainEqual({
      Sid: 'PublishAlerts',
      Action: 'sns:Publish',
      Effect: 'Allow',
      Resource: topicRef(),
    });
    expect(st).toContainEqual({
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Effect: 'Allow',
      Resource: { 'Fn::GetAtt': [resourcesOf(s, 'AWS::KMS::Key')[0]![0], 'Arn'] },
    });
    expect(st).toContainEqual({
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      Effect: 'Allow',
      Resource: { 'Fn::GetAtt': [resourcesOf(s, 'AWS::DynamoDB::Table')[0]![0], 'Arn'] },
    });
    expect(st).toContainEqual({
      Sid: 'StartMaintenanceRuns',
      Action: 'lambda:InvokeFunction',
      Effect: 'Allow',
      Resource: { 'Fn::GetAtt': [fnId(s, 'TargetprodMaintainerFunction')[0], 'Arn'] },
    });
  });

  it('the maintainer neither publishes alerts nor reads the alert key (its failures alert through the sampler)', () => {
    const st = statements('TargetprodMaintainerFunction');
    const actions = st.flatMap((x) => [x.Action].flat() as string[]);
    expect(actions.filter((a) => a.startsWith('sns:') || a.startsWith('dynamodb:'))).toEqual([]);
    expect(actions).not.toContain('kms:GenerateDataKey');
    const env = fnId(s, 'TargetprodMaintainerFunction')[1].Properties.Environment.Variables;
    expect(env.DGM_ALERT_TOPIC_ARN).toBeUndefined();
  });

  it('the Slack forwarder reads only the webhook secret', () => {
    const st = statements('AlertingSlackForwarderFunction');
    const secretStatements = st.filter((x) =>
      [x.Action].flat().some((a: string) => a.startsWith('secretsmanager:')),
    );
    expect(secretStatements).toEqual([
      {
        Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        Effect: 'Allow',
        Resource: SECRET_ARN.slack,
      },
    ]);
  });
});

describe('network', () => {
  it('Lambdas reach the database port and HTTPS only; the database accepts them on its port', () => {
    const [sgId, sg] = resourcesOf(s, 'AWS::EC2::SecurityGroup').find(([id]) =>
      id.startsWith('TargetprodLambdaSecurityGroup'),
    )!;
    expect(sg.Properties.SecurityGroupEgress).toEqual([
      { CidrIp: '0.0.0.0/0', Description: expect.any(String), FromPort: 443, IpProtocol: 'tcp', ToPort: 443 },
    ]);
    expect(sg.Properties.SecurityGroupIngress).toBeUndefined();
    s.template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      GroupId: { 'Fn::GetAtt': [sgId, 'GroupId'] },
      DestinationSecurityGroupId: 'sg-0123456789abcdef0',
      FromPort: 5432,
      ToPort: 5432,
      IpProtocol: 'tcp',
    });
    s.template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: 'sg-0123456789abcdef0',
      SourceSecurityGroupId: { 'Fn::GetAtt': [sgId, 'GroupId'] },
      FromPort: 5432,
      ToPort: 5432,
    });
  });

  it('VPC endpoints for Secrets Manager, SNS, CloudWatch and Lambda, and a DynamoDB gateway on the route tables', () => {
    const endpoints = resourcesOf(s, 'AWS::EC2::VPCEndpoint');
    const services = endpoints.map(([, e]) => JSON.stringify(e.Properties.ServiceName));
    for (const service of ['secretsmanager', 'sns', 'monitoring', 'lambda', 'dynamodb']) {
      expect(services.filter((x) => x.includes(`.${service}`))).toHaveLength(1);
    }
    const gateway = endpoints.find(([, e]) => e.Properties.VpcEndpointType === 'Gateway')![1];
    expect(gateway.Properties.RouteTableIds).toEqual(ONE_TARGET.targets[0]!.vpc.routeTableIds);
    for (const [, e] of endpoints.filter(([, e]) => e.Properties.VpcEndpointType === 'Interface')) {
      expect(e.Properties.PrivateDnsEnabled).toBe(true);
    }
  });
});

describe('alerting', () => {
  it('an SNS topic with a rotated customer-managed key that CloudWatch alarms may use, TLS only', () => {
    const [keyId, key] = resourcesOf(s, 'AWS::KMS::Key')[0]!;
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(key.Properties.KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      }),
    );
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    const policy = resourcesOf(s, 'AWS::SNS::TopicPolicy')[0]![1].Properties.PolicyDocument.Statement;
    expect(policy).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    expect(policy).toContainEqual(
      expect.objectContaining({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish' }),
    );
  });

  it('email subscriptions, AWS Chatbot for Slack, and the webhook forwarder as an alternative', () => {
    const subs = resourcesOf(s, 'AWS::SNS::Subscription').map(([, x]) => x.Properties);
    expect(subs.filter((x) => x.Protocol === 'email').map((x) => x.Endpoint)).toEqual(
      ONE_TARGET.alerts.emails,
    );
    expect(subs.filter((x) => x.Protocol === 'lambda')).toHaveLength(1);
    s.template.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      SlackWorkspaceId: 'T0123ABCD',
      SlackChannelId: 'C0123ABCD',
      SnsTopicArns: [topicRef()],
      GuardrailPolicies: [Match.objectLike({ 'Fn::Join': Match.anyValue() })],
    });
    const env = fnId(s, 'AlertingSlackForwarderFunction')[1].Properties.Environment.Variables;
    expect(env.DGM_SLACK_WEBHOOK_SECRET_ARN).toBe(SECRET_ARN.slack);
  });

  it('the alert-state table: on demand, pk string, TTL expiresAt, point-in-time recovery, encrypted', () => {
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('every alarm notifies the topic (and again when OK)', () => {
    const alarms = resourcesOf(s, 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBeGreaterThan(10);
    for (const [, a] of alarms) {
      expect(a.Properties.AlarmActions).toEqual([topicRef()]);
      expect(a.Properties.OKActions).toEqual([topicRef()]);
    }
  });

  it("alarms for the Lambdas' own health: errors, throttles, duration near the timeout", () => {
    for (const name of ['Sampler', 'Maintainer', 'Migrator']) {
      const [fn, props] = fnId(s, `Targetprod${name}Function`);
      const mine = resourcesOf(s, 'AWS::CloudWatch::Alarm').filter(([, a]) =>
        (a.Properties.Dimensions ?? []).some((d: Json) => d.Value?.Ref === fn),
      );
      const byMetric = new Map(mine.map(([, a]) => [a.Properties.MetricName, a.Properties]));
      expect([...byMetric.keys()].sort()).toEqual(['Duration', 'Errors', 'Throttles']);
      expect(byMetric.get('Duration')!.Threshold).toBe(props.Properties.Timeout * 1000 * 0.8);
    }
  });

  it('a missed-run alarm: no successful sample for 5 minutes, missing data breaching', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'DGM/Database',
      MetricName: 'Up',
      Dimensions: [{ Name: 'DBInstance', Value: 'prod' }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 5,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
  });

  it('alarms on the critical KPIs with the configured thresholds, and on the failure queue', () => {
    const mon = parseConfig({}).monitoring;
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ConnectionUtilization',
      Threshold: mon.connectionUtilizationThreshold * 100,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'CacheHitRatio',
      Threshold: mon.cacheHitRatioThreshold * 100,
      ComparisonOperator: 'LessThanThreshold',
    });
    for (const metric of ['Deadlocks', 'PartitionsAheadDays']) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        Namespace: 'DGM/Database',
      });
    }
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Scheduler',
      MetricName: 'InvocationDroppedCount',
    });
  });

  it('the failure queue is encrypted and TLS only', () => {
    s.template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('dashboard', () => {
  it("one per target with the design's KPIs, the AWS/RDS storage figure and the maintenance runs", () => {
    const dashboards = resourcesOf(s, 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]![1].Properties.DashboardBody);
    for (const text of [
      'Query latency',
      '\\"QueryDuration\\"',
      'SlowQueries',
      'Connections by state',
      'ConnectionUtilization',
      'CacheHitRatio',
      'TableCacheHitRatio',
      'LockWaits',
      'Deadlocks',
      'Partition health',
      'PartitionsAheadDays',
      'DefaultPartitionRows',
      'DatabaseSizeBytes',
      'FreeStorageSpace',
      'Alerts by severity',
      'ActiveAlerts',
      'Maintenance runs',
      'Maintenance durations',
    ]) {
      expect(body).toContain(text);
    }
  });
});

describe('metric names', () => {
  it('every DGM/Database metric the dashboards and alarms read is one the jobs emit, with its dimensions', () => {
    const all: MetricSpec[] = [...METRIC_SPECS, ...Object.values(ALERT_METRIC_SPECS)];
    const specs = new Map(all.map((m) => [m.name, m]));
    expect(Object.values(DGM_METRICS).filter((n) => !specs.has(n))).toEqual([]);
    for (const [name, dimensions] of Object.entries(SEARCH_DIMENSIONS)) {
      expect(
        (specs.get(name)!.dimensions ?? []).map((d) => d.cloudwatch),
        name,
      ).toEqual(dimensions);
    }
    // And the template reads no DGM/Database metric outside that list.
    const alarmMetrics = resourcesOf(s, 'AWS::CloudWatch::Alarm')
      .filter(([, a]) => a.Properties.Namespace === 'DGM/Database')
      .map(([, a]) => a.Properties.MetricName as string);
    expect(alarmMetrics.filter((n) => !specs.has(n))).toEqual([]);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('has no unacknowledged error or warning', () => {
    expect(
      s.nag.violations.map(
        (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      ),
    ).toEqual([]);
  });

  it('every acknowledgement carries a real reason', () => {
    const acks = acknowledgements(s.stack);
    expect(acks.length).toBeGreaterThan(5);
    for (const a of acks) expect(a.reason.length, `${a.id} at ${a.path}`).toBeGreaterThanOrEqual(40);
  });

  it('every acknowledgement silences a real finding', () => {
    expect(unusedAcknowledgements(s)).toEqual([]);
  });
});
