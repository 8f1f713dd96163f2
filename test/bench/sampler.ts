// `npm run bench -- sampler`: our collection against prometheus-postgres-exporter (Debian package, with
// its example queries.yaml) on the same database: 1000 tables with 2 indexes each and about 5000
// pg_stat_statements entries, on a throwaway PostgreSQL 15 (Debian) cluster this script starts.
// Prints both medians, the ratio (goal: ours <= 0.5 x the exporter's scrape) and our round trips.
// Needs root (apt-get install when packages are missing; the cluster runs as user postgres).
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { parseConfig } from '../../functions/config.ts';
import { connect } from '../../functions/db/connection.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import { collect } from '../../functions/monitor/collect.ts';

const TABLES = Number(process.env.BENCH_TABLES ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const PG_BIN = '/usr/lib/postgresql/15/bin';
const EXAMPLES = '/usr/share/doc/prometheus-postgres-exporter/examples';

function log(line: string) {
  process.stderr.write(`${line}\n`);
}

function ensurePackages() {
  const missing = !existsSync(`${PG_BIN}/initdb`) || !existsSync('/usr/bin/prometheus-postgres-exporter');
  const noContrib = !existsSync('/usr/share/postgresql/15/extension/pg_stat_statements.control');
  if (!missing && !noContrib) return;
  log('installing postgresql-15, postgresql-contrib and prometheus-postgres-exporter (apt-get)');
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  execFileSync(
    'apt-get',
    ['install', '-y', '-qq', 'postgresql-15', 'postgresql-contrib', 'prometheus-postgres-exporter'],
    { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } },
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function asPostgres(cmd: string) {
  execFileSync('su', ['postgres', '-c', cmd], { stdio: 'ignore' });
}

async function startCluster(): Promise<{ url: string; stop(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'dgm-bench-pg15-'));
  chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), 0);
  const port = await freePort();
  asPostgres(`${PG_BIN}/initdb -D ${dir}/data -A trust >/dev/null`);
  asPostgres(
    `${PG_BIN}/pg_ctl -D ${dir}/data -w -l ${dir}/log -o "-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 ` +
      `-c shared_preload_libraries=pg_stat_statements -c max_connections=50 -c fsync=off" start >/dev/null`,
  );
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        asPostgres(`${PG_BIN}/pg_ctl -D ${dir}/data -m immediate stop >/dev/null`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

async function buildFleet(adminUrl: string): Promise<string> {
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query('CREATE DATABASE fleet');
  await admin.end();
  const url = adminUrl.replace(/\/postgres$/, '/fleet');
  const c = new pg.Client(url);
  await c.connect();
  await c.query('CREATE EXTENSION pg_stat_statements');
  await c.query(`SET pg_stat_statements.track = 'all'`);
  log(`building ${TABLES} tables with 2 indexes and 200 rows each`);
  await c.query(`DO $$ BEGIN
    FOR i IN 1..${TABLES} LOOP
      EXECUTE format('CREATE TABLE t%s (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), status text, score float8, payload jsonb)', i);
      EXECUTE format('CREATE INDEX ON t%s (status, created_at DESC)', i);
      EXECUTE format('INSERT INTO t%s (status, score, payload) SELECT (ARRAY[''active'',''pending'',''done''])[1 + g %% 3], random(), jsonb_build_object(''k'', g) FROM generate_series(1, 200) g', i);
    END LOOP; END $$`);
  await c.query('ANALYZE');
  log('running 5 statement shapes per table');
  await c.query(`DO $$ BEGIN
    FOR i IN 1..${TABLES} LOOP
      EXECUTE format('SELECT count(*) FROM t%s WHERE status = %L', i, 'active');
      EXECUTE format('SELECT * FROM t%s WHERE id = 5', i);
      EXECUTE format('SELECT * FROM t%s ORDER BY created_at DESC LIMIT 10', i);
      EXECUTE format('UPDATE t%s SET score = score WHERE id = 7', i);
      EXECUTE format('SELECT status, avg(score) FROM t%s GROUP BY status', i);
    END LOOP; END $$`);
  await c.end();
  return url;
}

function queriesYaml(): string {
  const path = join(tmpdir(), `dgm-bench-queries-${process.pid}.yaml`);
  const gz = `${EXAMPLES}/queries.yaml.gz`;
  const text = existsSync(gz)
    ? gunzipSync(readFileSync(gz)).toString()
    : readFileSync(`${EXAMPLES}/queries.yaml`, 'utf8');
  writeFileSync(path, text);
  return path;
}

async function scrapeExporter(url: string): Promise<{ times: number[]; samples: number }> {
  const port = await freePort();
  const yaml = queriesYaml();
  const exporter = spawn(
    'prometheus-postgres-exporter',
    [`--web.listen-address=127.0.0.1:${port}`, `--extend.query-path=${yaml}`, '--log.level=error'],
    { env: { ...process.env, DATA_SOURCE_NAME: `${url}?sslmode=disable` }, stdio: 'ignore' },
  );
  try {
    const endpoint = `http://127.0.0.1:${port}/metrics`;
    for (let i = 0; i < 100; i++) {
      if (
        await fetch(endpoint).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const times: number[] = [];
    let body = '';
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      body = await (await fetch(endpoint)).text();
      times.push(performance.now() - t0);
    }
    const samples = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
    const statementMetrics = body.split('\n').filter((l) => l.startsWith('pg_stat_statements_')).length;
    log(`exporter exposes ${samples} samples, ${statementMetrics} of them from pg_stat_statements`);
    return { times, samples };
  } finally {
    exporter.kill('SIGTERM');
    rmSync(yaml, { force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
};

ensurePackages();
const cluster = await startCluster();
try {
  const fleetUrl = await buildFleet(cluster.url);
  const config = parseConfig({ target: 'fleet' });
  // The sampler's connection, as the Lambda opens it: timeouts set at connect.
  const client = await connect({
    url: fleetUrl,
    statementTimeoutMs: config.monitoring.statementTimeoutMs,
    lockTimeoutMs: 1_000,
  });
  await migrate(client, config);
  const entries = (
    await client.query<{ n: string }>(
      'SELECT count(*) AS n FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())',
    )
  ).rows[0]!.n;
  const tables = (await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_user_tables')).rows[0]!
    .n;
  log(`fleet: ${tables} tables, ${entries} pg_stat_statements entries`);

  // Two warm-up samples, as the sampler Lambda starts: the first ('auto') also takes the costly figures
  // (bloat, pruning, database size), which the timed samples then carry; the baseline and the statement
  // shapes get stored, as in steady operation.
  for (const full of ['auto', false] as const)
    await collect(client, {
      target: 'fleet',
      monitoring: config.monitoring,
      full,
      timeoutsPreset: true,
    });
  const ours: number[] = [];
  let roundTrips = 0;
  let statementEntries = 0;
  for (let i = 0; i < RUNS; i++) {
    const s = await collect(client, {
      target: 'fleet',
      monitoring: config.monitoring,
      full: false,
      timeoutsPreset: true,
    });
    ours.push(s.collectMs);
    roundTrips = s.roundTrips;
    statementEntries = s.statements.available ? s.statements.entries : 0;
    if (s.storage.databaseBytes == null) throw new Error('the timed samples carry no database size');
  }
  const fullSample = await collect(client, {
    target: 'fleet',
    monitoring: config.monitoring,
    full: true,
    timeoutsPreset: true,
  });
  await client.end();

  const exporter = await scrapeExporter(fleetUrl);
  const ourMedian = median(ours);
  const exporterMedian = median(exporter.times);
  console.log(
    `exporter scrape: median ${(exporterMedian / 1000).toFixed(3)} s over ${RUNS} scrapes, ${exporter.samples} samples (its pg_stat_statements query fails on 13+: no statement figures)`,
  );
  console.log(
    `dgm-db-ops collect: median ${(ourMedian / 1000).toFixed(3)} s over ${RUNS} samples, ${roundTrips} round trips, ${statementEntries} statements covered`,
  );
  console.log(
    `dgm-db-ops collect with the costly figures (database size, bloat, archive scores, pruning): ${(fullSample.collectMs / 1000).toFixed(3)} s, ${fullSample.roundTrips} round trips`,
  );
  console.log(`ratio ours/exporter: ${(ourMedian / exporterMedian).toFixed(2)} (goal <= 0.50)`);
} finally {
  cluster.stop();
}
