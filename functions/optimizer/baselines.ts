import type pg from 'pg';
import type { StatementStat, StatsSnapshot } from './workload.ts';

/**
 * Baselines: pg_stat_statements snapshots stored in dgm.performance_baselines, and improvement measured
 * between them. A window is the difference of two snapshots (or one snapshot since the stats reset); a
 * change (indexes created or dropped) is judged by the window after it against the window before it.
 */

export type BaselineKind = 'baseline' | 'optimize_start' | 'optimize_end';

export interface StoredBaseline {
  id: number;
  kind: BaselineKind;
  runId: string | null;
  takenAt: Date;
  statsReset: Date | null;
  changes: unknown[];
}

/** Statements kept per snapshot, by total time (the rest are noise for a per-query comparison). */
export const BASELINE_STATEMENTS = 1000;

/** Stores a snapshot; texts are kept for the statements given (those the optimizer analyzed). */
export async function storeBaseline(
  client: pg.Client,
  snapshot: Extract<StatsSnapshot, { available: true }>,
  options: {
    target: string;
    kind: BaselineKind;
    runId?: string;
    texts?: Map<string, string>;
    changes?: unknown[];
  },
): Promise<number> {
  const top = [...snapshot.statements.values()]
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, BASELINE_STATEMENTS);
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO dgm.performance_baselines
       (target, kind, run_id, taken_at, stats_reset, statements, total_calls, total_exec_ms, changes)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
    [
      options.target,
      options.kind,
      options.runId ?? null,
      snapshot.takenAt,
      snapshot.statsReset,
      top.length,
      Math.round(top.reduce((s, x) => s + x.calls, 0)),
      top.reduce((s, x) => s + x.totalMs, 0),
      JSON.stringify(options.changes ?? []),
    ],
  );
  const id = Number(rows[0]!.id);
  if (top.length > 0) {
    await client.query(
      `INSERT INTO dgm.performance_baseline_queries
         (baseline_id, queryid, calls, total_exec_ms, rows, shared_blks_hit, shared_blks_read, temp_blks_written, query)
       SELECT $1, q.queryid, q.calls, q.total_ms, q.rows, q.hit, q.read, q.temp, q.query
       FROM jsonb_to_recordset($2::jsonb) AS q(queryid bigint, calls bigint, total_ms float8, rows bigint,
                                              hit bigint, read bigint, temp bigint, query text)`,
      [
        id,
        JSON.stringify(
          top.map((s) => ({
            queryid: s.queryid,
            calls: Math.round(s.calls),
            total_ms: s.totalMs,
            rows: Math.round(s.rows),
            hit: Math.round(s.sharedBlksHit),
            read: Math.round(s.sharedBlksRead),
            temp: Math.round(s.tempBlksWritten),
            query: options.texts?.get(s.queryid) ?? null,
          })),
        ),
      ],
    );
  }
  return id;
}

/** Keeps the newest `keep` baselines of a target (their queries go with them). */
export async function pruneBaselines(client: pg.Client, target: string, keep = 200): Promise<void> {
  await client.query(
    `DELETE FROM dgm.performance_baselines WHERE target = $1 AND id NOT IN
       (SELECT id FROM dgm.performance_baselines WHERE target = $1 ORDER BY taken_at DESC LIMIT $2)
       AND id NOT IN (SELECT baseline_id FROM dgm.auto_indexes WHERE baseline_id IS NOT NULL
                      AND status IN ('building', 'active', 'verified'))`,
    [target, keep],
  );
}

export async function listBaselines(client: pg.Client, target: string): Promise<StoredBaseline[]> {
  const { rows } = await client.query(
    `SELECT id, kind, run_id, taken_at, stats_reset, changes FROM dgm.performance_baselines
     WHERE target = $1 ORDER BY taken_at, id`,
    [target],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    kind: r.kind,
    runId: r.run_id,
    takenAt: new Date(r.taken_at),
    statsReset: r.stats_reset ? new Date(r.stats_reset) : null,
    changes: r.changes ?? [],
  }));
}

export interface BaselineQuery {
  queryid: string;
  calls: number;
  totalMs: number;
  query: string | null;
}

export async function baselineQueries(client: pg.Client, id: number): Promise<Map<string, BaselineQuery>> {
  const { rows } = await client.query(
    `SELECT queryid::text AS queryid, calls::float8 AS calls, total_exec_ms AS total_ms, query
     FROM dgm.performance_baseline_queries WHERE baseline_id = $1`,
    [id],
  );
  return new Map(
    rows.map((r) => [r.queryid, { queryid: r.queryid, calls: r.calls, totalMs: r.total_ms, query: r.query }]),
  );
}

/** Per-query figures of a window: calls and time between two snapshots. */
export interface WindowFigures {
  calls: number;
  totalMs: number;
}

/** The difference end - start per query; undefined start means "since the stats reset". */
export function windowOf(
  start: Map<string, { calls: number; totalMs: number }> | undefined,
  end: Map<string, { calls: number; totalMs: number }>,
): Map<string, WindowFigures> {
  const out = new Map<string, WindowFigures>();
  for (const [id, e] of end) {
    const s = start?.get(id);
    const calls = e.calls - (s?.calls ?? 0);
    const totalMs = e.totalMs - (s?.totalMs ?? 0);
    // A statement evicted and re-entered pg_stat_statements restarts its counters: no usable delta.
    if (calls > 0 && totalMs >= 0) out.set(id, { calls, totalMs });
  }
  return out;
}

export interface QueryImprovement {
  queryid: string;
  query: string | null;
  calls_before: number;
  calls_after: number;
  mean_ms_before: number;
  mean_ms_after: number;
  /** 1 - after/before: 0.9 is 90% faster; negative is slower. */
  improvement: number;
  speedup: number;
}

export interface PerformanceImprovement {
  measured: boolean;
  reason?: string;
  before_window?: { from: string | null; to: string };
  after_window?: { from: string; to: string };
  /** The change the windows are around: the run and what it changed. */
  change?: { run_id: string | null; at: string; changes: unknown[] };
  overall?: {
    queries: number;
    calls_after: number;
    /** The after window's executions at before-window speed, and as measured. */
    total_ms_at_before_speed: number;
    total_ms_after: number;
    improvement: number;
    speedup: number;
  };
  per_query: QueryImprovement[];
}

const r2 = (x: number) => Math.round(x * 100) / 100;
const r4 = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * Compares two windows query by query (only queries with calls in both) and overall, weighting by the
 * after window's calls: what those executions took against what they would have at the earlier speed.
 */
export function compareWindows(
  before: Map<string, WindowFigures>,
  after: Map<string, WindowFigures>,
  texts: Map<string, string | null>,
  minCalls = 1,
): Pick<PerformanceImprovement, 'overall' | 'per_query'> {
  const per: QueryImprovement[] = [];
  for (const [id, a] of after) {
    const b = before.get(id);
    if (!b || b.calls < minCalls || a.calls < minCalls) continue;
    const mb = b.totalMs / b.calls;
    const ma = a.totalMs / a.calls;
    if (mb <= 0) continue;
    per.push({
      queryid: id,
      query: texts.get(id) ?? null,
      calls_before: b.calls,
      calls_after: a.calls,
      mean_ms_before: r4(mb),
      mean_ms_after: r4(ma),
      improvement: r4(1 - ma / mb),
      speedup: ma > 0 ? r2(mb / ma) : Number.POSITIVE_INFINITY,
    });
  }
  per.sort((x, y) => y.calls_after * y.mean_ms_before - x.calls_after * x.mean_ms_before);
  if (per.length === 0) return { per_query: [] };
  const atBefore = per.reduce((s, q) => s + q.calls_after * q.mean_ms_before, 0);
  const actual = per.reduce((s, q) => s + q.calls_after * q.mean_ms_after, 0);
  return {
    per_query: per,
    overall: {
      queries: per.length,
      calls_after: per.reduce((s, q) => s + q.calls_after, 0),
      total_ms_at_before_speed: r2(atBefore),
      total_ms_after: r2(actual),
      improvement: atBefore > 0 ? r4(1 - actual / atBefore) : 0,
      speedup: actual > 0 ? r2(atBefore / actual) : Number.POSITIVE_INFINITY,
    },
  };
}

function toFigures(stats: Map<string, StatementStat>): Map<string, WindowFigures> {
  return new Map([...stats].map(([id, s]) => [id, { calls: s.calls, totalMs: s.totalMs }]));
}

const sameReset = (a: Date | null, b: Date | null) => (a?.getTime() ?? null) === (b?.getTime() ?? null);

/**
 * Where the "before" window of a change starts: the previous change (an optimize run that created or
 * dropped indexes) or an explicit baseline, whichever is later; undefined means since the stats reset.
 * Runs in between that changed nothing do not cut the window short.
 */
export function beforeWindowStart(all: StoredBaseline[], start: StoredBaseline): StoredBaseline | undefined {
  return [...all]
    .reverse()
    .find(
      (b) =>
        b.takenAt < start.takenAt &&
        sameReset(b.statsReset, start.statsReset) &&
        (b.kind === 'baseline' || (b.kind === 'optimize_end' && b.changes.length > 0)),
    );
}

/**
 * The improvement since the latest change: the window from the end of the run that changed something
 * to now, against the window that ended when that run started (from the snapshot before it, or the
 * stats reset). Measured, never assumed: with no such change, or a stats reset in between, it says why.
 */
export async function measureImprovement(
  client: pg.Client,
  target: string,
  now: Extract<StatsSnapshot, { available: true }>,
  texts: Map<string, string>,
): Promise<PerformanceImprovement> {
  const all = await listBaselines(client, target);
  const change = [...all].reverse().find((b) => b.kind === 'optimize_end' && b.changes.length > 0);
  if (!change) {
    return {
      measured: false,
      reason: 'no earlier optimize run changed anything yet; this run stored the baseline to measure against',
      per_query: [],
    };
  }
  const start = all.find((b) => b.kind === 'optimize_start' && b.runId !== null && b.runId === change.runId);
  if (!start)
    return { measured: false, reason: 'the baseline taken before the last change is gone', per_query: [] };
  if (!sameReset(change.statsReset, now.statsReset) || !sameReset(start.statsReset, change.statsReset)) {
    return {
      measured: false,
      reason: 'pg_stat_statements was reset since the last change; the windows cannot be compared',
      per_query: [],
    };
  }
  const prior = beforeWindowStart(all, start);
  // One at a time: a client runs one query at a time (queued ones are deprecated in pg 8, an error in 9).
  const startQ = await baselineQueries(client, start.id);
  const changeQ = await baselineQueries(client, change.id);
  const priorQ = prior ? await baselineQueries(client, prior.id) : undefined;
  const before = windowOf(priorQ, startQ);
  const after = windowOf(changeQ, toFigures(now.statements));
  const names = new Map<string, string | null>();
  for (const m of [startQ, changeQ]) for (const [id, q] of m) if (q.query) names.set(id, q.query);
  for (const [id, t] of texts) names.set(id, t);
  // The workload's statements only: the tool's own and catalog queries are not what was optimized.
  const workload = new Map([...after].filter(([id]) => texts.has(id)));
  const cmp = compareWindows(before, workload, names);
  const result: PerformanceImprovement = {
    measured: cmp.per_query.length > 0,
    before_window: {
      from: prior?.takenAt.toISOString() ?? now.statsReset?.toISOString() ?? null,
      to: start.takenAt.toISOString(),
    },
    after_window: { from: change.takenAt.toISOString(), to: now.takenAt.toISOString() },
    change: { run_id: change.runId, at: change.takenAt.toISOString(), changes: change.changes },
    ...cmp,
  };
  if (!result.measured) result.reason = 'no statement ran both before and after the last change';
  return result;
}
