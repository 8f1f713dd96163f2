import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { ADVISORY_LOCKS } from '../../functions/db/locks.ts';
import { maintain } from '../../functions/jobs/maintain.ts';
import { type Clock, silentLogger } from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.client.query('CREATE SCHEMA safety');
});
afterAll(async () => db?.drop());

const clock: Clock = { now: () => new Date('2026-06-10T12:00:00Z') };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('maintenance safety', () => {
  it('10 concurrent runs: exactly one does the work, the others report the skip', async () => {
    // A daily set with a long premake gives the winner enough steps to still hold the lock when the
    // other nine try.
    await db.client.query(`
      CREATE TABLE safety.busy (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
      INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval, premake)
      VALUES ('safety.busy', 'ts', '1 day', 150)`);
    const clients = await Promise.all(Array.from({ length: 10 }, () => db.connect()));
    const results = await Promise.all(
      clients.map((c) => maintain(c, db.config, { task: 'partitions', clock, logger: silentLogger })),
    );
    const worked = results.filter((r) => r.status === 'succeeded');
    const skipped = results.filter((r) => r.status === 'skipped');
    expect(worked).toHaveLength(1);
    expect(worked[0]!.summary.partitionsCreated).toBeGreaterThanOrEqual(151);
    expect(skipped).toHaveLength(9);
    for (const s of skipped) {
      expect(s.message).toMatch(/^skipped: another run holds the lock \(pid \d+/);
      expect(s.actions).toEqual([]);
    }
    const { rows } = await db.client.query<{ n: string; distinct_ranges: string }>(
      `SELECT count(*) AS n, count(DISTINCT pg_get_expr(c.relpartbound, c.oid)) AS distinct_ranges
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'safety.busy'::regclass`,
    );
    expect(rows[0]).toEqual({ n: '151', distinct_ranges: '151' });
    // Only the run that worked is in the audit: one run_id, every action succeeded.
    const { rows: audit } = await db.client.query<{ runs: string; failed: string }>(
      `SELECT count(DISTINCT run_id) AS runs, count(*) FILTER (WHERE status <> 'succeeded') AS failed
       FROM dgm.optimization_audit WHERE job = 'maintain'`,
    );
    expect(audit[0]).toEqual({ runs: '1', failed: '0' });
    expect(worked[0]!.runId).toBeDefined();
    await Promise.all(clients.map((c) => c.end()));
  });

  it('the psql API and the job skip while another session holds the maintenance lock', async () => {
    const holder = await db.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCKS.maintain]);
    try {
      const { rows } = await db.client.query<{ r: Record<string, string> }>(
        'SELECT dgm.daily_partition_maintenance() AS r',
      );
      expect(rows[0]!.r).toEqual({ status: 'skipped', message: 'skipped: another run holds the lock' });
      const { rows: proc } = await db.client.query<{ result: Record<string, string> }>(
        'CALL dgm.run_partition_maintenance(NULL)',
      );
      expect(proc[0]!.result.status).toBe('skipped');
      const job = await maintain(db.client, db.config, { task: 'all', clock, logger: silentLogger });
      expect(job.status).toBe('skipped');
    } finally {
      await holder.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCKS.maintain]);
    }
  });

  it('with a lock held on a parent, the DDL times out and retries instead of queueing; a reader waits at most lock_timeout', async () => {
    await db.client.query(`
      CREATE TABLE safety.hot (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
      CREATE TABLE safety.hot_old PARTITION OF safety.hot FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-02-01 00:00:00+00');
      CREATE TABLE safety.hot_now PARTITION OF safety.hot FOR VALUES FROM ('2026-06-01 00:00:00+00') TO ('2026-07-01 00:00:00+00');
      INSERT INTO safety.hot VALUES (1, '2025-01-10 00:00:00+00'), (2, '2026-06-05 00:00:00+00');
      INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval, premake, retention)
      VALUES ('safety.hot', 'ts', '1 month', 0, '6 months')`);
    const lockTimeoutMs = 400;
    const config = parseConfig({ maintenance: { lockTimeoutMs, lockRetries: 8, retryBackoffMs: 100 } });
    // A long reading transaction: it holds ACCESS SHARE on the parent, which the retention DROP must wait for.
    const blocker = await db.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT count(*) FROM safety.hot');
    // A reader that keeps querying: any query queued behind our waiting DDL is delayed.
    const reader = await db.connect();
    const latencies: number[] = [];
    let reading = true;
    const readLoop = (async () => {
      while (reading) {
        const t0 = performance.now();
        await reader.query('SELECT count(*) FROM safety.hot');
        latencies.push(performance.now() - t0);
        await sleep(10);
      }
    })();
    const released = (async () => {
      await sleep(1_500);
      await blocker.query('COMMIT');
    })();
    const result = await maintain(db.client, config, { task: 'partitions', clock, logger: silentLogger });
    await released;
    reading = false;
    await readLoop;
    const drop = result.actions.find((a) => a.kind === 'partition_drop' && a.target === 'safety.hot');
    expect(drop?.status).toBe('succeeded');
    expect(drop!.attempts).toBeGreaterThanOrEqual(2);
    expect(drop!.sql).toMatch(
      /^LOCK TABLE ONLY safety\.hot IN ACCESS EXCLUSIVE MODE;\nDROP TABLE safety\.hot_old$/,
    );
    // The reader was queued behind the waiting DDL (so the test exercised the queue), never longer than
    // lock_timeout plus scheduling slack.
    expect(Math.max(...latencies)).toBeGreaterThan(lockTimeoutMs / 4);
    expect(Math.max(...latencies)).toBeLessThan(lockTimeoutMs + 300);
    const { rows } = await db.client.query<{ attempts: string }>(
      `SELECT details->>'attempts' AS attempts FROM dgm.optimization_audit
       WHERE run_id = $1 AND action = 'partition_drop' AND status = 'succeeded'`,
      [result.runId],
    );
    expect(Number(rows[0]!.attempts)).toBe(drop!.attempts);
    expect((await db.client.query('SELECT id FROM safety.hot')).rows).toEqual([{ id: 2 }]);
  });

  it('gives up after its retries, audits the failure, and goes on with the other steps', async () => {
    await db.client.query(`
      CREATE TABLE safety.stuck (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
      CREATE TABLE safety.free (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
      INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval, premake)
      VALUES ('safety.stuck', 'ts', '1 month', 0), ('safety.free', 'ts', '1 month', 0)`);
    const config = parseConfig({ maintenance: { lockTimeoutMs: 100, lockRetries: 2, retryBackoffMs: 10 } });
    const blocker = await db.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE safety.stuck IN ACCESS EXCLUSIVE MODE');
    try {
      const result = await maintain(db.client, config, { task: 'partitions', clock, logger: silentLogger });
      expect(result.status).toBe('failed');
      const stuck = result.actions.filter((a) => a.details?.parent_table === 'safety.stuck');
      expect(stuck.map((a) => [a.kind, a.status, a.attempts])).toEqual([
        ['partition_create', 'failed', 3],
        ['analyze_parent', 'skipped', 0],
      ]);
      expect(stuck[0]!.error).toMatch(/lock timeout/);
      const free = result.actions.filter((a) => a.details?.parent_table === 'safety.free');
      expect(free.map((a) => a.status)).toEqual(['succeeded', 'succeeded']);
      const { rows } = await db.client.query(
        `SELECT status, error FROM dgm.optimization_audit WHERE run_id = $1 AND target = 'safety.stuck_y2026m06'`,
        [result.runId],
      );
      expect(rows).toEqual([{ status: 'failed', error: expect.stringMatching(/lock timeout/) }]);
    } finally {
      await blocker.query('ROLLBACK');
    }
  });

  it('starts no action once the deadline is near, and says why', async () => {
    await db.client.query(`
      CREATE TABLE safety.late (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
      INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval, premake)
      VALUES ('safety.late', 'ts', '1 month', 1)`);
    const result = await maintain(db.client, db.config, {
      task: 'partitions',
      clock,
      logger: silentLogger,
      deadline: Date.now() + 1_000,
    });
    const late = result.actions.filter((a) => a.details?.parent_table === 'safety.late');
    expect(late.length).toBeGreaterThan(0);
    for (const a of late) {
      expect(a.status).toBe('skipped');
      expect(a.error).toMatch(/time budget/);
    }
  });
});
