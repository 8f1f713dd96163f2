// `npm run bench -- maintenance`: our partition maintenance against pg_partman 4.7's run_maintenance_proc()
// on identical copies of 50 monthly-partitioned parents that each need about 12 new and 12 dropped
// partitions (Debian PostgreSQL 15 + postgresql-15-partman, a throwaway cluster started here), then our
// run again under a concurrent insert load: failed client transactions and rows lost.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { parseConfig } from '../../functions/config.ts';
import { connect } from '../../functions/db/connection.ts';
import { maintain } from '../../functions/jobs/maintain.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import { silentLogger } from '../../functions/ports.ts';

const PARENTS = Number(process.env.BENCH_PARENTS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 4);
const PORT = Number(process.env.BENCH_PORT ?? 55447);
const BIN = '/usr/lib/postgresql/15/bin';
const log = (m: string) => process.stderr.write(`${m}\n`);

function sh(cmd: string, args: string[], asPostgres = false): string {
  const [c, a] =
    asPostgres && process.getuid?.() === 0
      ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]]
      : [cmd, args];
  const r = spawnSync(c, a as string[], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

function ensurePackages(): void {
  const ok =
    spawnSync('dpkg', ['-s', 'postgresql-15', 'postgresql-15-partman'], { stdio: 'ignore' }).status === 0;
  if (ok) return;
  log('installing postgresql-15 and postgresql-15-partman (Debian)');
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  sh('apt-get', ['install', '-y', '-qq', 'postgresql-15', 'postgresql-15-partman']);
}

interface Cluster {
  url(db: string): string;
  stop(): void;
}

async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'dgm-bench-maint-'));
  await chmod(dir, 0o777);
  const data = join(dir, 'data');
  sh(`${BIN}/initdb`, ['-D', data, '-A', 'trust', '-U', 'postgres'], true);
  sh(
    `${BIN}/pg_ctl`,
    [
      '-D',
      data,
      '-w',
      '-l',
      join(dir, 'log'),
      '-o',
      `-p ${PORT} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_preload_libraries=pg_stat_statements`,
      'start',
    ],
    true,
  );
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    spawnSync(
      process.getuid?.() === 0 ? 'runuser' : `${BIN}/pg_ctl`,
      process.getuid?.() === 0
        ? ['-u', 'postgres', '--', `${BIN}/pg_ctl`, '-D', data, '-m', 'fast', 'stop']
        : ['-D', data, '-m', 'fast', 'stop'],
      { stdio: 'ignore' },
    );
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    stop();
    process.exit(130);
  });
  return { url: (db) => `postgres://postgres@127.0.0.1:${PORT}/${db}`, stop };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connect({ url });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The anchor's setup (shared/anchors/partman-maintenance.sh): parents from 24 months ago, premake 4, then 16 and 12 months retention. */
async function buildTemplate(cluster: Cluster): Promise<void> {
  await withClient(cluster.url('postgres'), (c) => c.query('CREATE DATABASE bench_tpl'));
  await withClient(cluster.url('bench_tpl'), async (c) => {
    await c.query('CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman');
    await c.query(`
      DO $$ BEGIN
        FOR i IN 1..${PARENTS} LOOP
          EXECUTE format('CREATE TABLE public.m%s (id bigint, ts timestamptz NOT NULL, v float8) PARTITION BY RANGE (ts)', i);
          PERFORM partman.create_parent(format('public.m%s', i), 'ts', 'native', 'monthly', p_premake := 4,
            p_start_partition := to_char(date_trunc('month', now()) - interval '24 months', 'YYYY-MM-DD'));
          EXECUTE format('INSERT INTO public.m%s SELECT g, now() - (g %% 700) * interval ''1 day'', random() FROM generate_series(1, 2000) g', i);
        END LOOP;
      END $$`);
    await c.query(
      `UPDATE partman.part_config SET premake = 16, retention = '12 months', retention_keep_table = false`,
    );
    await c.query('VACUUM ANALYZE');
  });
}

async function copyOf(cluster: Cluster, name: string): Promise<string> {
  await withClient(cluster.url('postgres'), async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name}`);
    await c.query(`CREATE DATABASE ${name} TEMPLATE bench_tpl`);
  });
  return cluster.url(name);
}

/** Every partition of the benchmark's parents as parent + bounds (names differ between the tools). */
const partitionSet = (c: pg.Client) =>
  c
    .query<{ p: string }>(
      `SET TimeZone = 'UTC';
       SELECT p.relname || ' ' || pg_get_expr(k.relpartbound, k.oid) AS p FROM pg_inherits i
       JOIN pg_class p ON p.oid = i.inhparent JOIN pg_class k ON k.oid = i.inhrelid
       JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = 'public'`,
    )
    .then((r) => new Set((r as unknown as pg.QueryResult<{ p: string }>[])[1]!.rows.map((x) => x.p)));

interface Outcome {
  seconds: number;
  created: number;
  dropped: number;
  after: Set<string>;
}

function outcome(seconds: number, before: Set<string>, after: Set<string>): Outcome {
  return {
    seconds,
    created: [...after].filter((p) => !before.has(p)).length,
    dropped: [...before].filter((p) => !after.has(p)).length,
    after,
  };
}

async function timePartman(url: string): Promise<Outcome> {
  return withClient(url, async (c) => {
    const before = await partitionSet(c);
    await c.query('RESET TimeZone');
    const t0 = performance.now();
    await c.query('CALL partman.run_maintenance_proc()');
    const seconds = (performance.now() - t0) / 1000;
    return outcome(seconds, before, await partitionSet(c));
  });
}

const config = parseConfig({});

/** Installs our schema and registers the same 50 sets (not timed); the DGM tables' own sets are left out. */
async function prepareOurs(url: string): Promise<void> {
  await withClient(url, async (c) => {
    await migrate(c, config);
    await c.query('UPDATE dgm.partition_config SET enabled = false');
    await c.query(
      `INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval, premake, retention, storage_parameters)
       SELECT format('public.m%s', i), 'ts', '1 month', 16, '12 months', '{}' FROM generate_series(1, $1::int) i`,
      [PARENTS],
    );
    await c.query('VACUUM ANALYZE');
  });
}

async function timeOurs(url: string): Promise<Outcome & { failed: number; rowsMoved: number }> {
  return withClient(url, async (c) => {
    const before = await partitionSet(c);
    await c.query('RESET TimeZone');
    const t0 = performance.now();
    const result = await maintain(c, config, { task: 'partitions', logger: silentLogger });
    const seconds = (performance.now() - t0) / 1000;
    const byKind = new Map<string, [number, number]>();
    for (const a of result.actions) {
      const [n, ms] = byKind.get(a.kind) ?? [0, 0];
      byKind.set(a.kind, [n + 1, ms + a.durationMs]);
    }
    const inActions = result.actions.reduce((t, a) => t + a.durationMs, 0);
    log(
      `  ours: ${[...byKind].map(([k, [n, ms]]) => `${k} ${n}x ${(ms / 1000).toFixed(2)} s`).join(', ')}; ` +
        `planning, audit and round trips ${(seconds - inActions / 1000).toFixed(2)} s`,
    );
    return {
      ...outcome(seconds, before, await partitionSet(c)),
      failed: result.summary.failed,
      rowsMoved: result.summary.rowsMoved,
    };
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (s: number) => `${s.toFixed(2)} s`;

async function underLoad(cluster: Cluster) {
  const url = await copyOf(cluster, 'bench_load');
  await prepareOurs(url);
  const writers = await Promise.all(Array.from({ length: WRITERS }, () => connect({ url })));
  let stop = false;
  let committed = 0;
  let failed = 0;
  let maxWaitMs = 0;
  const errors = new Map<string, number>();
  const now = Date.now();
  const month = 30 * 86_400_000;
  const loops = writers.map(async (w, k) => {
    let n = 0;
    while (!stop) {
      // Rows within retention: from 11 months back to 15 months ahead (past the 4 premade months they wait
      // in the default partition until the run creates their month and moves them).
      const ts = new Date(now - 11 * month + Math.random() * 26 * month);
      const id = (k + 1) * 1_000_000_000 + ++n;
      const t0 = performance.now();
      try {
        await w.query(
          `INSERT INTO public.m${1 + Math.floor(Math.random() * PARENTS)} (id, ts, v) VALUES ($1, $2, 1)`,
          [id, ts],
        );
        committed++;
      } catch (err) {
        failed++;
        const m = (err as Error).message;
        errors.set(m, (errors.get(m) ?? 0) + 1);
      }
      maxWaitMs = Math.max(maxWaitMs, performance.now() - t0);
    }
  });
  await new Promise((r) => setTimeout(r, 500));
  const run = await timeOurs(url);
  stop = true;
  await Promise.all(loops);
  await Promise.all(writers.map((w) => w.end()));
  const present = await withClient(url, async (c) => {
    const parts = Array.from(
      { length: PARENTS },
      (_, i) => `SELECT count(*) AS n FROM public.m${i + 1} WHERE id >= 1000000000`,
    );
    const { rows } = await c.query<{ n: string }>(`SELECT sum(n) AS n FROM (${parts.join(' UNION ALL ')}) x`);
    return Number(rows[0]!.n);
  });
  return { run, committed, failed, lost: committed - present, maxWaitMs, errors };
}

async function main() {
  ensurePackages();
  const cluster = await startCluster();
  try {
    const version = await withClient(
      cluster.url('postgres'),
      async (c) =>
        (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version.split(
          ' ',
        )[0],
    );
    log(`building ${PARENTS} partitioned parents with pg_partman on PostgreSQL ${version}`);
    await buildTemplate(cluster);
    const partman: number[] = [];
    const ours: number[] = [];
    let shape = '';
    for (let round = 1; round <= ROUNDS; round++) {
      const a = await copyOf(cluster, `bench_partman_${round}`);
      const b = await copyOf(cluster, `bench_ours_${round}`);
      await prepareOurs(b);
      // Alternate which goes first, so neither always meets a colder cache.
      const runPartman = () => timePartman(a);
      const runOurs = () => timeOurs(b);
      const [p, o] =
        round % 2 === 1
          ? [await runPartman(), await runOurs()]
          : await (async () => {
              const o2 = await runOurs();
              return [await runPartman(), o2] as const;
            })();
      if (o.failed > 0) throw new Error(`our run had ${o.failed} failed action(s)`);
      const same = p.after.size === o.after.size && [...p.after].every((x) => o.after.has(x));
      if (!same) throw new Error('pg_partman and dgm-db-ops left different partitions');
      partman.push(p.seconds);
      ours.push(o.seconds);
      shape = `${p.created} partitions created and ${p.dropped} dropped by each (identical partition bounds after)`;
      log(`round ${round}: pg_partman ${fmt(p.seconds)}, dgm-db-ops ${fmt(o.seconds)}; ${shape}`);
    }
    const load = await underLoad(cluster);
    const ratio = median(ours) / median(partman);
    const lines = [
      `maintenance bench: ${PARENTS} monthly parents on PostgreSQL ${version}, ${shape}, ${ROUNDS} rounds on fresh identical copies`,
      `pg_partman 4.7 run_maintenance_proc(): median ${fmt(median(partman))} (${partman.map(fmt).join(', ')})`,
      `dgm-db-ops maintain --task partitions: median ${fmt(median(ours))} (${ours.map(fmt).join(', ')})`,
      `ratio dgm-db-ops / pg_partman: ${ratio.toFixed(2)}x (goal <= 1.0x)`,
      `under load (${WRITERS} writers inserting during the run): maintenance ${fmt(load.run.seconds)}, ${load.run.created} created, ${load.run.dropped} dropped, ${load.run.rowsMoved} rows moved out of default partitions; ` +
        `${load.committed} inserts committed, ${load.failed} failed client transactions, ${load.lost} rows lost, longest insert ${load.maxWaitMs.toFixed(0)} ms`,
    ];
    for (const [m, n] of load.errors) lines.push(`  insert error x${n}: ${m}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    cluster.stop();
  }
}

if (!existsSync(BIN)) {
  ensurePackages();
}
await main();
