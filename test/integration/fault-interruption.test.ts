import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { ADVISORY_LOCKS } from '../../functions/db/locks.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import { type CliProcess, runCliInProcess, startCliProcess } from '../support/cli.ts';
import { startThrowawayCluster, type ThrowawayCluster } from '../support/throwaway-cluster.ts';

// Faults in the middle of a run: the CLI killed with SIGKILL, or the server restarted without a
// shutdown checkpoint, at chosen points of `optimize --apply` and `maintain`. Each is followed by a
// rerun that must succeed and leave no INVALID index. The points are reached by waiting for what the
// catalog shows (a concurrent build waiting for an old snapshot, a step waiting for a lock, an audit
// row), never by sleeping. The server is this file's own throwaway cluster, never the shared one.

let cluster: ThrowawayCluster;
let url: string;
let work: string;
let admin: pg.Client;

async function connectAdmin(): Promise<pg.Client> {
  const c = new pg.Client(url);
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function q<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []) {
  return (await admin.query<T>(sql, params)).rows;
}

/** Starts the CLI as a process of its own (to kill it), on this file's database and config. */
function cli(args: string[]): CliProcess {
  // Room for one index per statement of the file on the one table (the default caps at 2 per table).
  const config = join(work, 'config.json');
  return startCliProcess([...args, '--config', config, '--database-url', url], { env: { DATABASE_URL: '' } });
}

/** Polls until check returns a value (not undefined/false); fails after timeoutMs with what it waited for. */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 90_000,
  run?: CliProcess,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    // The point never comes once the run is over: say so at once, with what it printed.
    if (run?.exited) throw new Error(`the run ended before ${what}: ${run.output().slice(-1500)}`);
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const invalidIndexes = async () =>
  (
    await q<{ name: string }>(
      `SELECT c.relname::text AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid AND n.nspname = 'public' ORDER BY 1`,
    )
  ).map((r) => r.name);

const building = async () =>
  Number(
    (await q<{ n: string }>(`SELECT count(*) AS n FROM dgm.auto_indexes WHERE status = 'building'`))[0]!.n,
  );

const lockHeld = async (key: number) =>
  (
    await q<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1::bigint::oid AND granted`,
      [key],
    )
  )[0]?.pid;

/** A session whose snapshot makes every CREATE INDEX CONCURRENTLY on this database wait for it. */
async function snapshotHolder(): Promise<pg.Client> {
  const c = await connectAdmin();
  await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  await c.query('SELECT count(*) FROM dgm.constitution');
  return c;
}

const concurrentBuildWaiting = () =>
  q<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
       AND query ILIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'`,
  ).then((r) => r[0]?.pid);

/** optimize --apply started while a snapshot holder keeps its concurrent build waiting (the build's backend). */
async function buildWaitingForSnapshot(file: string) {
  const holder = await snapshotHolder();
  const run = cli(['optimize', '--apply', '--workload', file, '--json']);
  const backend = await waitFor(
    'a concurrent build waiting for the old snapshot',
    concurrentBuildWaiting,
    90_000,
    run,
  );
  return { holder, run, backend };
}

/** A session holding public.metrics_default in SHARE mode: a partition step moving its rows waits. */
async function defaultPartitionLocked(): Promise<{ holder: pg.Client; pid: number }> {
  const holder = await connectAdmin();
  await holder.query('BEGIN');
  await holder.query('LOCK TABLE public.metrics_default IN SHARE MODE');
  return {
    holder,
    pid: (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid,
  };
}

/** The run's backend waiting for a lock (other than the holder's own session). */
const waitingForLock = (run: CliProcess, holderPid: number) =>
  waitFor(
    'a partition step waiting for its lock',
    async () =>
      (
        await q<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
           AND backend_type = 'client backend' AND pid <> $1`,
          [holderPid],
        )
      )[0]?.pid,
    90_000,
    run,
  );

/** The run's backend sleeping (pg_sleep) in a statement like `pattern`. */
const sleepingIn = (run: CliProcess, what: string, pattern: string) =>
  waitFor(
    what,
    async () =>
      (
        await q<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'
           AND query ILIKE $1`,
          [pattern],
        )
      )[0]?.pid,
    90_000,
    run,
  );

/**
 * Kills the run (SIGKILL) and waits until the server has ended its session (backend, when given) and
 * released its advisory lock: the server notices the dead client by itself.
 */
async function killAndAwaitRelease(run: CliProcess, lock: number, timeoutMs: number, backend?: number) {
  run.child.kill('SIGKILL');
  await run.done;
  await waitFor(
    backend === undefined ? 'the lock to be released' : 'the killed run to lose its session and lock',
    async () => {
      const alive =
        backend === undefined ? [] : await q(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [backend]);
      return alive.length === 0 && (await lockHeld(lock)) === undefined;
    },
    timeoutMs,
  );
}

/** Restarts the server (no shutdown checkpoint) under the run; returns how the run ended. */
async function restartUnder(run: CliProcess) {
  await admin.end().catch(() => {});
  await cluster.restart();
  const ended = await run.done;
  admin = await connectAdmin();
  return ended;
}

async function workload(name: string, sql: string): Promise<string> {
  for (let i = 0; i < 10; i++) await admin.query(sql);
  const file = join(work, `${name}.json`);
  await writeFile(file, JSON.stringify([{ sql, name }]));
  return file;
}

const CONFIG = { optimization: { maxIndexesPerTable: 10 }, maintenance: { schemas: ['dgm', 'public'] } };

/**
 * The rerun, through the CLI (in this process, bin/cli/main.ts: the same parsing and exit codes without a
 * node start-up): exit 0, a succeeded (not skipped) result, and the catalog holds no INVALID index.
 */
async function rerunSucceeds(args: string[]): Promise<Record<string, unknown>> {
  const r = await runCliInProcess([
    ...args,
    '--json',
    '--config',
    join(work, 'config.json'),
    '--database-url',
    url,
  ]);
  expect(r.code, r.stderr).toBe(0);
  const result = JSON.parse(r.stdout) as Record<string, unknown>;
  expect(result.status, r.stdout.slice(0, 2000)).toBe('succeeded');
  expect(await invalidIndexes()).toEqual([]);
  expect(await building()).toBe(0);
  return result;
}

beforeAll(async () => {
  cluster = await startThrowawayCluster();
  work = await mkdtemp(join(tmpdir(), 'dgm-faults-work-'));
  await writeFile(join(work, 'config.json'), JSON.stringify(CONFIG));
  url = cluster.url('faults');
  const root = new pg.Client(cluster.url());
  await root.connect();
  await root.query('CREATE DATABASE faults');
  await root.end();
  admin = await connectAdmin();
  await migrate(admin, parseConfig({}));
  await admin.query(`
    CREATE TABLE public.events (id bigint NOT NULL, k1 int, k2 int, k3 int, ts timestamptz NOT NULL)
      PARTITION BY RANGE (ts);
    CREATE TABLE public.events_2026_01 PARTITION OF public.events FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
    CREATE TABLE public.events_2026_02 PARTITION OF public.events FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
    CREATE TABLE public.events_2026_03 PARTITION OF public.events FOR VALUES FROM ('2026-03-01') TO ('2026-04-01');
    CREATE TABLE public.events_2026_04 PARTITION OF public.events FOR VALUES FROM ('2026-04-01') TO ('2026-05-01');
    INSERT INTO public.events
      SELECT g, g % 1000, g % 1200, g % 1400, timestamptz '2026-01-01' + (g % 10000) * interval '1000 seconds'
      FROM generate_series(1, 20000) g;
    CREATE TABLE public.metrics (id bigint NOT NULL, v float8, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
    CREATE TABLE public.metrics_default PARTITION OF public.metrics DEFAULT;
    INSERT INTO public.metrics SELECT g, random(), now() FROM generate_series(1, 5000) g;
    INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval, premake)
    VALUES ('public.metrics', 'ts', '1 month', 1);`);
  await admin.query('VACUUM ANALYZE');
}, 180_000);

afterAll(async () => {
  await admin?.end().catch(() => {});
  await cluster?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

describe(`faults in the middle of a run (own cluster)`, () => {
  it('optimize --apply killed (SIGKILL) during a concurrent build: the lock is released at once, the rerun cleans up and succeeds', async () => {
    const file = await workload('k1', 'SELECT id FROM public.events WHERE k1 = 7');
    const { holder, run, backend } = await buildWaitingForSnapshot(file);
    // The server notices the dead client during the statement (client_connection_check_interval on
    // 14+): its session ends and the optimize lock is released while the build would still wait.
    await killAndAwaitRelease(run, ADVISORY_LOCKS.optimize, 30_000, backend);
    // What the interruption left: INVALID indexes and a row stuck in 'building'.
    expect((await invalidIndexes()).length).toBeGreaterThan(0);
    expect(await building()).toBe(1);
    await holder.query('ROLLBACK');
    await holder.end();

    const result = await rerunSucceeds(['optimize', '--apply', '--workload', file]);
    const actions = result.actions as Array<{ action: string; status: string; detail?: string }>;
    expect(actions).toContainEqual(
      expect.objectContaining({
        action: 'reconcile_index',
        status: 'succeeded',
        detail: expect.stringContaining('interrupted'),
      }),
    );
    expect(
      await q(`SELECT status, drop_reason FROM dgm.auto_indexes WHERE drop_reason = 'interrupted'`),
    ).toEqual([{ status: 'failed', drop_reason: 'interrupted' }]);
    const audited = await q<{ n: string }>(
      `SELECT count(*) AS n FROM dgm.optimization_audit WHERE action = 'reconcile_index' AND status = 'succeeded'`,
    );
    expect(Number(audited[0]!.n)).toBe(1);
  });

  it('optimize --apply cut by a server restart during a concurrent build: maintain --task indexes drops the remains (parent included), then optimize succeeds', async () => {
    const file = await workload('k2', 'SELECT id FROM public.events WHERE k2 = 11');
    const { holder, run } = await buildWaitingForSnapshot(file);
    const cut = await restartUnder(run);
    expect(cut.code).not.toBe(0);
    await holder.end().catch(() => {});
    expect((await invalidIndexes()).length).toBeGreaterThan(0);
    expect(await building()).toBe(1);

    // The partitions' indexes and the partitioned parent go together: none is left INVALID.
    const maintained = await rerunSucceeds(['maintain', '--task', 'indexes']);
    expect(maintained.actions).toContainEqual(
      expect.objectContaining({ kind: 'drop_interrupted_index', status: 'succeeded' }),
    );
    await rerunSucceeds(['optimize', '--apply', '--workload', file]);
  });

  it('optimize --apply cut by a server restart once its first partition index is built: the rerun succeeds', async () => {
    const file = await workload('k3', 'SELECT id FROM public.events WHERE k3 = 13');
    const last = (
      await q<{ id: string }>(`SELECT coalesce(max(id), 0) AS id FROM dgm.optimization_audit`)
    )[0]!.id;
    const run = cli(['optimize', '--apply', '--workload', file, '--json']);
    await waitFor(
      'the first partition index to be built',
      async () =>
        (
          await q(
            `SELECT 1 FROM dgm.optimization_audit WHERE id > $1 AND action = 'create_index' AND status = 'succeeded'
             AND sql ILIKE 'CREATE INDEX CONCURRENTLY%'`,
            [last],
          )
        ).length > 0,
      90_000,
      run,
    );
    await restartUnder(run);
    await rerunSucceeds(['optimize', '--apply', '--workload', file]);
  });

  it('maintain killed (SIGKILL) while a partition step waits for a lock: the rerun moves every row', async () => {
    const { holder, pid } = await defaultPartitionLocked();
    const run = cli(['maintain', '--task', 'partitions', '--json']);
    await waitingForLock(run, pid);
    await killAndAwaitRelease(run, ADVISORY_LOCKS.maintain, 30_000);
    await holder.query('ROLLBACK');
    await holder.end();
    await rerunSucceeds(['maintain', '--task', 'partitions']);
    expect(await q(`SELECT count(*)::int AS n FROM public.metrics_default`)).toEqual([{ n: 0 }]);
    expect(await q(`SELECT count(*)::int AS n FROM public.metrics`)).toEqual([{ n: 5000 }]);
  });

  it('maintain --task all cut by a server restart while a partition step waits for a lock: the rerun succeeds, no row lost', async () => {
    await admin.query(
      `INSERT INTO public.metrics SELECT 5000 + g, random(), now() + interval '4 months' FROM generate_series(1, 3000) g`,
    );
    const { holder, pid } = await defaultPartitionLocked();
    const run = cli(['maintain', '--task', 'all', '--json']);
    await waitingForLock(run, pid);
    await restartUnder(run);
    await holder.end().catch(() => {});
    await rerunSucceeds(['maintain', '--task', 'all']);
    expect(await q(`SELECT count(*)::int AS n FROM public.metrics_default`)).toEqual([{ n: 0 }]);
    expect(await q(`SELECT count(*)::int AS n FROM public.metrics`)).toEqual([{ n: 8000 }]);
  });

  // A long statement that is not a lock wait (lock_timeout ends those): only the server's check of the
  // client (client_connection_check_interval) ends it when the run is killed. The sleep happens only
  // while public.slow_switch holds a row, so setup and the reruns are not slowed.
  it('maintain killed (SIGKILL) during a long ANALYZE: the server ends the session and releases the lock within seconds', async () => {
    await admin.query(`
      CREATE TABLE IF NOT EXISTS public.slow_switch (on_ boolean);
      CREATE FUNCTION public.slow_key(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM public.slow_switch) THEN PERFORM pg_sleep(600); END IF;
          RETURN x;
        END $$;
      -- Not analyzed by autovacuum meanwhile (its ANALYZE would sleep and hold the table's lock).
      CREATE TABLE public.slow_stats (x int) WITH (autovacuum_enabled = false);
      INSERT INTO public.slow_stats SELECT g FROM generate_series(1, 100) g;
      CREATE INDEX slow_stats_key ON public.slow_stats (public.slow_key(x));
      INSERT INTO public.slow_switch VALUES (true);`);
    const run = cli(['maintain', '--task', 'statistics', '--json']);
    const backend = await sleepingIn(
      run,
      'ANALYZE of the slow table to be running',
      '%ANALYZE%"public"."slow_stats"%',
    );
    await killAndAwaitRelease(run, ADVISORY_LOCKS.maintain, 15_000, backend);
    await admin.query('DELETE FROM public.slow_switch');
    await rerunSucceeds(['maintain', '--task', 'statistics']);
    await admin.query('DROP TABLE public.slow_stats; DROP FUNCTION public.slow_key(int)');
  });

  it('optimize --apply killed (SIGKILL) while it measures a slow statement: the session ends and the rerun succeeds', async () => {
    await admin.query(`
      CREATE TABLE IF NOT EXISTS public.slow_switch (on_ boolean);
      DELETE FROM public.slow_switch;
      CREATE FUNCTION public.slow_check() RETURNS boolean LANGUAGE plpgsql STABLE AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM public.slow_switch) THEN PERFORM pg_sleep(600); END IF;
          RETURN true;
        END $$;`);
    const file = await workload(
      'slow',
      'SELECT k1 FROM public.events WHERE id = 4242 AND public.slow_check()',
    );
    await admin.query('INSERT INTO public.slow_switch VALUES (true)');
    const run = cli(['optimize', '--apply', '--workload', file, '--json']);
    const backend = await sleepingIn(run, 'the measurement of the slow statement', '%EXPLAIN (ANALYZE%');
    await killAndAwaitRelease(run, ADVISORY_LOCKS.optimize, 15_000, backend);
    await admin.query('DELETE FROM public.slow_switch');
    await rerunSucceeds(['optimize', '--apply', '--workload', file]);
  });
});
