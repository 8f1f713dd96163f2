import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { ADVISORY_LOCKS } from '../../functions/db/locks.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import { runCliInProcess } from '../support/cli.ts';
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

interface CliRun {
  child: ChildProcess;
  /** Set when the process ended, with the tail of its output. */
  exited: boolean;
  output?: string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function cli(args: string[]): CliRun {
  // Room for one index per statement of the file on the one table (the default caps at 2 per table).
  const config = join(work, 'config.json');
  const child = spawn(
    process.execPath,
    ['bin/dgm-db-ops.mjs', ...args, '--config', config, '--database-url', url],
    {
      cwd: process.cwd(),
      env: { ...process.env, DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += String(d);
  });
  child.stderr!.on('data', (d) => {
    stderr += String(d);
  });
  const run: CliRun = {
    child,
    exited: false,
    done: new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        run.exited = true;
        run.output = `${stderr}\n${stdout}`.trim().slice(-1500);
        resolve({ code, signal, stdout, stderr });
      }),
    ),
  };
  return run;
}

/** Polls until check returns a value (not undefined/false); fails after timeoutMs with what it waited for. */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 90_000,
  run?: CliRun,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    // The point never comes once the run is over: say so at once, with what it printed.
    if (run?.exited) throw new Error(`the run ended before ${what}: ${run.output}`);
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
    const holder = await snapshotHolder();
    const run = cli(['optimize', '--apply', '--workload', file, '--json']);
    const backend = await waitFor(
      'a concurrent build waiting for the old snapshot',
      concurrentBuildWaiting,
      90_000,
      run,
    );
    run.child.kill('SIGKILL');
    await run.done;
    // The server notices the dead client during the statement (client_connection_check_interval on
    // 14+): its session ends and the optimize lock is released while the build would still wait.
    await waitFor(
      'the killed run to lose its session and lock',
      async () => {
        const alive = await q(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [backend]);
        return alive.length === 0 && (await lockHeld(ADVISORY_LOCKS.optimize)) === undefined;
      },
      30_000,
    );
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
    const holder = await snapshotHolder();
    const run = cli(['optimize', '--apply', '--workload', file, '--json']);
    await waitFor('a concurrent build waiting for the old snapshot', concurrentBuildWaiting, 90_000, run);
    await admin.end().catch(() => {});
    await cluster.restart();
    const cut = await run.done;
    expect(cut.code).not.toBe(0);
    await holder.end().catch(() => {});
    admin = await connectAdmin();
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
    await admin.end().catch(() => {});
    await cluster.restart();
    await run.done;
    admin = await connectAdmin();
    await rerunSucceeds(['optimize', '--apply', '--workload', file]);
  });

  it('maintain killed (SIGKILL) while a partition step waits for a lock: the rerun moves every row', async () => {
    const holder = await connectAdmin();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE public.metrics_default IN SHARE MODE');
    const run = cli(['maintain', '--task', 'partitions', '--json']);
    await waitFor(
      'a partition step waiting for its lock',
      async () =>
        (
          await q<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
             AND backend_type = 'client backend' AND pid <> $1`,
            [(await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid],
          )
        )[0]?.pid,
      90_000,
      run,
    );
    run.child.kill('SIGKILL');
    await run.done;
    await waitFor(
      'the maintenance lock to be released',
      async () => (await lockHeld(ADVISORY_LOCKS.maintain)) === undefined,
      30_000,
    );
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
    const holder = await connectAdmin();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE public.metrics_default IN SHARE MODE');
    const holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const run = cli(['maintain', '--task', 'all', '--json']);
    await waitFor(
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
    await admin.end().catch(() => {});
    await cluster.restart();
    await run.done;
    await holder.end().catch(() => {});
    admin = await connectAdmin();
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
    const backend = await waitFor(
      'ANALYZE of the slow table to be running',
      async () =>
        (
          await q<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'
             AND query ILIKE '%ANALYZE%"public"."slow_stats"%'`,
          )
        )[0]?.pid,
      90_000,
      run,
    );
    run.child.kill('SIGKILL');
    await run.done;
    await waitFor(
      'the killed run to lose its session and lock',
      async () => {
        const alive = await q(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [backend]);
        return alive.length === 0 && (await lockHeld(ADVISORY_LOCKS.maintain)) === undefined;
      },
      15_000,
    );
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
    const backend = await waitFor(
      'the measurement of the slow statement',
      async () =>
        (
          await q<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'
             AND query ILIKE '%EXPLAIN (ANALYZE%'`,
          )
        )[0]?.pid,
      90_000,
      run,
    );
    run.child.kill('SIGKILL');
    await run.done;
    await waitFor(
      'the killed run to lose its session and lock',
      async () => {
        const alive = await q(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [backend]);
        return alive.length === 0 && (await lockHeld(ADVISORY_LOCKS.optimize)) === undefined;
      },
      15_000,
    );
    await admin.query('DELETE FROM public.slow_switch');
    await rerunSucceeds(['optimize', '--apply', '--workload', file]);
  });
});
