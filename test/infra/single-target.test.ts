import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ALERT_METRIC_SPECS } from '../../functions/alerting/metrics.ts';
import { parseConfig } from '../../functions/config.ts';
import { DEFAULT_SCHEDULES, lambdaTimeoutsFor, SCHEDULED_TASKS } from '../../functions/deployment.ts';
import { MAINTAINER_TASKS, parseJobEvent } from '../../functions/handlers/events.ts';
import { FANOUT_METRICS } from '../../functions/jobs/fanout.ts';
import { METRIC_SPECS, type MetricSpec } from '../../functions/monitor/metrics.ts';
import { placementName } from '../../lib/dgm-db-ops-stack.ts';
import { migrationsHash } from '../../lib/fleet.ts';
import { DGM_METRICS, SEARCH_DIMENSIONS } from '../../lib/metrics.ts';
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

const PLACEMENT = placementName(
  ONE_TARGET.targets[0]!.vpc.vpcId,
  ONE_TARGET.targets[0]!.vpc.subnetIds,
).replace(/-/g, '');
const fnId = (s: Synthesized, part: string) => {
  const found = resourcesOf(s, 'AWS::Lambda::Function').filter(([id]) => id.includes(part));
  expect(found).toHaveLength(1);
  return found[0]!;
};
const topicRef = () => ({ Ref: resourcesOf(s, 'AWS::SNS::Topic')[0]![0] });

describe('Lambdas', () => {
  it('one set per placement: Node.js 22 (pinned) on ARM64, in the private subnets behind the placement security group', () => {
    for (const name of ['Sampler', 'Maintainer', 'Migrator']) {
      const [, fn] = fnId(s, `Placement${PLACEMENT}${name}Function`);
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.Handler).toBe('index.handler');
      expect(fn.Properties.VpcConfig.SubnetIds).toEqual(ONE_TARGET.targets[0]!.vpc.subnetIds);
      expect(fn.Properties.VpcConfig.SecurityGroupIds).toEqual([
        {
          'Fn::GetAtt': [
            expect.stringMatching(new RegExp(`^Placement${PLACEMENT}LambdaSecurityGroup`)),
            'GroupId',
          ],
        },
      ]);
      expect(fn.Properties.Environment.Variables).toMatchObject({
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
        NODE_OPTIONS: '--enable-source-maps',
        DGM_TARGET_TABLE: { Ref: expect.stringMatching(/^TargetRegistry/) },
      });
      // No target list in the environment: a function reads its event's target from the registry.
      expect(fn.Properties.Environment.Variables.DGM_TARGETS).toBeUndefined();
    }
    for (const name of ['AlertingSlackForwarder', 'FleetFanOut', 'FleetRegistrySeeder']) {
      const [, fn] = fnId(s, `${name}Function`);
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.VpcConfig).toBeUndefined();
    }
  });

  it('have timeouts derived from the statement timeouts the code uses, and reserved concurrency for the maintainer', () => {
    const t = lambdaTimeoutsFor(parseConfig({}));
    expect(fnId(s, `Placement${PLACEMENT}SamplerFunction`)[1].Properties.Timeout).toBe(t.samplerSeconds);
    expect(t.samplerSeconds).toBeLessThan(60);
    const maintainer = fnId(s, `Placement${PLACEMENT}MaintainerFunction`)[1].Properties;
    expect(maintainer.Timeout).toBe(900);
    expect(maintainer.Timeout * 1000).toBeGreaterThan(parseConfig({}).maintenance.statementTimeoutMs);
    // At least the maintenance fan-out's concurrency, so the Map is never throttled by its own cap.
    expect(maintainer.ReservedConcurrentExecutions).toBe(10);
    expect(
      fnId(s, `Placement${PLACEMENT}SamplerFunction`)[1].Properties.ReservedConcurrentExecutions,
    ).toBeUndefined();
  });

  it('the sampler gets the topic, the alert table and its placement maintainer', () => {
    const env = fnId(s, `Placement${PLACEMENT}SamplerFunction`)[1].Properties.Environment.Variables;
    expect(env.DGM_ALERT_TOPIC_ARN).toEqual(topicRef());
    expect(env.DGM_ALERT_TABLE).toEqual({ Ref: expect.stringMatching(/^AlertingAlertState/) });
    expect(env.DGM_MAINTAINER_FUNCTION).toEqual({
      Ref: fnId(s, `Placement${PLACEMENT}MaintainerFunction`)[0],
    });
    expect(JSON.parse(env.DGM_CONFIG)).toEqual({});
  });

  it('log to their own log group with retention', () => {
    for (const name of [
      `Placement${PLACEMENT}Sampler`,
      `Placement${PLACEMENT}Maintainer`,
      `Placement${PLACEMENT}Migrator`,
      'AlertingSlackForwarder',
      'FleetFanOut',
      'FleetRegistrySeeder',
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
    expect(configs).toHaveLength(6);
    for (const [, c] of configs) {
      expect(c.Properties.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': [queue, 'Arn'] });
      expect(c.Properties.MaximumRetryAttempts).toBeLessThanOrEqual(2);
      expect(c.Properties.MaximumEventAgeInSeconds).toBeLessThanOrEqual(3600);
    }
  });

  it('are bundled with the local esbuild: ESM with source map, SQL inlined, the parser wasm next to bundles that load it, the seed next to the seeder', () => {
    for (const name of [
      `Placement${PLACEMENT}Sampler`,
      `Placement${PLACEMENT}Maintainer`,
      `Placement${PLACEMENT}Migrator`,
      'FleetFanOut',
      'FleetRegistrySeeder',
    ]) {
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
      if (name.endsWith('Migrator'))
        expect(code.includes('CREATE TABLE IF NOT EXISTS dgm.schema_migrations')).toBe(true);
      if (name === 'FleetRegistrySeeder') {
        const seed = JSON.parse(readFileSync(join(dir, 'dgm-targets.json'), 'utf8'));
        expect(seed).toEqual([
          {
            name: 'prod',
            host: 'prod.abcdefghij.eu-west-1.rds.amazonaws.com',
            port: 5432,
            database: 'dgm',
            secretArn: SECRET_ARN.prod,
            placement: placementName(ONE_TARGET.targets[0]!.vpc.vpcId, ONE_TARGET.targets[0]!.vpc.subnetIds),
            config: {},
            rdsInstanceId: 'prod',
          },
        ]);
      }
    }
  });
});

describe('fan-out', () => {
  const machines = () => resourcesOf(s, 'AWS::StepFunctions::StateMachine');
  const definition = (family: string) => {
    const [, m] = machines().find(([id]) => id.startsWith(`Fleet${family}`))!;
    const body = m.Properties.DefinitionString as string;
    return JSON.parse(body.replace(/\$\{FanOutFunction\}/g, 'FANOUT'));
  };

  it('two state machines (sampling, maintenance): list the registry, a Distributed Map with a concurrency limit and a per-target timeout, report', () => {
    expect(machines()).toHaveLength(2);
    const t = lambdaTimeoutsFor(parseConfig({}));
    for (const [family, childType, concurrency, timeout] of [
      ['Sampling', 'EXPRESS', 100, t.samplerSeconds + 5],
      ['Maintenance', 'STANDARD', 10, 930],
    ] as const) {
      const d = definition(family);
      expect(d.StartAt).toBe('ListTargets');
      expect(d.States.ListTargets.Parameters.Payload).toEqual({ action: 'list', 'task.$': '$.task' });
      const map = d.States.EachTarget;
      expect(map.Type).toBe('Map');
      expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: childType });
      expect(map.MaxConcurrency).toBe(concurrency);
      const run = map.ItemProcessor.States.RunTarget;
      expect(run.TimeoutSeconds).toBe(timeout);
      expect(run.Parameters['FunctionName.$']).toBe('$.function');
      expect(run.Parameters.Payload).toEqual({
        'task.$': '$.task',
        'target.$': '$.target',
        reason: 'schedule',
        fanOut: true,
      });
      // Every failure of a target (error, timeout) is caught into its own outcome: the run goes on.
      expect(run.Catch).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'TargetFailed' },
      ]);
      expect(d.States.Report.Parameters.Payload).toMatchObject({
        action: 'report',
        'outcomes.$': '$.outcomes',
      });
    }
  });

  it("the fan-out Lambda knows each placement's functions; the state machines may invoke only those and their own children", () => {
    const env = fnId(s, 'FleetFanOutFunction')[1].Properties.Environment.Variables;
    const placements = JSON.stringify(env.DGM_PLACEMENTS);
    for (const name of ['Sampler', 'Maintainer', 'Migrator'])
      expect(placements).toContain(fnId(s, `Placement${PLACEMENT}${name}Function`)[0]);
    for (const [id, m] of machines()) {
      const role = m.Properties.RoleArn['Fn::GetAtt'][0];
      const st = resourcesOf(s, 'AWS::IAM::Policy')
        .filter(([, p]) => p.Properties.Roles.some((r: Json) => r.Ref === role))
        .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Json[]);
      const invoke = st.find((x) => x.Sid === 'InvokeFanOutAndWorkers');
      const functions = (invoke.Resource as Json[]).map((r) => r['Fn::GetAtt'][0]);
      expect(functions[0]).toBe(fnId(s, 'FleetFanOutFunction')[0]);
      const workers = id.startsWith('FleetSampling') ? ['Sampler'] : ['Maintainer', 'Migrator'];
      expect(functions.slice(1).sort()).toEqual(
        workers.map((w) => fnId(s, `Placement${PLACEMENT}${w}Function`)[0]).sort(),
      );
      expect(st.find((x) => x.Action === 'states:StartExecution').Resource).toEqual({ Ref: id });
    }
  });

  it('one schedule per job kind, in the configured time zone, starting its fan-out with {task}', () => {
    const schedules = resourcesOf(s, 'AWS::Scheduler::Schedule');
    expect(schedules).toHaveLength(SCHEDULED_TASKS.length);
    const byTask = new Map(
      schedules.map(([, r]) => [JSON.parse(r.Properties.Target.Input).task, r.Properties]),
    );
    const machine = (family: string) => machines().find(([id]) => id.startsWith(`Fleet${family}`))![0];
    for (const task of SCHEDULED_TASKS) {
      const p = byTask.get(task)!;
      expect(p.ScheduleExpression).toBe(DEFAULT_SCHEDULES[task]);
      expect(p.ScheduleExpressionTimezone).toBe('UTC');
      expect(p.GroupName).toBe(resourcesOf(s, 'AWS::Scheduler::ScheduleGroup')[0]![1].Properties.Name);
      const input = JSON.parse(p.Target.Input);
      expect(input).toEqual({ task });
      if (task !== 'sample') expect(parseJobEvent(input, MAINTAINER_TASKS)).toEqual(input);
      expect(p.Target.Arn).toEqual({ Ref: machine(task === 'sample' ? 'Sampling' : 'Maintenance') });
      expect(p.Target.RetryPolicy.MaximumRetryAttempts).toBeLessThanOrEqual(2);
      expect(p.Target.DeadLetterConfig.Arn).toEqual({
        'Fn::GetAtt': [resourcesOf(s, 'AWS::SQS::Queue')[0]![0], 'Arn'],
      });
    }
    const schema = resourcesOf(s, 'Custom::DgmFleetSchema')[0]![0];
    for (const [, r] of schedules) expect(r.DependsOn).toContain(schema);
  });

  it('on deploy: cdk.json targets seeded into the registry, then the migrate fan-out, re-run when a migration, the hash or the targets change', () => {
    const [seedId, seed] = resourcesOf(s, 'Custom::DgmTargetRegistry')[0]!;
    expect(seed.Properties).toMatchObject({ Kind: 'targets', Targets: '[]' });
    const [, schema] = resourcesOf(s, 'Custom::DgmFleetSchema')[0]!;
    expect(schema.Properties.Kind).toBe('schema');
    expect(schema.Properties.Version).toMatch(
      new RegExp(`^${migrationsHash()}-cdd01ef066bc6cf2-[0-9a-f]{16}$`),
    );
    expect(schema.Properties.Version.endsWith(seed.Properties.Version)).toBe(true);
    expect(schema.DependsOn).toContain(seedId);
    const env = fnId(s, 'FleetRegistrySeederFunction')[1].Properties.Environment.Variables;
    expect(env.DGM_MAINTENANCE_STATE_MACHINE).toEqual({
      Ref: machines().find(([id]) => id.startsWith('FleetMaintenance'))![0],
    });
  });

  it('the registry: on demand, key name, point-in-time recovery, encrypted, kept when the stack goes', () => {
    const [, table] = resourcesOf(s, 'AWS::DynamoDB::Table').find(([id]) => id.startsWith('TargetRegistry'))!;
    expect(table.Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'name', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect(table.DeletionPolicy).toBe('Retain');
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
  const placementFn = (name: string) => `Placement${PLACEMENT}${name}Function`;

  it('PutMetricData only in the DGM/Database namespace; no other wildcard resource', () => {
    for (const fn of [placementFn('Sampler'), 'FleetFanOutFunction']) {
      const st = statements(fn);
      const wildcard = st.filter((x) => x.Resource === '*');
      expect(wildcard).toEqual([
        {
          Sid: expect.stringMatching(/^Put(Dgm|FanOut)Metrics$/),
          Action: 'cloudwatch:PutMetricData',
          Effect: 'Allow',
          Resource: '*',
          Condition: { StringEquals: { 'cloudwatch:namespace': 'DGM/Database' } },
        },
      ]);
    }
    expect(statements(placementFn('Maintainer')).some((x) => x.Resource === '*')).toBe(false);
    expect(statements(placementFn('Migrator')).some((x) => x.Resource === '*')).toBe(false);
  });

  it('reads database secrets by tag (one statement for any fleet), decrypts through Secrets Manager only, reads its target entry by key', () => {
    for (const fn of [placementFn('Sampler'), placementFn('Maintainer'), placementFn('Migrator')]) {
      const st = statements(fn);
      expect(st).toContainEqual({
        Sid: 'ReadTaggedDatabaseSecrets',
        Action: 'secretsmanager:GetSecretValue',
        Effect: 'Allow',
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':secretsmanager:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':secret:*',
            ],
          ],
        },
        Condition: { StringEquals: { 'aws:ResourceTag/dgm-db-ops': 'DgmDbOps' } },
      });
      expect(st).toContainEqual({
        Sid: 'DecryptDatabaseSecrets',
        Action: 'kms:Decrypt',
        Effect: 'Allow',
        Resource: KEY_ARN,
        Condition: {
          StringEquals: {
            'kms:ViaService': {
              'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']],
            },
          },
        },
      });
      expect(st).toContainEqual({
        Sid: 'ReadTheTargetRegistry',
        Action: 'dynamodb:GetItem',
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^TargetRegistry/), 'Arn'] },
      });
      // Never a secret by ARN: the statement count does not grow with the fleet.
      expect(JSON.stringify(st)).not.toContain(SECRET_ARN.prod);
    }
    const actions = statements(placementFn('Migrator')).flatMap((x) => [x.Action].flat());
    expect(actions.sort()).toEqual(
      [
        'dynamodb:GetItem',
        'kms:Decrypt',
        'secretsmanager:GetSecretValue',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
      ].sort(),
    );
  });

  it('the sampler publishes alerts, keeps alert state with two item actions, and may start its own maintainer only', () => {
    const st = statements(placementFn('Sampler'));
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
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^AlertingAlertState/), 'Arn'] },
    });
    expect(st).toContainEqual({
      Sid: 'StartMaintenanceRuns',
      Action: 'lambda:InvokeFunction',
      Effect: 'Allow',
      Resource: { 'Fn::GetAtt': [fnId(s, placementFn('Maintainer'))[0], 'Arn'] },
    });
  });

  it('the maintainer neither publishes alerts nor reads the alert key (its failures alert through the sampler)', () => {
    const st = statements(placementFn('Maintainer'));
    const actions = st.flatMap((x) => [x.Action].flat() as string[]);
    expect(actions.filter((a) => a.startsWith('sns:'))).toEqual([]);
    expect(actions.filter((a) => a.startsWith('dynamodb:'))).toEqual(['dynamodb:GetItem']);
    expect(actions).not.toContain('kms:GenerateDataKey');
    const env = fnId(s, placementFn('Maintainer'))[1].Properties.Environment.Variables;
    expect(env.DGM_ALERT_TOPIC_ARN).toBeUndefined();
  });

  it("the maintainer may read the server log of the RDS instances tagged like their secrets only (the optimizer's literal samples); no other function", () => {
    const rdsStatements = (fn: string) =>
      statements(fn).filter((x) => [x.Action].flat().some((a: string) => a.startsWith('rds:')));
    expect(rdsStatements(placementFn('Maintainer'))).toEqual([
      {
        Sid: 'ReadTaggedInstanceLogs',
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
              ':db:*',
            ],
          ],
        },
        Condition: { StringEquals: { 'rds:db-tag/dgm-db-ops': expect.anything() } },
      },
    ]);
    for (const fn of [placementFn('Sampler'), placementFn('Migrator'), 'FleetFanOutFunction'])
      expect(rdsStatements(fn), fn).toEqual([]);
  });

  it('the fan-out scans the registry only; the seeder writes it and starts the maintenance fan-out only', () => {
    const fanOut = statements('FleetFanOutFunction').flatMap((x) => [x.Action].flat() as string[]);
    expect(fanOut.filter((a) => a.startsWith('dynamodb:'))).toEqual(['dynamodb:Scan']);
    const seeder = statements('FleetRegistrySeederFunction');
    expect(
      seeder
        .flatMap((x) => [x.Action].flat() as string[])
        .filter((a) => !a.startsWith('sqs:'))
        .sort(),
    ).toEqual(['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:Scan', 'states:StartExecution'].sort());
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
  it('Lambdas reach database ports and HTTPS only; the database accepts its placement on its port', () => {
    const [sgId, sg] = resourcesOf(s, 'AWS::EC2::SecurityGroup').find(([id]) =>
      id.startsWith(`Placement${PLACEMENT}LambdaSecurityGroup`),
    )!;
    expect(sg.Properties.SecurityGroupEgress).toEqual([
      { CidrIp: '0.0.0.0/0', Description: expect.any(String), FromPort: 443, IpProtocol: 'tcp', ToPort: 443 },
      {
        CidrIp: '0.0.0.0/0',
        Description: expect.any(String),
        FromPort: 5432,
        IpProtocol: 'tcp',
        ToPort: 5432,
      },
    ]);
    expect(sg.Properties.SecurityGroupIngress).toBeUndefined();
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
      const [fn, props] = fnId(s, `Placement${PLACEMENT}${name}Function`);
      const mine = resourcesOf(s, 'AWS::CloudWatch::Alarm').filter(([, a]) =>
        (a.Properties.Dimensions ?? []).some((d: Json) => d.Value?.Ref === fn),
      );
      const byMetric = new Map(mine.map(([, a]) => [a.Properties.MetricName, a.Properties]));
      expect([...byMetric.keys()].sort()).toEqual(['Duration', 'Errors', 'Throttles']);
      expect(byMetric.get('Duration')!.Threshold).toBe(props.Properties.Timeout * 1000 * 0.8);
    }
  });

  it('the fleet alarms: a missed sampling run, a fleet-wide failure share, failed fan-outs and maintenance targets (Metrics Insights)', () => {
    const alarms = resourcesOf(s, 'AWS::CloudWatch::Alarm').map(([id, a]) => [id, a.Properties] as const);
    const find = (prefix: string) => alarms.find(([id]) => id.startsWith(`Fleet${prefix}`))![1];
    expect(find('MissedSamplingRun')).toMatchObject({
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsSucceeded',
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    const share = find('SamplingFailureShare');
    expect(share.Metrics.find((m: Json) => m.Expression).Expression).toBe('100 * failed / MAX([targets, 1])');
    expect(share.Threshold).toBe(10);
    // An unreachable database is the database_unreachable rule's (per database, grouped, cooldown);
    // the Metrics Insights alarm on MIN(Up) that restated it is gone (test/infra/alert-alarms.test.ts).
    expect(alarms.filter(([id]) => id.startsWith('FleetDatabaseNotSampled'))).toEqual([]);
    expect(find('MaintenanceTargetFailed').Metrics[0].Expression).toBe(
      `SELECT SUM(FanOutFailures) FROM SCHEMA("DGM/Database", Job) WHERE Job != 'sample'`,
    );
    expect(find('FanOutFailed').Metrics.find((m: Json) => m.Expression).Expression).toBe(
      'sampling + maintenance',
    );
    // Nothing per database: thresholds per database are the rules engine's.
    expect(JSON.stringify(alarms)).not.toContain('"prod"');
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

describe('dashboards', () => {
  const body = (prefix: string) =>
    JSON.parse(
      JSON.stringify(
        resourcesOf(s, 'AWS::CloudWatch::Dashboard').find(([id]) => id.startsWith(prefix))![1].Properties
          .DashboardBody,
      ),
    );
  it('two, whatever the fleet size: the fleet overview and one database picked with a DBInstance variable', () => {
    expect(resourcesOf(s, 'AWS::CloudWatch::Dashboard')).toHaveLength(2);
  });

  it("the per-database one: the design's KPIs, every metric on the DBInstance variable's placeholder", () => {
    const text = JSON.stringify(body('TargetDashboard'));
    for (const t of [
      'Query latency',
      'QueryDuration',
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
      'Alerts by severity',
      'ActiveAlerts',
      'FanOutTargetFailed',
      '__dbinstance__',
      '\\"variables\\"',
      '\\"pattern\\":\\"__dbinstance__\\"',
      '\\"defaultValue\\":\\"prod\\"',
    ]) {
      expect(text, t).toContain(t);
    }
    expect(text).not.toContain('DBInstance\\",\\"prod');
  });

  it('the fleet one: the worst 10 per KPI with Metrics Insights, runs and failed targets per job', () => {
    const text = JSON.stringify(body('FleetDashboard'));
    for (const t of [
      'SELECT MAX(ConnectionUtilization) FROM SCHEMA(\\\\\\"DGM/Database\\\\\\", DBInstance) GROUP BY DBInstance ORDER BY MAX() DESC LIMIT 10',
      'SELECT MIN(CacheHitRatio)',
      'SELECT MIN(Up)',
      'SELECT SUM(FanOutTargetFailed) FROM SCHEMA(\\\\\\"DGM/Database\\\\\\", DBInstance, Job) GROUP BY DBInstance, Job',
      'FanOutTargets',
      'FanOutFailures',
      'ExecutionsSucceeded',
      'ExecutionsFailed',
    ]) {
      expect(text, t).toContain(t);
    }
  });
});

describe('metric names', () => {
  it('every DGM/Database metric the dashboards and alarms read is one the jobs emit, with its dimensions', () => {
    // The fan-out's own figures (jobs/fanout.ts): per Job, and per DBInstance and Job for failed targets.
    const fanOut = [
      { name: FANOUT_METRICS.targets, dimensions: [{ cloudwatch: 'Job' }] },
      { name: FANOUT_METRICS.failures, dimensions: [{ cloudwatch: 'Job' }] },
      { name: FANOUT_METRICS.targetFailed, dimensions: [{ cloudwatch: 'Job' }] },
    ] as unknown as MetricSpec[];
    const all: MetricSpec[] = [...METRIC_SPECS, ...Object.values(ALERT_METRIC_SPECS), ...fanOut];
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
