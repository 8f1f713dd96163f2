import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
// @ts-expect-error dynalite ships no types
import dynalite from 'dynalite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbAlertStateStore } from '../../functions/adapters/aws/dynamodb-alert-store.ts';
import { SnsNotifier } from '../../functions/adapters/aws/sns-notifier.ts';
import { alertDocumentKey, runAlertLifecycle } from '../../functions/alerting/claim-loop.ts';
import { FailOpenLimiter } from '../../functions/alerting/fail-open.ts';
import type { AlertDocument, RuleEvaluation } from '../../functions/alerting/lifecycle.ts';
import { parseConfig, type RuntimeConfig } from '../../functions/config.ts';
import type { Logger } from '../../functions/ports.ts';

/**
 * The alert job against DynamoDB's behaviour (dynalite, in process: conditional writes as DynamoDB does
 * them) with SNS faked at the SDK client. Each runAlertLifecycle call is one sampler invocation with its
 * own clients, as separate Lambda containers would have.
 */

const TABLE = 'dgm-alert-state';
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:dgm-alerts';
const T0 = Date.parse('2026-11-28T08:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

// dynalite returns a node:http Server.
let server: Server;
let endpoint: string;
const sns = mockClient(SNSClient);
let target = '';
let n = 0;

const dynamo = (url = endpoint) =>
  new DynamoDBClient({
    endpoint: url,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });

beforeAll(async () => {
  server = dynalite({ createTableMs: 0, updateTableMs: 0, deleteTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await dynamo().send(
    new CreateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
});

afterAll(async () => {
  sns.restore();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm' });
  // Each test works on its own target, so its document starts empty.
  target = `t${++n}`;
});

function config(alerting: Record<string, unknown> = {}): RuntimeConfig {
  return parseConfig({ target, alerting });
}

const conn = (value: number, resource = 'database'): RuleEvaluation => conns({ [resource]: value });

/** One evaluation of the rule with a figure per resource. */
const conns = (values: Record<string, number>): RuleEvaluation => ({
  rule: 'connection_utilization',
  status: 'evaluated',
  observations: Object.entries(values).map(([resource, value]) => ({
    rule: 'connection_utilization',
    resource,
    value,
    message: `utilization ${value}`,
  })),
});

function capture(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, info() {}, warn() {}, error: (m) => errors.push(m) };
}

/** One sampler invocation: fresh clients, the given time and figures. */
function invoke(
  cfg: RuntimeConfig,
  now: Date,
  evaluations: RuleEvaluation[],
  options: { storeUrl?: string; failOpen?: FailOpenLimiter; logger?: Logger } = {},
) {
  return runAlertLifecycle(
    {
      store: new DynamoDbAlertStateStore(TABLE, dynamo(options.storeUrl)),
      notifier: new SnsNotifier(TOPIC, new SNSClient({ region: 'eu-west-1' })),
      clock: { now: () => now },
      logger: options.logger,
      failOpen: options.failOpen ?? new FailOpenLimiter(),
    },
    { config: cfg, evaluations, sampleAt: now },
  );
}

function published(): Array<{ subject: string; items: string[]; attributes: Record<string, unknown> }> {
  return sns.commandCalls(PublishCommand).map((c) => {
    const input = c.args[0].input;
    const chatbot = JSON.parse(JSON.parse(input.Message!).default);
    return {
      subject: input.Subject!,
      items: (chatbot.content.description as string)
        .split('\n\n')
        .filter((p) => p.includes('* · *'))
        .map((p) => p.split('\n')[0]!),
      attributes: input.MessageAttributes!,
    };
  });
}

async function storedDocument(): Promise<{ version: number; doc: AlertDocument; expiresAt: number }> {
  const out = await dynamo().send(
    new GetItemCommand({
      TableName: TABLE,
      Key: { pk: { S: alertDocumentKey(target) } },
      ConsistentRead: true,
    }),
  );
  return {
    version: Number(out.Item!.version!.N),
    doc: JSON.parse(out.Item!.state!.S!),
    expiresAt: Number(out.Item!.expiresAt!.N),
  };
}

describe('alerting with DynamoDB state and SNS', () => {
  it('50 concurrent evaluations of one firing alert publish exactly once', async () => {
    const cfg = config();
    await invoke(cfg, at(0), [conn(0.9)]);
    expect(published()).toHaveLength(0);
    // The same scheduled sample delivered to 50 invocations at once, a few seconds apart.
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        invoke(cfg, new Date(at(1).getTime() + (i % 10) * 1000), [conn(0.9)]),
      ),
    );
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
    expect(results.filter((r) => r.notification?.published)).toHaveLength(1);
    expect(published()[0]!.items).toEqual([
      ':large_orange_circle: *FIRING* · *warning* · *Connection utilization* on `database`',
    ]);
    const { doc } = await storedDocument();
    const rec = doc.alerts['connection_utilization|database']!;
    expect(rec).toMatchObject({
      status: 'firing',
      breaches: 2,
      notified: { state: 'firing', transition: 'firing' },
    });
    expect(rec.claim).toBeUndefined();
    // And again while it keeps firing, inside the cooldown: nobody sends anything.
    await Promise.all(Array.from({ length: 50 }, () => invoke(cfg, at(2), [conn(0.9)])));
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
  });

  it('50 concurrent first evaluations of a breach that fires at once publish exactly once', async () => {
    const cfg = config({ pendingSamples: 1 });
    await Promise.all(Array.from({ length: 50 }, () => invoke(cfg, at(0), [conn(0.97)])));
    expect(published().map((p) => p.items)).toEqual([
      [':red_circle: *FIRING* · *critical* · *Connection utilization* on `database`'],
    ]);
  });

  it('keeps the cooldown across invocations and re-notifies after it', async () => {
    const cfg = config({ alertCooldownMinutes: 15 });
    // Fires at minute 1; minutes 2 to 15 are inside the 15-minute cooldown.
    for (let m = 0; m <= 15; m++) await invoke(cfg, at(m), [conn(0.85)]);
    expect(published().map((p) => p.items[0])).toEqual([
      ':large_orange_circle: *FIRING* · *warning* · *Connection utilization* on `database`',
    ]);
    await invoke(cfg, at(16), [conn(0.85)]);
    expect(published().map((p) => p.items[0])).toEqual([
      ':large_orange_circle: *FIRING* · *warning* · *Connection utilization* on `database`',
      ':large_orange_circle: *STILL FIRING* · *warning* · *Connection utilization* on `database`',
    ]);
  });

  it('keeps max_alerts_per_hour across invocations, holding the rest back until the hour has passed', async () => {
    const cfg = config({ maxAlertsPerHour: 3, alertCooldownMinutes: 600 });
    const five = (v: number): RuleEvaluation[] => [
      {
        rule: 'connection_utilization',
        status: 'evaluated',
        observations: ['a', 'b', 'c', 'd', 'e'].map((r) => ({
          rule: 'connection_utilization',
          resource: r,
          value: v,
          message: 'm',
        })),
      },
    ];
    await invoke(cfg, at(0), five(0.9));
    const first = await invoke(cfg, at(1), five(0.9));
    expect(first.notification).toMatchObject({ published: true, heldBack: 2 });
    expect(published()).toHaveLength(1);
    expect(published()[0]!.items).toHaveLength(3);
    expect(published()[0]!.subject).toContain('2 held back');
    for (let m = 2; m <= 60; m += 2) await invoke(cfg, at(m), five(0.9));
    expect(published()).toHaveLength(1);
    const later = await invoke(cfg, at(62), five(0.9));
    expect(later.notification?.items.map((i) => i.resource)).toEqual(['d', 'e']);
    expect(published()).toHaveLength(2);
  });

  it('sends an escalation at once, inside the cooldown', async () => {
    const cfg = config();
    await invoke(cfg, at(0), [conn(0.85)]);
    await invoke(cfg, at(1), [conn(0.85)]);
    const escalated = await invoke(cfg, at(3), [conn(0.97)]);
    expect(escalated.notification?.items).toEqual([
      { transition: 'escalated', name: 'connection_utilization', resource: 'database', severity: 'critical' },
    ]);
    expect(published().map((p) => p.attributes.severity)).toEqual([
      { DataType: 'String', StringValue: 'warning' },
      { DataType: 'String', StringValue: 'critical' },
    ]);
  });

  it('sends RESOLVED exactly once, also when 20 invocations see the recovery at once', async () => {
    const cfg = config();
    await invoke(cfg, at(0), [conn(0.9)]);
    await invoke(cfg, at(1), [conn(0.9)]);
    await invoke(cfg, at(2), [conn(0.1)]);
    await Promise.all(Array.from({ length: 20 }, () => invoke(cfg, at(3), [conn(0.1)])));
    for (let m = 4; m < 30; m++) await invoke(cfg, at(m), [conn(0.1)]);
    expect(published().map((p) => p.items[0])).toEqual([
      ':large_orange_circle: *FIRING* · *warning* · *Connection utilization* on `database`',
      ':white_check_mark: *RESOLVED* · *warning* · *Connection utilization* on `database`',
    ]);
  });

  it('with DynamoDB down the alert still goes out, logged, counted and rate-limited in memory', async () => {
    const cfg = config();
    const logger = capture();
    const limiter = new FailOpenLimiter();
    const down = 'http://127.0.0.1:9';
    const result = await invoke(cfg, at(0), [conn(0.97)], { storeUrl: down, failOpen: limiter, logger });
    expect(result.stateStore).toBe('unavailable');
    expect(result.notification).toMatchObject({
      published: true,
      items: [{ transition: 'firing', severity: 'critical' }],
    });
    expect(logger.errors).toEqual(['alert state store unavailable: alerting without it (fail open)']);
    expect(result.metrics).toContainEqual(
      expect.objectContaining({
        name: 'AlertStateStoreErrors',
        value: 1,
        dimensions: { DBInstance: target },
      }),
    );
    expect(result.metrics).toContainEqual(
      expect.objectContaining({
        name: 'Alerts',
        value: 1,
        dimensions: { DBInstance: target, Severity: 'critical', AlertType: 'connection_utilization' },
      }),
    );
    expect(published()).toHaveLength(1);
    const message = JSON.parse(sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!);
    expect(message.email).toContain('NOTE: Alert state store unavailable');
    expect(message.default).toContain('Alert state store unavailable');
    // The same warm container a minute later: the in-memory cooldown holds.
    await invoke(cfg, at(1), [conn(0.97)], { storeUrl: down, failOpen: limiter });
    expect(published()).toHaveLength(1);
    // After the cooldown it reminds again.
    await invoke(cfg, at(16), [conn(0.97)], { storeUrl: down, failOpen: limiter });
    expect(published()).toHaveLength(2);
  });

  it('with SNS down the notification is retried on the next run and nothing is lost', async () => {
    const cfg = config();
    const logger = capture();
    const figures = (a: number) => [conns({ a, b: 0.9 })];
    await invoke(cfg, at(0), figures(0.9));
    sns.on(PublishCommand).rejects(new Error('SNS is down'));
    const failed = await invoke(cfg, at(1), figures(0.9), { logger });
    expect(failed.notification).toMatchObject({ published: false, error: 'SNS is down' });
    expect(failed.metrics).toContainEqual(
      expect.objectContaining({ name: 'AlertNotificationErrors', value: 1 }),
    );
    expect(logger.errors).toEqual(['alert notification failed; the next run retries it']);
    const { doc } = await storedDocument();
    expect(doc.alerts['connection_utilization|a']).toMatchObject({ status: 'firing' });
    expect(doc.alerts['connection_utilization|a']?.notified).toBeUndefined();
    expect(doc.alerts['connection_utilization|a']?.claim).toBeUndefined();
    expect(doc.sent).toEqual([]);
    // Still down for two more minutes, while alert a recovers and b keeps firing.
    await invoke(cfg, at(2), figures(0.1));
    await invoke(cfg, at(3), figures(0.1));
    sns.on(PublishCommand).resolves({ MessageId: 'm' });
    const retried = await invoke(cfg, at(4), figures(0.1));
    expect(retried.notification?.published).toBe(true);
    expect(retried.notification?.items.map((i) => `${i.transition} ${i.resource}`)).toEqual([
      'resolved a',
      'firing b',
    ]);
    const calls = sns.commandCalls(PublishCommand);
    expect(calls).toHaveLength(4);
    const email = JSON.parse(calls.at(-1)!.args[0].input.Message!).email as string;
    expect(email).toContain('RESOLVED - warning - Connection utilization (connection_utilization) on a');
    expect(email).toContain('FIRING - warning - Connection utilization (connection_utilization) on b');
    // Delivered now: nothing further goes out.
    await invoke(cfg, at(5), figures(0.1));
    expect(sns.commandCalls(PublishCommand)).toHaveLength(4);
  });

  it('stores one item per target with a version and a TTL', async () => {
    const cfg = config();
    await invoke(cfg, at(0), [conn(0.9)]);
    await invoke(cfg, at(1), [conn(0.9)]);
    const { version, doc, expiresAt } = await storedDocument();
    // Sample 1, sample 2 with the claim, then the delivery.
    expect(version).toBe(3);
    expect(doc.target).toBe(target);
    expect(doc.lastSampleAt).toBe(at(1).toISOString());
    expect(expiresAt).toBeGreaterThan(Math.floor(Date.now() / 1000) + 13 * 24 * 3600);
  });

  it('compare-and-set: a stale version loses, a fresh one wins', async () => {
    const store = new DynamoDbAlertStateStore(TABLE, dynamo());
    const key = `cas-${target}`;
    expect(await store.get(key)).toBeUndefined();
    expect(await store.compareAndSet(key, 0, { a: 1 }, 60)).toBe(true);
    expect(await store.compareAndSet(key, 0, { a: 2 }, 60)).toBe(false);
    expect(await store.compareAndSet(key, 1, { a: 3 }, 60)).toBe(true);
    expect(await store.compareAndSet(key, 1, { a: 4 }, 60)).toBe(false);
    expect(await store.get(key)).toEqual({ key, version: 2, data: { a: 3 } });
    // An item past its TTL reads as empty (DynamoDB deletes lazily) but keeps guarding its version.
    const expired = new DynamoDbAlertStateStore(TABLE, dynamo(), () => Date.now() + 120_000);
    expect(await expired.get(key)).toEqual({ key, version: 2, data: {} });
    expect(await expired.compareAndSet(key, 1, { a: 5 })).toBe(false);
  });
});
