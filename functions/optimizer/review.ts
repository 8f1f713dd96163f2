import type pg from 'pg';
import type { OptimizationConfig } from '../config.ts';
import { quoteQualified } from '../db/identifiers.ts';
import {
  baselineQueries,
  beforeWindowStart,
  listBaselines,
  type WindowFigures,
  windowOf,
} from './baselines.ts';
import type { StatsSnapshot } from './workload.ts';

/**
 * Probation of the indexes the optimizer created: each run looks again at every live one. An index
 * whose statements did not get measurably faster (pg_stat_statements, the window after its creation
 * against the window before) is dropped; so is one still unused after probationDays.
 */

export interface AutoIndexRow {
  id: number;
  index_schema: string;
  index_name: string;
  table_schema: string;
  table_name: string;
  definition: string;
  status: 'building' | 'active' | 'verified';
  run_id: string | null;
  created_at: Date;
  scans_at_creation: number;
  baseline_id: number | null;
  target_queries: Array<{ queryid: string | null; name?: string }>;
}

export interface ProbationFacts {
  exists: boolean;
  valid: boolean;
  scansNow: number;
  ageDays: number;
  /** Calls and time of its statements before creation and since (undefined: not measurable). */
  before?: WindowFigures;
  after?: WindowFigures;
}

export interface ReviewDecision {
  id: number;
  index: string;
  action: 'keep' | 'verify' | 'drop' | 'forget';
  reason: 'no_benefit' | 'unused' | 'improved' | 'on_probation' | 'gone' | 'invalid';
  detail: string;
  figures: Record<string, number | null>;
}

const r4 = (x: number) => Math.round(x * 10_000) / 10_000;

/** The probation verdict for one index (pure). */
export function reviewDecision(
  row: AutoIndexRow,
  f: ProbationFacts,
  config: OptimizationConfig,
): ReviewDecision {
  const index = quoteQualified(row.index_schema, row.index_name);
  const figures: Record<string, number | null> = {
    age_days: Math.round(f.ageDays * 10) / 10,
    scans_since_creation: f.scansNow - row.scans_at_creation,
    calls_before: f.before?.calls ?? null,
    calls_after: f.after?.calls ?? null,
    mean_ms_before: f.before && f.before.calls > 0 ? r4(f.before.totalMs / f.before.calls) : null,
    mean_ms_after: f.after && f.after.calls > 0 ? r4(f.after.totalMs / f.after.calls) : null,
  };
  if (!f.exists)
    return {
      id: row.id,
      index,
      action: 'forget',
      reason: 'gone',
      detail: 'the index no longer exists',
      figures,
    };
  if (!f.valid) {
    return {
      id: row.id,
      index,
      action: 'drop',
      reason: 'invalid',
      detail: 'the index is INVALID (an interrupted build)',
      figures,
    };
  }
  const scans = f.scansNow - row.scans_at_creation;
  const meanBefore = figures.mean_ms_before;
  const meanAfter = figures.mean_ms_after;
  if (
    f.before &&
    f.after &&
    f.before.calls > 0 &&
    f.after.calls >= config.minCallsForVerdict &&
    typeof meanBefore === 'number' &&
    typeof meanAfter === 'number' &&
    meanBefore > 0
  ) {
    const improvement = 1 - meanAfter / meanBefore;
    figures.improvement = r4(improvement);
    if (improvement < config.minLatencyImprovement) {
      return {
        id: row.id,
        index,
        action: 'drop',
        reason: 'no_benefit',
        detail: `its statements ran at ${figures.mean_ms_after} ms on average over ${f.after.calls} calls after creation against ${figures.mean_ms_before} ms before (${(improvement * 100).toFixed(1)}%, needs ${(config.minLatencyImprovement * 100).toFixed(0)}%)`,
        figures,
      };
    }
    if (row.status !== 'verified') {
      return {
        id: row.id,
        index,
        action: 'verify',
        reason: 'improved',
        detail: `its statements got ${(improvement * 100).toFixed(1)}% faster (${figures.mean_ms_before} -> ${figures.mean_ms_after} ms)`,
        figures,
      };
    }
  }
  if (scans <= 0 && f.ageDays >= config.probationDays) {
    return {
      id: row.id,
      index,
      action: 'drop',
      reason: 'unused',
      detail: `no scan in ${Math.floor(f.ageDays)} days (probation ${config.probationDays} days)`,
      figures,
    };
  }
  return {
    id: row.id,
    index,
    action: 'keep',
    reason: row.status === 'verified' ? 'improved' : 'on_probation',
    detail:
      row.status === 'verified'
        ? 'verified earlier'
        : `on probation: ${scans} scans, ${f.after?.calls ?? 0} calls of its statements since creation`,
    figures,
  };
}

export async function liveAutoIndexes(client: pg.Client, target: string): Promise<AutoIndexRow[]> {
  const { rows } = await client.query(
    `SELECT id, index_schema, index_name, table_schema, table_name, definition, status, run_id, created_at,
            scans_at_creation, baseline_id, target_queries
     FROM dgm.auto_indexes
     -- Read under the optimize lock: a 'building' row belongs to a run that died (a non-dry run has
     -- reconciled them already; a dry run shows what probation would do with them).
     WHERE target = $1 AND status IN ('building', 'active', 'verified')
     ORDER BY id`,
    [target],
  );
  return rows.map((r) => ({
    ...r,
    id: Number(r.id),
    scans_at_creation: Number(r.scans_at_creation),
    baseline_id: r.baseline_id === null ? null : Number(r.baseline_id),
    created_at: new Date(r.created_at),
  }));
}

function sumOf(window: Map<string, WindowFigures>, ids: string[]): WindowFigures | undefined {
  let calls = 0;
  let totalMs = 0;
  for (const id of ids) {
    const w = window.get(id);
    if (w) {
      calls += w.calls;
      totalMs += w.totalMs;
    }
  }
  return calls > 0 ? { calls, totalMs } : undefined;
}

/** Gathers the facts for every live auto-created index and decides (read-only). */
export async function reviewAutoIndexes(
  client: pg.Client,
  target: string,
  now: StatsSnapshot,
  config: OptimizationConfig,
): Promise<{ rows: AutoIndexRow[]; decisions: ReviewDecision[] }> {
  const rows = await liveAutoIndexes(client, target);
  if (rows.length === 0) return { rows, decisions: [] };
  const baselines = await listBaselines(client, target);
  const nowFigures = now.available
    ? new Map([...now.statements].map(([id, s]) => [id, { calls: s.calls, totalMs: s.totalMs }]))
    : undefined;
  const decisions: ReviewDecision[] = [];
  for (const row of rows) {
    const qualified = quoteQualified(row.index_schema, row.index_name);
    const { rows: st } = await client.query<{
      exists: boolean;
      valid: boolean | null;
      scans: string;
      age: number;
    }>(
      `SELECT to_regclass($1) IS NOT NULL AS exists,
              (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)) AS valid,
              (SELECT coalesce(sum(s.idx_scan), 0) FROM pg_stat_all_indexes s
                WHERE s.indexrelid IN (SELECT relid FROM pg_partition_tree(to_regclass($1)) UNION SELECT to_regclass($1))) AS scans,
              extract(epoch FROM now() - $2::timestamptz) / 86400 AS age`,
      [qualified, row.created_at],
    );
    const facts: ProbationFacts = {
      exists: st[0]!.exists,
      valid: st[0]!.valid !== false,
      scansNow: Number(st[0]!.scans),
      ageDays: Number(st[0]!.age),
    };
    const ids = row.target_queries.map((q) => q.queryid).filter((q): q is string => !!q);
    const end = baselines.find((b) => b.id === row.baseline_id);
    const start = end
      ? baselines.find((b) => b.kind === 'optimize_start' && b.runId === end.runId)
      : undefined;
    if (
      end &&
      start &&
      nowFigures &&
      ids.length > 0 &&
      now.available &&
      end.statsReset?.getTime() === now.statsReset?.getTime()
    ) {
      const prior = beforeWindowStart(baselines, start);
      const [startQ, endQ, priorQ] = [
        await baselineQueries(client, start.id),
        await baselineQueries(client, end.id),
        prior ? await baselineQueries(client, prior.id) : undefined,
      ];
      facts.before = sumOf(windowOf(priorQ, startQ), ids);
      facts.after = sumOf(windowOf(endQ, nowFigures), ids);
    }
    decisions.push(reviewDecision(row, facts, config));
  }
  return { rows, decisions };
}
