import { createServer } from 'node:net';
import type { Context } from 'aws-lambda';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../../functions/errors.ts';
import { createSamplerHandler } from '../../functions/handlers/sampler.ts';
import type {
  DatabaseSecret,
  MetricDatum,
  MetricSink,
  MetricSinkResult,
  SecretsProvider,
} from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// The sampler Lambda end to end against a real database: secrets (with rotation), one connection closed
// on every path, Up=0 and a failed result when the database cannot be reached.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

class RecordingSink implements MetricSink {
  readonly calls: MetricDatum[][] = [];
  async put(datums: MetricDatum[]): Promise<MetricSinkResult> {
    this.calls.push(datums);
    return { sent: datums.length, failed: 0, calls: 1, errors: [] };
  }
}

class FakeSecrets implements SecretsProvider {
  readonly requests: Array<{ arn: string; forceRefresh: boolean }> = [];
  private readonly values: DatabaseSecret[];

  constructor(values: DatabaseSecret[]) {
    this.values = values;
  }
  async getDatabaseSecret(arn: string, options: { forceRefresh?: boolean } = {}) {
    this.requests.push({ arn, forceRefresh: Boolean(options.forceRefresh) });
    return options.forceRefresh ? this.values[this.values.length - 1]! : this.values[0]!;
  }
}

const context = { getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

function envFor(url: string, port?: number) {
  const u = new URL(url);
  return {
    DGM_TARGETS: JSON.stringify([
      {
        name: 'orders-db',
        host: u.hostname,
        port: port ?? Number(u.port || 5432),
        database: u.pathname.slice(1),
        secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-db',
      },
    ]),
    DGM_CONFIG: JSON.stringify({ slowQueryThresholdMs: 100 }),
  };
}

function secretOf(url: string): DatabaseSecret {
  const u = new URL(url);
  return { username: decodeURIComponent(u.username || 'postgres'), password: decodeURIComponent(u.password) };
}

async function samplerConnections(): Promise<number> {
  const { rows } = await db.client.query<{ n: string }>(
    // This file's database only: other files run samplers against the same server at the same time.
    `SELECT count(*) AS n FROM pg_stat_activity
     WHERE application_name = 'dgm-db-ops-sampler' AND datname = current_database()`,
  );
  return Number(rows[0]!.n);
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

describe('sampler handler', () => {
  it('samples the target, sends its metrics with Up=1 and closes its connection', async () => {
    const sink = new RecordingSink();
    const secrets = new FakeSecrets([secretOf(db.url)]);
    const handler = createSamplerHandler({ secrets, sink, env: envFor(db.url), tls: 'disable' });
    const result = await handler({ task: 'sample' }, context);
    expect(result.status).toBe('succeeded');
    expect(result.target).toBe('orders-db');
    // The first sample is a costly one: 3, the database size and bloat, up to 10 pruning statements.
    expect(result.snapshot?.fullCollection).toBe(true);
    expect(result.roundTrips).toBeLessThanOrEqual(3 + 1 + 10);
    expect(result.snapshot?.statements.available).toBe(true);
    expect(result.constitutional_compliance).toEqual({
      hash: db.config.constitutionalHash,
      validated: true,
      compliance_score: 1,
    });
    const sent = sink.calls.flat();
    expect(sent.find((d) => d.name === 'Up')).toMatchObject({
      value: 1,
      dimensions: { DBInstance: 'orders-db' },
    });
    expect(sent.length).toBeLessThanOrEqual(40);
    expect(sent.every((d) => d.dimensions.DBInstance === 'orders-db')).toBe(true);
    // The per-target config override reached the job.
    expect(result.snapshot?.statements.available && result.snapshot.statements.slowThresholdMs).toBe(100);
    expect(await samplerConnections()).toBe(0);
    // The second run has rates (the baseline was stored), with timeouts set at connect: 3 round trips.
    await db.client.query('SELECT pg_stat_force_next_flush()');
    const again = await handler({ task: 'sample', target: 'orders-db' }, context);
    expect(again.snapshot?.intervalSeconds).toBeGreaterThan(0);
    expect(again.roundTrips).toBe(3);
    expect(secrets.requests.every((r) => !r.forceRefresh)).toBe(true);
  });

  it('fetches the secret again after an authentication failure (rotation) and retries once', async () => {
    const sink = new RecordingSink();
    const secrets = new FakeSecrets([{ ...secretOf(db.url), password: 'rotated-away' }, secretOf(db.url)]);
    // On the embedded server the test role has a password; on a trust-auth server any password works.
    const handler = createSamplerHandler({ secrets, sink, env: envFor(db.url), tls: 'disable' });
    const result = await handler({ task: 'sample' }, context);
    expect(result.status).toBe('succeeded');
    if (new URL(db.url).password) {
      expect(secrets.requests.map((r) => r.forceRefresh)).toEqual([false, true]);
    }
    expect(await samplerConnections()).toBe(0);
  });

  it('an unreachable database gives an Up=0 datum and a failed result, not a throw', async () => {
    const sink = new RecordingSink();
    const secrets = new FakeSecrets([secretOf(db.url)]);
    const handler = createSamplerHandler({
      secrets,
      sink,
      env: envFor(db.url, await closedPort()),
      tls: 'disable',
    });
    const result = await handler({ task: 'sample' }, context);
    expect(result.status).toBe('failed');
    expect(result.message).toMatch(/orders-db unreachable: cannot connect/);
    expect(result.message).not.toContain(secretOf(db.url).password || 'never-empty');
    expect(sink.calls.flat()).toEqual([
      expect.objectContaining({
        name: 'Up',
        value: 0,
        unit: 'Count',
        dimensions: { DBInstance: 'orders-db' },
      }),
    ]);
    expect(result.snapshot).toBeUndefined();
  });

  it('a collection that fails midway is a failed result with Up=0, and the connection is still closed', async () => {
    const sink = new RecordingSink();
    const secrets = new FakeSecrets([secretOf(db.url)]);
    const locker = new pg.Client(db.url);
    await locker.connect();
    // The sampler's own baseline table is held under ACCESS EXCLUSIVE: round trip 2 meets lock_timeout.
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE dgm.stat_statement_baseline IN ACCESS EXCLUSIVE MODE');
    try {
      const env = envFor(db.url);
      env.DGM_CONFIG = JSON.stringify({ monitoring: { statementTimeoutMs: 1_000 } });
      const handler = createSamplerHandler({ secrets, sink, env, tls: 'disable' });
      const result = await handler({ task: 'sample' }, context);
      expect(result.status).toBe('failed');
      expect(result.message).toMatch(/sample failed: .*(timeout|lock)/i);
      expect(sink.calls.flat().map((d) => [d.name, d.value])).toEqual([['Up', 0]]);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    expect(await samplerConnections()).toBe(0);
  });

  it('a bad event is an invocation error naming the field', async () => {
    const handler = createSamplerHandler({
      secrets: new FakeSecrets([secretOf(db.url)]),
      sink: new RecordingSink(),
      env: envFor(db.url),
    });
    await expect(handler({ task: 'vacuum' }, context)).rejects.toThrow(BadInputError);
    await expect(handler({ task: 'sample', target: 'nope' }, context)).rejects.toThrow(
      /unknown target 'nope'/,
    );
  });
});
