// `npm run bench -- optimizer`: the DGM schema without its secondary indexes, the design's reference
// query mix, `optimize --apply`, the mix again; then on the same data the mix with the design's
// hand-written indexes instead. Prints both ratios: total workload time before/after (goal >= 10x) and
// the share of the hand-written indexes' improvement the optimizer reaches (goal >= 80%).
//
// Env: DGM_BENCH_URL (a server's superuser URL; default an embedded PostgreSQL 18), DGM_BENCH_SCALE
// (demo workload scale, default 1 = about 1.03M rows), DGM_BENCH_ROUNDS (measured rounds, default 20).
import pg from 'pg';
import {
  type EmbeddedServer,
  startEmbeddedPostgres,
} from '../../functions/adapters/local/embedded-postgres.ts';
import { parseConfig } from '../../functions/config.ts';
import { quoteIdent } from '../../functions/db/identifiers.ts';
import { designIndexes } from '../../functions/demo/design-indexes.ts';
import { REFERENCE_QUERIES } from '../../functions/demo/reference-queries.ts';
import { loadDemoWorkload } from '../../functions/demo/workload.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import { optimizeDatabase } from '../../functions/jobs/optimize.ts';

const scale = Number(process.env.DGM_BENCH_SCALE ?? 1);
const rounds = Number(process.env.DGM_BENCH_ROUNDS ?? 20);
const log = (m: string) => process.stderr.write(`${m}\n`);

interface MixRun {
  /** Sum over queries of the median time x rounds: the workload's time, robust to one-off stalls. */
  totalMs: number;
  /** Wall time of all measured rounds, as the client saw it. */
  wallMs: number;
  /** The server's planning and execution time for them (pg_stat_statements). */
  serverMs: number;
  /** Median per query (client). */
  medians: Map<string, number>;
}

async function serverTime(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ ms: number }>(
    `SELECT coalesce(sum(total_exec_time + total_plan_time), 0)::float8 AS ms FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND toplevel`,
  );
  return rows[0]!.ms;
}

/**
 * Runs the reference mix: as prepared statements (how asyncpg, the design's Python client, and most
 * drivers with a statement cache run them: planned once, executed many times) or unprepared (parsed
 * and planned on every call, where planning over ~100 partitions is a floor no index lowers).
 */
async function runMix(client: pg.Client, prepared: boolean): Promise<MixRun> {
  const exec = (q: (typeof REFERENCE_QUERIES)[number]) =>
    prepared
      ? client.query({ name: `ref_${q.name}`, text: q.sql, values: q.params() })
      : client.query(q.sql, q.params());
  // Warm-up rounds: the same cache state for every phase, and prepared plans settled (custom plans
  // for the first five executions, then the plan cache decides).
  for (let i = 0; i < (prepared ? 8 : 3); i++) for (const q of REFERENCE_QUERIES) await exec(q);
  const times = new Map<string, number[]>(REFERENCE_QUERIES.map((q) => [q.name, []]));
  const server0 = await serverTime(client);
  const started = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (const q of REFERENCE_QUERIES) {
      const t0 = performance.now();
      await exec(q);
      times.get(q.name)!.push(performance.now() - t0);
    }
  }
  const wallMs = performance.now() - started;
  const serverMs = (await serverTime(client)) - server0;
  const medians = new Map(
    [...times].map(([k, v]) => {
      const s = [...v].sort((a, b) => a - b);
      return [k, s[Math.floor(s.length / 2)]!];
    }),
  );
  const totalMs = [...medians.values()].reduce((sum, m) => sum + m * rounds, 0);
  return { totalMs, wallMs, serverMs, medians };
}

interface Phase {
  prepared: MixRun;
  simple: MixRun;
}

async function runPhase(client: pg.Client, label: string): Promise<Phase> {
  const prepared = await runMix(client, true);
  const simple = await runMix(client, false);
  log(`${label}: prepared ${prepared.totalMs.toFixed(0)} ms, unprepared ${simple.totalMs.toFixed(0)} ms`);
  return { prepared, simple };
}

let server: EmbeddedServer | undefined;
let adminUrl = process.env.DGM_BENCH_URL;
if (!adminUrl) {
  log('starting an embedded PostgreSQL 18');
  server = await startEmbeddedPostgres();
  adminUrl = server.url;
}
const database = `dgm_bench_optimizer_${process.pid}`;
const admin = new pg.Client(adminUrl);
await admin.connect();
await admin.query(`CREATE DATABASE ${quoteIdent(database)}`);
const url = new URL(adminUrl);
url.pathname = `/${database}`;
const client = new pg.Client(url.toString());
await client.connect();
try {
  // Planning time counts too: with many partitions it is a large part of a fast query.
  await client.query(`SET pg_stat_statements.track_planning = on`);
  const { rows: v } = await client.query<{ v: string }>('SELECT version() AS v');
  log(v[0]!.v);
  const config = parseConfig({
    optimization: { autoIndexCreation: true, maxIndexesPerRun: 12, maxIndexesPerTable: 4 },
  });
  await migrate(client, config);
  log(`loading the demo workload (scale ${scale})`);
  const load = await loadDemoWorkload(client, {
    scale,
    onProgress: (done, what) => {
      if (Math.round(done * 100) % 25 === 0) log(`  ${Math.round(done * 100)}% ${what}`);
    },
  });
  const design = await designIndexes(client);
  for (const d of design) await client.query(`DROP INDEX ${d.name}`);
  // Visibility maps and statistics settled once, the same for every phase.
  await client.query('VACUUM ANALYZE');
  log(`${load.totalRows} rows; dropped the design's ${design.length} secondary indexes`);

  const before = await runPhase(client, 'mix without secondary indexes');
  // The optimizer gets the mix's statements from pg_stat_statements; the mix's SQL is its workload
  // file (pg_stat_statements replaces literal constants by $n, and partial indexes need them).
  const examples = REFERENCE_QUERIES.map((q) => ({
    sql: q.sql,
    params: q.params(),
    name: q.name,
    source: 'reference mix',
  }));
  const t0 = performance.now();
  const optimized = await optimizeDatabase(client, config, {
    apply: true,
    examples,
    reason: 'bench',
    logger: { info: log, warn: log, error: log },
  });
  const optimizeMs = performance.now() - t0;
  const created = optimized.actions.filter((a) => a.action === 'create_index' && a.status === 'succeeded');
  log(
    `optimize --apply: ${optimized.status}, ${created.length} index(es) in ${(optimizeMs / 1000).toFixed(1)} s (${optimized.method})`,
  );
  const after = await runPhase(client, 'mix after optimize --apply');
  const measured = await optimizeDatabase(client, config, { apply: false, examples, reason: 'bench' });

  // The same data with the design's hand-written indexes instead of the optimizer's.
  const { rows: auto } = await client.query<{ name: string }>(
    `SELECT format('%I.%I', index_schema, index_name) AS name FROM dgm.auto_indexes WHERE status IN ('active', 'verified')`,
  );
  for (const a of auto) await client.query(`DROP INDEX ${a.name}`);
  // pg_get_indexdef gives a partitioned index as ON ONLY the parent: rebuilt as one on every partition.
  for (const d of design) await client.query(d.definition.replace(' ON ONLY ', ' ON '));
  await client.query('ANALYZE');
  const hand = await runPhase(client, "mix with the design's indexes");

  const width = Math.max(...REFERENCE_QUERIES.map((q) => q.name.length));
  const ratios = (m: 'prepared' | 'simple', f: 'totalMs' | 'wallMs' | 'serverMs') => {
    const b = before[m][f];
    const a = after[m][f];
    const h = hand[m][f];
    return { b, a, h, speedup: b / a, share: (b - a) / (b - h) };
  };
  const row = (m: 'prepared' | 'simple', f: 'totalMs' | 'wallMs' | 'serverMs', what: string) => {
    const r = ratios(m, f);
    return `  ${what.padEnd(44)} ${r.b.toFixed(1).padStart(9)} ${r.a.toFixed(1).padStart(9)} ${r.h.toFixed(1).padStart(9)}   ${r.speedup.toFixed(1).padStart(5)}x   ${(r.share * 100).toFixed(1).padStart(6)}%`;
  };
  const main = ratios('prepared', 'totalMs');
  const unprepared = ratios('simple', 'totalMs');
  const lines = [
    '',
    `optimizer benchmark: ${load.totalRows.toLocaleString('en-US')} rows, ${REFERENCE_QUERIES.length} reference queries x ${rounds} rounds, ${v[0]!.v.split(' on ')[0]}`,
    `indexes created by optimize --apply in ${(optimizeMs / 1000).toFixed(1)} s (evaluated with ${optimized.method}):`,
    ...optimized.recommendations.filter((r) => r.kind === 'index').map((r) => `  ${r.definition}`),
    '',
    `median ms per query (prepared | unprepared)`,
    `${'query'.padEnd(width)}  ${'none'.padStart(15)}  ${'optimizer'.padStart(15)}  ${'design'.padStart(15)}`,
    ...REFERENCE_QUERIES.map((q) => {
      const cell = (p: Phase) =>
        `${p.prepared.medians.get(q.name)!.toFixed(2)} | ${p.simple.medians.get(q.name)!.toFixed(2)}`.padStart(
          15,
        );
      return `${q.name.padEnd(width)}  ${cell(before)}  ${cell(after)}  ${cell(hand)}`;
    }),
    '',
    `total workload time in ms            no 2nd idx optimizer    design   before/after  share of design's gain`,
    row('prepared', 'totalMs', 'prepared, sum of medians'),
    row('prepared', 'wallMs', 'prepared, wall clock'),
    row('prepared', 'serverMs', 'prepared, server plan+exec'),
    row('simple', 'totalMs', 'unprepared, sum of medians'),
    row('simple', 'wallMs', 'unprepared, wall clock'),
    row('simple', 'serverMs', 'unprepared, server plan+exec'),
    `measured by optimize from pg_stat_statements baselines: ${measured.performance_improvement.overall ? `${measured.performance_improvement.overall.speedup}x` : `not measured (${measured.performance_improvement.reason})`}`,
    '',
    `ratio 1 (total workload time before / after optimize --apply): ${main.speedup.toFixed(1)}x prepared (goal >= 10x: ${main.speedup >= 10 ? 'MET' : 'NOT MET'}), ${unprepared.speedup.toFixed(1)}x unprepared`,
    `ratio 2 (optimizer's improvement / hand-written indexes' improvement): ${(main.share * 100).toFixed(1)}% prepared (goal >= 80%: ${main.share >= 0.8 ? 'MET' : 'NOT MET'}), ${(unprepared.share * 100).toFixed(1)}% unprepared`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await client.end().catch(() => {});
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`).catch(() => {});
  await admin.end().catch(() => {});
  await server?.stop();
}
