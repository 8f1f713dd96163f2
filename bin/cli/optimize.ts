import { readFileSync } from 'node:fs';
import { loadModule, parseSync } from 'libpg-query';
import type pg from 'pg';
import { ServerLogSource } from '../../functions/adapters/local/server-log-source.ts';
import { dropDesignIndexes } from '../../functions/demo/design-indexes.ts';
import { REFERENCE_QUERIES } from '../../functions/demo/reference-queries.ts';
import { BadInputError } from '../../functions/errors.ts';
import { jsonSyntaxError, showValue } from '../../functions/format/redact.ts';
import {
  collectBaselineMetrics,
  indexChanges,
  indexChangesMessage,
  type OptimizeResult,
  optimizeDatabase,
  type PublicIndexRecommendation,
} from '../../functions/jobs/optimize.ts';
import type { QueryExample } from '../../functions/optimizer/workload.ts';
import type { Command, DemoContext } from './types.ts';

/**
 * Reads a --workload file: JSON (an array of SQL strings or {sql, params?, name?, calls?}) or SQL
 * statements separated by semicolons. These are literal instances of the workload's statements.
 */
export async function readWorkloadFile(path: string): Promise<QueryExample[]> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new BadInputError(`--workload: cannot read ${showValue(path)}`);
  }
  const source = `workload file ${path}`;
  if (/^\s*\[/.test(text)) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new BadInputError(`--workload: ${showValue(path)} is not valid JSON (${jsonSyntaxError(err)})`);
    }
    if (!Array.isArray(json))
      throw new BadInputError(`--workload: ${showValue(path)} must hold a JSON array`);
    return json.map((item, i) => {
      if (typeof item === 'string') return { sql: item, source };
      const o = item as Record<string, unknown>;
      if (!o || typeof o.sql !== 'string')
        throw new BadInputError(`--workload: item ${i} has no "sql" string`);
      if (o.params !== undefined && !Array.isArray(o.params))
        throw new BadInputError(`--workload: item ${i}: "params" must be an array`);
      if (o.calls !== undefined && (typeof o.calls !== 'number' || o.calls < 1))
        throw new BadInputError(`--workload: item ${i}: "calls" must be a positive number`);
      return {
        sql: o.sql,
        params: o.params as unknown[] | undefined,
        name: typeof o.name === 'string' ? o.name : undefined,
        calls: o.calls as number | undefined,
        source,
      };
    });
  }
  await loadModule();
  let tree: { stmts?: Array<{ stmt_location?: number; stmt_len?: number }> };
  try {
    tree = parseSync(text) as typeof tree;
  } catch (err) {
    throw new BadInputError(
      `--workload: ${showValue(path)} is not valid SQL (${(err as Error).message.split('\n')[0]})`,
    );
  }
  const bytes = Buffer.from(text, 'utf8');
  return (tree.stmts ?? []).map((s) => {
    const start = s.stmt_location ?? 0;
    const sql = bytes
      .subarray(start, s.stmt_len ? start + s.stmt_len : undefined)
      .toString('utf8')
      .trim();
    return { sql, source };
  });
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

/** The readable rendering of an optimize result. */
export function renderOptimize(r: OptimizeResult): string {
  const lines: string[] = [`optimize: ${r.status}: ${r.message}`];
  const method =
    r.method === 'hypopg'
      ? 'HypoPG hypothetical indexes'
      : r.method === 'real_build'
        ? 'real builds in a rolled-back transaction (no HypoPG)'
        : r.method === 'mixed'
          ? 'HypoPG, and real builds rolled back where HypoPG cannot (GIN, partial on partitions)'
          : 'nothing to evaluate';
  lines.push(
    `workload: ${r.workload.analyzed} statement(s) analyzed of ${r.workload.statementsInStats} in pg_stat_statements` +
      `${r.workload.examples ? `, ${r.workload.examples} with literal examples` : ''}; ${r.workload.explains} EXPLAINs; evaluated with ${method}`,
  );
  if (!r.workload.available && r.workload.reason) lines.push(`  ${r.workload.reason}`);
  const pi = r.performance_improvement;
  if (pi.measured && pi.overall) {
    lines.push(
      `measured since the last change: ${pi.overall.speedup}x faster over ${pi.overall.queries} statement(s) (${pi.overall.total_ms_at_before_speed} ms at the earlier speed -> ${pi.overall.total_ms_after} ms)`,
    );
  } else {
    lines.push(`improvement: not measured (${pi.reason ?? 'no data'})`);
  }
  const indexes = r.recommendations.filter((x) => x.kind === 'index');
  const settings = r.recommendations.filter((x) => x.kind === 'setting');
  const drops = r.recommendations.filter((x) => x.kind === 'drop_index');
  lines.push('', `Index recommendations (${indexes.length}):`);
  for (const x of indexes) {
    lines.push(`  ${x.definition}`);
    lines.push(
      `    ${x.reason}; weighted plan cost ${x.weightedCostBefore} -> ${x.weightedCostAfter} (-${pct(x.costReduction)}), evaluated by ${x.evaluation}` +
        `${x.estimatedBytes ? `, ~${Math.round(x.estimatedBytes / 1024)} kB` : ''}`,
    );
    lines.push(`    for: ${x.statements.map((s) => s.name ?? s.queryid ?? s.id).join(', ')}`);
  }
  if (settings.length > 0) {
    lines.push('', `Settings (${settings.length}):`);
    for (const s of settings) {
      lines.push(`  ${s.name}: ${s.current} -> ${s.recommended}: ${s.reason}`);
      if (s.statement) lines.push(`    ${s.statement}`);
      if (s.parameterGroup)
        lines.push(`    RDS parameter group: ${s.parameterGroup.name} = ${s.parameterGroup.value}`);
    }
  }
  if (drops.length > 0) {
    lines.push('', `Indexes to drop (${drops.length}):`);
    for (const d of drops) lines.push(`  ${d.definition}: ${d.detail}`);
  }
  if (r.rejected.length > 0) {
    lines.push('', `Candidates not recommended (${r.rejected.length}):`);
    for (const x of r.rejected) lines.push(`  ${x.definition}: ${x.reason}`);
  }
  lines.push('', 'Statements:');
  for (const s of r.statements) {
    lines.push(`  [${s.verdict}] ${s.name ?? s.query}`);
    lines.push(`    ${s.detail}`);
  }
  if (r.plan.builds.length > 0 || r.plan.skipped.length > 0) {
    lines.push('', r.applied ? 'Build plan (executed):' : 'Build plan (run with --apply to execute):');
    for (const b of r.plan.builds) {
      lines.push(
        `  ${b.name} on ${b.table}: ${b.statements.length} statement(s), ~${Math.round(b.estimatedBytes / 1024)} kB`,
      );
      for (const s of b.statements.slice(0, 4)) lines.push(`    ${s}`);
      if (b.statements.length > 4) lines.push(`    ... ${b.statements.length - 4} more (one per partition)`);
    }
    for (const s of r.plan.skipped) lines.push(`  skipped ${s.name}: ${s.reason}`);
  }
  if (r.actions.length > 0) {
    lines.push('', 'Actions:');
    for (const a of r.actions) {
      lines.push(
        `  ${a.status.padEnd(9)} ${a.action} ${a.target}${a.durationMs !== undefined ? ` (${a.durationMs} ms)` : ''}${a.detail ? `: ${a.detail}` : ''}`,
      );
    }
  }
  if (r.verification.length > 0) {
    lines.push('', 'Verification (measured):');
    for (const v of r.verification) {
      lines.push(`  ${v.index}: ${v.verdict}, ${v.reason}`);
      for (const l of v.latency) {
        lines.push(
          `    ${l.name ?? l.id}: ${l.before_ms} ms -> ${l.after_ms} ms (${pct(l.improvement)} faster)` +
            (l.before_blocks !== undefined
              ? `, ${l.before_blocks} -> ${l.after_blocks} buffers (${pct(l.blocks_improvement ?? 0)} fewer)`
              : ''),
        );
      }
    }
  }
  if (r.probation.length > 0) {
    lines.push('', 'Probation of earlier auto-created indexes:');
    for (const p of r.probation) lines.push(`  ${p.index}: ${p.action} (${p.reason}): ${p.detail}`);
  }
  return lines.join('\n');
}

export const optimizeCommand: Command = {
  name: 'optimize',
  summary: 'Analyze the workload; recommend (or --apply) indexes and settings, measured by the planner',
  usage: 'optimize [--apply] [--workload FILE] [--baseline] [--dry-run] [--json]',
  options: {
    apply: { type: 'boolean', default: false },
    workload: { type: 'string' },
    baseline: { type: 'boolean', default: false },
  },
  flags: {
    apply: {
      text: 'build the recommended indexes (CREATE INDEX CONCURRENTLY), verify each, drop what brings nothing',
    },
    workload: {
      value: 'FILE',
      text: 'the application\'s literal statements: a .sql file (;-separated) or JSON [{"sql", "params", "name", "calls"}]',
    },
    baseline: {
      text: 'only store a pg_stat_statements snapshot, the baseline the next run is measured against',
    },
  },
  examples: [
    'dgm-db-ops optimize',
    'dgm-db-ops optimize --apply',
    'dgm-db-ops optimize --workload queries.sql --json',
  ],
  async validate(input) {
    if (input.values.baseline && input.values.apply)
      throw new BadInputError('optimize: --baseline and --apply do not go together');
    if (input.values.workload) await readWorkloadFile(String(input.values.workload));
  },
  async run(ctx) {
    const examples = ctx.values.workload ? await readWorkloadFile(String(ctx.values.workload)) : [];
    if (ctx.values.baseline) {
      const result = await ctx.withDatabase((client) => collectBaselineMetrics(client, ctx.config));
      return { result, text: `optimize --baseline: ${result.message}` };
    }
    const result = await ctx.withDatabase((client) =>
      optimizeDatabase(client, ctx.config, {
        apply: Boolean(ctx.values.apply),
        dryRun: ctx.flags.dryRun,
        examples,
        reason: 'cli',
        logger: ctx.logger,
        // The server's own log, where this role may read it (superuser, or pg_monitor and
        // pg_read_server_files); otherwise the result says why it was not read.
        logSource: new ServerLogSource(client),
      }),
    );
    return { result, text: renderOptimize(result), exitCode: result.status === 'failed' ? 1 : 0 };
  },
};

interface MixTiming {
  name: string;
  medianMs: number;
  rows: number;
}

async function timeMix(client: pg.Client, runs: number): Promise<MixTiming[]> {
  const out: MixTiming[] = [];
  for (const q of REFERENCE_QUERIES) {
    const times: number[] = [];
    let rows = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const res = await client.query(q.sql, q.params());
      times.push(performance.now() - t0);
      rows = res.rowCount ?? 0;
    }
    times.sort((a, b) => a - b);
    out.push({ name: q.name, medianMs: times[Math.floor(times.length / 2)]!, rows });
  }
  return out;
}

/**
 * The demo's last step: the design's secondary indexes are removed, the reference mix runs, optimize
 * --apply finds and builds indexes from that workload, the mix runs again; latencies before and after
 * are printed, timed here and measured by a second optimize run from pg_stat_statements baselines.
 */
export async function demoOptimize(client: pg.Client, ctx: DemoContext): Promise<string> {
  const config = {
    ...ctx.config,
    optimization: {
      ...ctx.config.optimization,
      maxIndexesPerRun: Math.max(ctx.config.optimization.maxIndexesPerRun, 10),
      maxIndexesPerTable: Math.max(ctx.config.optimization.maxIndexesPerTable, 4),
    },
  };
  const design = await dropDesignIndexes(client);
  ctx.logger.info(`demo: dropped ${design.length} design indexes; running the reference mix`);
  await collectBaselineMetrics(client, config);
  const runs = 5;
  const before = await timeMix(client, runs);
  const examples: QueryExample[] = REFERENCE_QUERIES.map((q) => ({
    sql: q.sql,
    params: q.params(),
    name: q.name,
    source: 'reference mix',
  }));
  const applied = await optimizeDatabase(client, config, {
    apply: true,
    examples,
    reason: 'demo',
    logger: ctx.logger,
  });
  const after = await timeMix(client, runs);
  const measured = await optimizeDatabase(client, config, { examples, reason: 'demo', logger: ctx.logger });
  const width = Math.max(...before.map((b) => b.name.length));
  const table = [
    `${'query'.padEnd(width)}  ${'before ms'.padStart(10)}  ${'after ms'.padStart(9)}  ${'speedup'.padStart(8)}`,
    `${'-'.repeat(width)}  ${'-'.repeat(10)}  ${'-'.repeat(9)}  ${'-'.repeat(8)}`,
    ...before.map((b, i) => {
      const a = after[i]!;
      return `${b.name.padEnd(width)}  ${b.medianMs.toFixed(2).padStart(10)}  ${a.medianMs.toFixed(2).padStart(9)}  ${`${(b.medianMs / Math.max(a.medianMs, 1e-3)).toFixed(1)}x`.padStart(8)}`;
    }),
  ];
  const totalBefore = before.reduce((s, b) => s + b.medianMs, 0);
  const totalAfter = after.reduce((s, a) => s + a.medianMs, 0);
  const changed = indexChanges(applied.actions);
  const pi = measured.performance_improvement;
  // Each recommendation with what became of it, so the list and the counts tell the same story.
  const fate = (r: PublicIndexRecommendation): string => {
    const q = `${r.schema}.${r.name}`;
    if (changed.kept.includes(q)) return 'created';
    if (changed.droppedAfterVerification.includes(q)) {
      const v = applied.verification.find((x) => x.index === q);
      return `created, then dropped again: ${v?.reason ?? 'no measured benefit'}`;
    }
    const skipped = applied.plan.skipped.find((x) => x.name === r.name);
    return `not created: ${skipped?.reason ?? 'its build failed'}`;
  };
  const indexRecs = applied.recommendations.filter((r): r is PublicIndexRecommendation => r.kind === 'index');
  return [
    `Removed the design's ${design.length} secondary indexes; optimize --apply read the reference mix from pg_stat_statements, recommended ${indexRecs.length} index(es) (evaluated with ${applied.method}) and ${indexChangesMessage(applied.actions, 0)}:`,
    ...indexRecs.map((r) => `  ${r.definition}\n    -> ${fate(r)}`),
    '',
    `Reference queries, median of ${runs} runs (timed by the client):`,
    table.join('\n'),
    `total ${totalBefore.toFixed(1)} ms -> ${totalAfter.toFixed(1)} ms (${(totalBefore / Math.max(totalAfter, 1e-3)).toFixed(1)}x)`,
    '',
    pi.measured && pi.overall
      ? `Measured by optimize from pg_stat_statements baselines: ${pi.overall.speedup}x faster (${pi.overall.total_ms_at_before_speed} ms at the earlier speed -> ${pi.overall.total_ms_after} ms over ${pi.overall.calls_after} calls)`
      : `optimize could not measure the improvement: ${pi.reason}`,
  ].join('\n');
}
