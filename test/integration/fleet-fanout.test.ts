import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
// @ts-expect-error dynalite ships no types
import dynalite from 'dynalite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbAlertStateStore } from '../../functions/adapters/aws/dynamodb-alert-store.ts';
import {
  DynamoDbTargetRegistry,
  seedRegistry,
} from '../../functions/adapters/aws/dynamodb-target-registry.ts';
import { parseConfig } from '../../functions/config.ts';
import { lambdaTimeoutsFor } from '../../functions/deployment.ts';
import { createFanOutHandler, type FanOutReport } from '../../functions/handlers/fanout.ts';
import { createSamplerHandler } from '../../functions/handlers/sampler.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import type {
  AlertNotification,
  MetricDatum,
  MetricSink,
  MetricSinkResult,
  RegisteredTarget,
  SecretsProvider,
} from '../../functions/ports.ts';
import { testServer } from '../support/db.ts';

/**
 * The fleet fan-out's per-target work over 50 databases on the test server: the fan-out handler's run
 * action (the in-process twin of the Distributed Map, same concurrency limit and per-target timeout)
 * reads the registry from DynamoDB (dynalite, seeded as a deploy seeds it) and calls the sampler
 * handler for each target, alerts in DynamoDB too. One database is unreachable (a closed port), one is
 * slow: a trigger on its dgm.stat_snapshots sleeps until the sampler's statement timeout, past the
 * per-target timeout.
 */

const DATABASES = 49;
const SLOW = 7;
const CONCURRENCY = 8;
const TARGET_TIMEOUT_SECONDS = 6;
/** The slow target's statement timeout: its sample outlives the per-target timeout by this much. */
const SLOW_STATEMENT_TIMEOUT_MS = 11_000;
const PERIOD_MS = 60_000;
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:fleet-test-AbCdEf';

const prefix = `dgm_fleet_${randomBytes(4).toString('hex')}`;
const names = Array.from({ length: DATABASES }, (_, i) => `${prefix}_${String(i).padStart(2, '0')}`);
const slowTarget = `db${String(SLOW).padStart(2, '0')}`;
const unreachableTarget = 'gone';
let dynamo: DynamoDBClient;
let dynamoServer: Server;
let admin: pg.Client;
let closedPort: number;

class RecordingSink implements MetricSink {
  readonly datums: MetricDatum[] = [];
  async put(datums: MetricDatum[]): Promise<MetricSinkResult> {
    this.datums.push(...datums);
    return { sent: datums.length, failed: 0, calls: 1, errors: [] };
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

beforeAll(async () => {
  const server = testServer();
  dynamoServer = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => dynamoServer.listen(0, '127.0.0.1', resolve));
  dynamo = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${(dynamoServer.address() as AddressInfo).port}`,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  for (const [table, key] of [
    ['registry', 'name'],
    ['alerts', 'pk'],
  ] as const) {
    await dynamo.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }

  // One migrated database, copied 49 times (a file copy each, instead of 49 migrations).
  admin = new pg.Client(server.url);
  await admin.connect();
  const template = `${prefix}_tpl`;
  await admin.query(`CREATE DATABASE ${template}`);
  const t = new pg.Client(server.urlFor(template));
  await t.connect();
  await migrate(t, parseConfig({}));
  await t.end();
  const queue = [...names];
  const creator = async () => {
    const c = new pg.Client(server.url);
    await c.connect();
    try {
      for (let name = queue.shift(); name; name = queue.shift()) {
        await c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
      }
    } finally {
      await c.end();
    }
  };
  await Promise.all([creator(), creator(), creator(), creator()]);
  await admin.query(`DROP DATABASE ${template}`);

  const slow = new pg.Client(server.urlFor(names[SLOW]!));
  await slow.connect();
  await slow.query(`
    CREATE FUNCTION public.fleet_test_slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$;
    CREATE TRIGGER fleet_test_slow BEFORE INSERT ON dgm.stat_snapshots
      FOR EACH ROW EXECUTE FUNCTION public.fleet_test_slow_insert();`);
  await slow.end();

  closedPort = await freePort();
  const u = new URL(server.url);
  const targets: RegisteredTarget[] = names.map((database, i) => ({
    name: `db${String(i).padStart(2, '0')}`,
    host: u.hostname,
    port: Number(u.port),
    database,
    secretArn: SECRET_ARN,
    placement: 'local',
    config: i === SLOW ? { monitoring: { statementTimeoutMs: SLOW_STATEMENT_TIMEOUT_MS } } : {},
  }));
  targets.push({
    name: unreachableTarget,
    host: '127.0.0.1',
    port: closedPort,
    database: 'nowhere',
    secretArn: SECRET_ARN,
    placement: 'local',
    config: {},
  });
  const seeded = await seedRegistry(dynamo, 'registry', targets);
  expect(seeded).toEqual({ put: 50, removed: [], conflicts: [] });
}, 300_000);

afterAll(async () => {
  if (admin) {
    for (const name of names) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`DROP DATABASE IF EXISTS ${prefix}_tpl WITH (FORCE)`);
    await admin.end();
  }
  if (dynamoServer) await new Promise((resolve) => dynamoServer.close(resolve));
}, 120_000);

/** A Lambda context whose clock runs down from the sampler's timeout, as a fresh invocation's does. */
function samplerContext(): Context {
  const seconds = lambdaTimeoutsFor(
    parseConfig({ monitoring: { statementTimeoutMs: SLOW_STATEMENT_TIMEOUT_MS } }),
  ).samplerSeconds;
  const deadline = Date.now() + seconds * 1000;
  return { getRemainingTimeInMillis: () => deadline - Date.now() } as unknown as Context;
}

describe('fan-out over 50 databases, one unreachable and one slow', () => {
  let report: FanOutReport;
  let second: FanOutReport;
  let started: Date;
  let minutesLater = 0;
  const samplerSink = new RecordingSink();
  const fanOutSink = new RecordingSink();
  const notifications: AlertNotification[] = [];

  beforeAll(async () => {
    const u = new URL(testServer().url);
    const secrets: SecretsProvider = {
      async getDatabaseSecret(arn) {
        if (arn !== SECRET_ARN) throw new Error(`no secret ${arn}`);
        return {
          username: decodeURIComponent(u.username || 'postgres'),
          password: decodeURIComponent(u.password),
        };
      },
    };
    const registry = new DynamoDbTargetRegistry('registry', dynamo);
    const sampler = createSamplerHandler({
      secrets,
      registry,
      sink: samplerSink,
      tls: 'disable',
      env: { DGM_CONFIG: '{}' },
      alerts: {
        store: new DynamoDbAlertStateStore('alerts', dynamo),
        // The second run stands for the next minute's: samples closer than a minimum spacing count once.
        clock: { now: () => new Date(Date.now() + minutesLater * 60_000) },
        notifier: {
          async publish(n) {
            notifications.push(n);
          },
        },
      },
      launcher: () => undefined,
    });
    const fanOut = createFanOutHandler({
      registry,
      sink: fanOutSink,
      env: {},
      runTarget: (event) => sampler(event, samplerContext()),
      concurrency: CONCURRENCY,
      targetTimeoutSeconds: TARGET_TIMEOUT_SECONDS,
    });
    started = new Date();
    report = (await fanOut({ task: 'sample' }, {} as Context)) as FanOutReport;
    // The next minute's run: a database that failed two samples in a row fires its alert.
    minutesLater = 1;
    second = (await fanOut({ task: 'sample' }, {} as Context)) as FanOutReport;
  }, 240_000);

  it('runs every registered target and reports exactly the two bad ones, each for itself', () => {
    expect(report.targets).toBe(50);
    expect(report.succeeded).toBe(48);
    const failures = Object.fromEntries(report.failures.map((f) => [f.target, f]));
    expect(Object.keys(failures).sort()).toEqual([slowTarget, unreachableTarget].sort());
    expect(failures[unreachableTarget]!.status).toBe('failed');
    expect(failures[unreachableTarget]!.error).toMatch(/unreachable/);
    expect(failures[slowTarget]!.status).toBe('timeout');
    expect(report.status).toBe('failed');
  });

  it('samples all the others within the period, the slow one holding only its own slot', async () => {
    expect(report.durationMs).toBeLessThan(PERIOD_MS);
    expect(second.durationMs).toBeLessThan(PERIOD_MS);
    const server = testServer();
    for (const [i, database] of names.entries()) {
      const c = new pg.Client(server.urlFor(database));
      await c.connect();
      try {
        const { rows } = await c.query<{ sampled: boolean }>(
          'SELECT count(*) > 0 AS sampled FROM dgm.stat_snapshots WHERE taken_at >= $1',
          [started],
        );
        // The slow database's insert was cancelled by its statement timeout: no sample there.
        expect({ database, sampled: rows[0]!.sampled }).toEqual({ database, sampled: i !== SLOW });
      } finally {
        await c.end();
      }
    }
    const up = samplerSink.datums.filter((d) => d.name === 'Up' && d.value === 1);
    expect([...new Set(up.map((d) => d.dimensions.DBInstance))].sort()).toEqual(
      names.map((_, i) => `db${String(i).padStart(2, '0')}`).filter((n) => n !== slowTarget),
    );
  });

  it('puts fleet figures per job and a failure datum for each bad target only', () => {
    const byName = (name: string) => fanOutSink.datums.filter((d) => d.name === name);
    // Two runs: each puts its figures.
    expect(byName('FanOutTargets').map((d) => [d.dimensions.Job, d.value])).toEqual([
      ['sample', 50],
      ['sample', 50],
    ]);
    expect(byName('FanOutFailures').map((d) => [d.dimensions.Job, d.value])).toEqual([
      ['sample', 2],
      ['sample', 2],
    ]);
    expect(new Set(byName('FanOutTargetFailed').map((d) => d.dimensions.DBInstance))).toEqual(
      new Set([slowTarget, unreachableTarget]),
    );
    // The sampler reported the unreachable database down itself; the timed-out one gets Up = 0 here.
    expect(new Set(byName('Up').map((d) => `${d.dimensions.DBInstance}=${d.value}`))).toEqual(
      new Set([`${slowTarget}=0`]),
    );
    expect(
      new Set(
        samplerSink.datums
          .filter((d) => d.name === 'Up' && d.value === 0)
          .map((d) => d.dimensions.DBInstance),
      ),
    ).toEqual(new Set([slowTarget, unreachableTarget]));
  });

  it('alerts database_unreachable (after two failed samples) for the two bad targets, each in its own notification', () => {
    expect(second.failures.map((f) => f.target).sort()).toEqual([slowTarget, unreachableTarget].sort());
    const alerted = notifications.flatMap((n) =>
      n.items.filter((i) => i.alert.name === 'database_unreachable').map(() => n.target),
    );
    expect(alerted.sort()).toEqual([slowTarget, unreachableTarget].sort());
    for (const n of notifications) expect(n.items.every((i) => i.alert.target === n.target)).toBe(true);
  });
});
