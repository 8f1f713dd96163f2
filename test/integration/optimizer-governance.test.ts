import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConstitutionMismatchError } from '../../functions/compliance/constitution.ts';
import { parseConfig } from '../../functions/config.ts';
import { createSamplerHandler } from '../../functions/handlers/sampler.ts';
import { checkGovernance, createInlineOptimizeLauncher } from '../../functions/jobs/governance.ts';
import { optimizeDatabase } from '../../functions/jobs/optimize.ts';
import type {
  DatabaseSecret,
  JobLauncher,
  MetricDatum,
  MetricSink,
  MetricSinkResult,
  SecretsProvider,
} from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// The design's "automatic optimization on constitutional changes": a hash change is recorded by a
// trigger, the sampler's next run launches an optimize run validated against the new hash (an async
// invoke in AWS, inline locally), and a hash the deployment does not carry still refuses everything.

const HASH_A = 'cdd01ef066bc6cf2';
const HASH_B = '0123456789abcdef';
const HASH_C = 'fedcba9876543210';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

class RecordingLauncher implements JobLauncher {
  readonly events: Array<Parameters<JobLauncher['launch']>[0]> = [];
  private readonly fail: boolean;

  constructor(fail: boolean = false) {
    this.fail = fail;
  }
  async launch(event: Parameters<JobLauncher['launch']>[0]) {
    this.events.push(event);
    if (this.fail) throw new Error('Lambda answered 500');
    return { launched: true };
  }
}

async function setHash(hash: string): Promise<void> {
  await db.client.query('UPDATE dgm.constitution SET hash = $1', [hash]);
}

async function events() {
  const { rows } = await db.client.query(
    `SELECT id::int, old_hash, new_hash, source, status, attempts, refused_at IS NOT NULL AS refused, run_id, detail
     FROM dgm.governance_events ORDER BY id`,
  );
  return rows;
}

async function governanceAudit() {
  const { rows } = await db.client.query(
    `SELECT action, status, error FROM dgm.optimization_audit WHERE job = 'governance' ORDER BY id`,
  );
  return rows;
}

describe('governance events', () => {
  it('records a fresh install as no change, and a later hash change as a pending event', async () => {
    const other = await createTestDatabase({ config: { constitutionalHash: HASH_C } });
    try {
      const { rows } = await other.client.query(
        'SELECT old_hash, new_hash, source, status FROM dgm.governance_events',
      );
      expect(rows).toEqual([{ old_hash: HASH_A, new_hash: HASH_C, source: 'install', status: 'ignored' }]);
    } finally {
      await other.drop();
    }
    expect(await events()).toEqual([]);
    await setHash(HASH_B);
    // Setting the same hash again is no change.
    await setHash(HASH_B);
    expect(await events()).toEqual([
      expect.objectContaining({ old_hash: HASH_A, new_hash: HASH_B, source: 'update', status: 'pending' }),
    ]);
  });

  it('refuses to launch while the deployed configuration does not carry the new hash, audited once', async () => {
    const launcher = new RecordingLauncher();
    const stale = parseConfig({ constitutionalHash: HASH_A });
    const first = await checkGovernance(db.client, stale, launcher);
    const second = await checkGovernance(db.client, stale, launcher);
    expect(first).toMatchObject({ launched: 0, refused: 1 });
    expect(first.events[0]).toMatchObject({ action: 'refused', new_hash: HASH_B });
    expect(second.refused).toBe(1);
    expect(launcher.events).toEqual([]);
    expect(await governanceAudit()).toEqual([
      {
        action: 'governance_check',
        status: 'refused',
        error: `constitutional hash mismatch: configured ${HASH_A}, database has ${HASH_B}; refusing to change anything`,
      },
    ]);
    expect((await events())[0]).toMatchObject({ status: 'pending', refused: true });
    // Every mutating job refuses on that hash too.
    await expect(optimizeDatabase(db.client, stale, { apply: true })).rejects.toBeInstanceOf(
      ConstitutionMismatchError,
    );
  });

  it('launches one optimize run for the newest change once the configuration carries it', async () => {
    await setHash(HASH_C);
    await setHash(HASH_B);
    const launcher = new RecordingLauncher();
    const config = parseConfig({ constitutionalHash: HASH_B, target: 'orders-db' });
    const result = await checkGovernance(db.client, config, launcher);
    const all = await events();
    const newest = all[all.length - 1]!;
    expect(launcher.events).toEqual([
      { task: 'optimize', target: 'orders-db', reason: `governance:${newest.id}` },
    ]);
    expect(result.launched).toBe(1);
    expect(result.events.map((e) => e.action)).toEqual(['superseded', 'superseded', 'launched']);
    expect(all.map((e) => e.status)).toEqual(['ignored', 'ignored', 'launched']);
    expect(newest).toMatchObject({ new_hash: HASH_B, attempts: 1 });
    // Launched and not yet answered: the next sampler run leaves it alone.
    expect((await checkGovernance(db.client, config, launcher)).events).toEqual([]);
    expect(launcher.events).toHaveLength(1);
    expect((await governanceAudit()).at(-1)).toMatchObject({
      action: 'launch_optimize',
      status: 'succeeded',
    });
  });

  it('puts the event back when the launch fails, and gives up after repeated failures', async () => {
    await db.client.query(`UPDATE dgm.governance_events SET status = 'completed' WHERE status = 'launched'`);
    await setHash(HASH_C);
    const config = parseConfig({ constitutionalHash: HASH_C });
    const failing = new RecordingLauncher(true);
    const r = await checkGovernance(db.client, config, failing);
    expect(r.events[0]).toMatchObject({ action: 'launch_failed', detail: 'Lambda answered 500' });
    const last = (await events()).at(-1)!;
    expect(last).toMatchObject({ status: 'pending', attempts: 1 });
    expect(last.detail.last_error).toBe('Lambda answered 500');
    expect((await governanceAudit()).at(-1)).toMatchObject({ action: 'launch_optimize', status: 'failed' });
    for (let i = 0; i < 4; i++) await checkGovernance(db.client, config, failing);
    await checkGovernance(db.client, config, failing);
    expect((await events()).at(-1)).toMatchObject({ status: 'failed', attempts: 5 });
    expect(failing.events).toHaveLength(5);
  });

  it('inline (the CLI): the optimize run is validated against the new hash and completes the event', async () => {
    await setHash(HASH_A);
    const config = parseConfig({ constitutionalHash: HASH_A });
    const result = await checkGovernance(db.client, config, createInlineOptimizeLauncher(db.client, config));
    expect(result.launched).toBe(1);
    const last = (await events()).at(-1)!;
    expect(last).toMatchObject({ new_hash: HASH_A, status: 'completed' });
    const { rows } = await db.client.query(
      'SELECT reason, status, constitutional_hash FROM dgm.optimizer_runs WHERE run_id = $1',
      [last.run_id],
    );
    expect(rows).toEqual([
      { reason: `governance:${last.id}`, status: 'succeeded', constitutional_hash: HASH_A },
    ]);
  });
});

describe('the sampler Lambda', () => {
  class Sink implements MetricSink {
    async put(datums: MetricDatum[]): Promise<MetricSinkResult> {
      return { sent: datums.length, failed: 0, calls: 1, errors: [] };
    }
  }
  const secrets: SecretsProvider = {
    async getDatabaseSecret(): Promise<DatabaseSecret> {
      const u = new URL(db.url);
      return {
        username: decodeURIComponent(u.username || 'postgres'),
        password: decodeURIComponent(u.password),
      };
    },
  };
  const context = { getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
  const env = (hash: string) => {
    const u = new URL(db.url);
    return {
      DGM_TARGETS: JSON.stringify([
        {
          name: 'orders-db',
          host: u.hostname,
          port: Number(u.port || 5432),
          database: u.pathname.slice(1),
          secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-db',
        },
      ]),
      DGM_CONFIG: JSON.stringify({ constitutionalHash: hash }),
    };
  };

  it('sees a recorded change after its sample and starts optimize through its launcher', async () => {
    await setHash(HASH_B);
    const launcher = new RecordingLauncher();
    const handler = createSamplerHandler({
      secrets,
      sink: new Sink(),
      env: env(HASH_B),
      tls: 'disable',
      launcher: () => launcher,
    });
    const result = await handler({ task: 'sample' }, context);
    expect(result.status).toBe('succeeded');
    expect(result.governance).toMatchObject({ launched: 1, refused: 0 });
    expect(launcher.events).toEqual([
      { task: 'optimize', target: 'orders-db', reason: expect.stringMatching(/^governance:\d+$/) },
    ]);
    // A quiet minute: nothing to report, the result is the sample's.
    const quiet = await handler({ task: 'sample' }, context);
    expect(quiet.governance).toBeUndefined();
  });

  it('runs the optimize inline when no launcher is given (local invocation)', async () => {
    await db.client.query(`UPDATE dgm.governance_events SET status = 'completed' WHERE status = 'launched'`);
    await setHash(HASH_C);
    const handler = createSamplerHandler({ secrets, sink: new Sink(), env: env(HASH_C), tls: 'disable' });
    const result = await handler({ task: 'sample' }, context);
    expect(result.governance).toMatchObject({ launched: 1 });
    expect((await events()).at(-1)).toMatchObject({ new_hash: HASH_C, status: 'completed' });
  });
});
