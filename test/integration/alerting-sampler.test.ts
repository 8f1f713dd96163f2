import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
// @ts-expect-error dynalite ships no types
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAlertStateStore } from '../../functions/adapters/aws/dynamodb-alert-store.ts';
import { SnsNotifier } from '../../functions/adapters/aws/sns-notifier.ts';
import { FailOpenLimiter } from '../../functions/alerting/fail-open.ts';
import { createSamplerHandler, type SamplerResult } from '../../functions/handlers/sampler.ts';
import type { AlertEvaluation } from '../../functions/jobs/alert.ts';
import type { MetricDatum, MetricSink, MetricSinkResult } from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

/**
 * The sampler Lambda with alerting wired as in AWS: DynamoDB state (dynalite) and SNS (faked at the
 * client). A database that cannot be reached fires database_unreachable; the next good sample resolves
 * it; alert metrics go to the same sink as the sample's.
 */

const TABLE = 'dgm-alerts-sampler';
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:dgm-alerts';
const sns = mockClient(SNSClient);
let server: Server;
let dynamo: DynamoDBClient;
let db: TestDatabase;

class RecordingSink implements MetricSink {
  readonly datums: MetricDatum[] = [];
  async put(datums: MetricDatum[]): Promise<MetricSinkResult> {
    this.datums.push(...datums);
    return { sent: datums.length, failed: 0, calls: 1, errors: [] };
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  dynamo = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await dynamo.send(
    new CreateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
});

afterAll(async () => {
  sns.restore();
  await new Promise((resolve) => server.close(resolve));
  await db?.drop();
});

const context = { getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

function handlerFor(port: number, sink: MetricSink) {
  const u = new URL(db.url);
  return createSamplerHandler({
    env: {
      DGM_TARGETS: JSON.stringify([
        {
          name: 'orders-db',
          host: u.hostname,
          port,
          database: u.pathname.slice(1),
          secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-db',
        },
      ]),
      DGM_CONFIG: JSON.stringify({ alerting: { minSampleSpacingSeconds: 0 } }),
    },
    secrets: {
      getDatabaseSecret: async () => ({
        username: decodeURIComponent(u.username || 'postgres'),
        password: decodeURIComponent(u.password),
      }),
    },
    sink,
    tls: 'disable',
    alerts: {
      store: new DynamoDbAlertStateStore(TABLE, dynamo),
      notifier: new SnsNotifier(TOPIC, new SNSClient({ region: 'eu-west-1' })),
      failOpen: new FailOpenLimiter(),
    },
  });
}

describe('sampler handler with alerting', () => {
  it('fires database_unreachable after two failed samples, and resolves after two good ones', async () => {
    const sink = new RecordingSink();
    const down = handlerFor(9, sink);
    const first = (await down({ task: 'sample' }, context)) as SamplerResult;
    expect(first.status).toBe('failed');
    expect((first.alerts as AlertEvaluation).alerts).toMatchObject([
      { name: 'database_unreachable', state: 'pending', severity: 'critical' },
    ]);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
    const second = (await down({ task: 'sample' }, context)) as SamplerResult;
    expect((second.alerts as AlertEvaluation).notification).toMatchObject({
      published: true,
      items: [{ transition: 'firing', name: 'database_unreachable', severity: 'critical' }],
    });
    // The Lambda result carries the design's active_alerts with DatabaseAlert's fields.
    expect(second.active_alerts).toEqual([
      expect.objectContaining({
        name: 'database_unreachable',
        severity: 'critical',
        message: expect.stringContaining('Sampling failed'),
        metric_value: 1,
        threshold: 1,
        timestamp: expect.stringMatching(/^\d{4}-/),
      }),
    ]);
    const message = JSON.parse(sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!);
    // So does the SNS message (its structured rendering).
    expect(JSON.parse(message.sqs).items[0].alert).toMatchObject({
      name: 'database_unreachable',
      severity: 'critical',
      message: expect.stringContaining('Sampling failed'),
      metric_value: 1,
      threshold: 1,
      timestamp: expect.stringMatching(/^\d{4}-/),
    });
    expect(message.email).toMatch(
      /FIRING - critical - Database unreachable \(database_unreachable\) on database\n {2}Sampling failed: database orders-db unreachable: cannot connect to/,
    );
    expect(sink.datums).toContainEqual(expect.objectContaining({ name: 'Up', value: 0 }));
    expect(sink.datums).toContainEqual(
      expect.objectContaining({
        name: 'Alerts',
        value: 1,
        dimensions: { DBInstance: 'orders-db', Severity: 'critical', AlertType: 'database_unreachable' },
      }),
    );

    const up = handlerFor(Number(new URL(db.url).port), sink);
    const third = (await up({ task: 'sample' }, context)) as SamplerResult;
    expect(third.status).toBe('succeeded');
    // clearSamples (2 by default): one good sample does not end it yet.
    expect((third.alerts as AlertEvaluation).notification).toBeNull();
    const fourth = (await up({ task: 'sample' }, context)) as SamplerResult;
    const evaluation = fourth.alerts as AlertEvaluation;
    expect(evaluation.notification?.items).toEqual([
      { transition: 'resolved', name: 'database_unreachable', resource: 'database', severity: 'critical' },
    ]);
    // Every rule ran over the real snapshot.
    expect(evaluation.rules.filter((r) => r.status === 'evaluated').map((r) => r.rule)).toEqual(
      expect.arrayContaining(['connection_utilization', 'lock_waits', 'wraparound', 'maintenance_failed']),
    );
    expect(sink.datums.filter((d) => d.name === 'ActiveAlerts').at(-1)).toMatchObject({ value: 0 });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(2);
  });
});
