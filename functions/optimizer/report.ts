import type pg from 'pg';
import type { ConstitutionalCompliance } from '../compliance/constitution.ts';
import { type ReportHistory, readHistory } from '../monitor/history.ts';
import { measureImprovement, type PerformanceImprovement } from './baselines.ts';
import type { Recommendation } from './recommendations.ts';
import { readSettingsFacts, recommendSettings, type SettingsOptions } from './settings.ts';
import reportSql from './sql/report.sql';
import { applicationStatements, OPS_TABLES, readStatementStats } from './workload.ts';

/**
 * The design's get_performance_report, computed: slow and top statements, the recommendations of the
 * latest optimize run (settings advice recomputed now), the improvement measured since the last change,
 * index usage, partition sizes, the optimizer's own indexes and governance events, the sampler's
 * history. Read-only. jobs/report.ts runs it as a job; render.ts and report-html.ts render it.
 */

export interface ReportQuery {
  queryid: string;
  query: string;
  calls: number;
  mean_ms: number;
  total_ms: number;
  rows: number;
}

export interface ReportIndexUsage {
  schema: string;
  table: string;
  index: string;
  scans: number;
  bytes: number;
  unique: boolean;
  primary: boolean;
  valid: boolean;
  auto_created: boolean;
}

export interface ReportPartition {
  parent: string;
  partition: string;
  bounds: string;
  bytes: number;
  rows: number;
}

/** The report: what the renderers read (the job's result carries it with the job's fields). */
export interface PerformanceReport {
  target: string;
  /** The constitution check the report was read under. */
  constitutional_compliance: ConstitutionalCompliance;
  generated_at: string;
  database: {
    name: string;
    bytes: number;
    server_version: string;
    cache_hit_ratio: number | null;
    statements_available: boolean;
    statements_reason?: string;
    hypopg_available: boolean;
  };
  /** Statements whose mean time is at least slowQueryThresholdMs. */
  slow_queries: ReportQuery[];
  /** The statements taking the most total time. */
  top_queries: ReportQuery[];
  /** The latest optimize run's recommendations, with the settings advice computed now. */
  recommendations: Recommendation[];
  /** Measured now: the window since the last change against the window before it. */
  performance_improvement: PerformanceImprovement;
  last_optimization: {
    run_id: string;
    finished_at: string;
    status: string;
    applied: boolean;
    method: string | null;
    reason: string | null;
    message?: string;
  } | null;
  index_usage: ReportIndexUsage[];
  partition_sizes: ReportPartition[];
  auto_indexes: Array<Record<string, unknown>>;
  governance_events: Array<Record<string, unknown>>;
  /** Names people know statements by (from supplied examples), by queryid. */
  statement_names: Record<string, string>;
  /** The sampler's history (dgm.stat_snapshots): the last day and week, top statements with sparklines. */
  history?: ReportHistory;
}

export interface ReportOptions {
  target: string;
  /** The config's slowQueryThresholdMs: the slow list's cut. */
  slowQueryThresholdMs: number;
  /** optimization.storage: for the settings advice. */
  storage: SettingsOptions['storage'];
  /** How many top statements (default 15). */
  topQueries?: number;
}

/** What the report reads of the latest optimize run's stored result (dgm.optimizer_runs.result). */
interface StoredOptimizeResult {
  message?: string;
  recommendations?: Recommendation[];
  statements?: Array<{ queryid?: string; query: string; name?: string }>;
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Reads and computes the performance report (read-only), under the given compliance check. */
export async function readPerformanceReport(
  client: pg.Client,
  options: ReportOptions,
  compliance: ConstitutionalCompliance,
): Promise<PerformanceReport> {
  const { rows } = await client.query(reportSql, [options.target]);
  const r = rows[0];
  const snapshot = await readStatementStats(client);
  let slow: ReportQuery[] = [];
  let top: ReportQuery[] = [];
  let improvement: PerformanceImprovement = {
    measured: false,
    reason: snapshot.available ? undefined : snapshot.reason,
    per_query: [],
  };
  if (snapshot.available) {
    const stats = [...snapshot.statements.values()].filter((s) => s.calls > 0);
    // Only the application's statements (functions/monitor/own-statements.ts); the lists are cut after
    // the others are left out, from a few times as many candidates.
    const slowCandidates = stats
      .filter((s) => s.totalMs / s.calls >= options.slowQueryThresholdMs)
      .sort((a, b) => b.totalMs / b.calls - a.totalMs / a.calls)
      .slice(0, 200);
    const topCandidates = [...stats].sort((a, b) => b.totalMs - a.totalMs).slice(0, 200);
    const app = await applicationStatements(client, [...new Set([...slowCandidates, ...topCandidates])]);
    const texts = new Map(app.map((s) => [s.queryid, s.text]));
    const slowStats = slowCandidates.filter((s) => texts.has(s.queryid)).slice(0, 20);
    const topStats = topCandidates.filter((s) => texts.has(s.queryid)).slice(0, options.topQueries ?? 15);
    const toQuery = (s: (typeof stats)[number]): ReportQuery => ({
      queryid: s.queryid,
      query: texts.get(s.queryid) ?? '',
      calls: s.calls,
      mean_ms: r3(s.totalMs / s.calls),
      total_ms: r3(s.totalMs),
      rows: s.rows,
    });
    slow = slowStats.map(toQuery);
    top = topStats.map(toQuery);
    // The statements the optimizer analyzed last are the ones an improvement is reported for.
    const last = r.last_run?.result as StoredOptimizeResult | undefined;
    const analyzed = new Map<string, string>();
    for (const s of last?.statements ?? []) if (s.queryid) analyzed.set(s.queryid, s.query);
    improvement = await measureImprovement(client, options.target, snapshot, analyzed);
  }
  const lastResult = r.last_run?.result as StoredOptimizeResult | undefined;
  const settings = recommendSettings(await readSettingsFacts(client), {
    storage: options.storage,
    spills: snapshot.available
      ? [...snapshot.statements.values()]
          .filter((s) => s.tempBlksWritten > 0 && s.calls > 0)
          .map((s) => ({
            queryid: s.queryid,
            tempBytesPerCall: (s.tempBlksWritten * 8192) / s.calls,
            calls: s.calls,
          }))
      : [],
  });
  const recommendations: Recommendation[] = [
    ...(lastResult?.recommendations ?? []).filter((x) => x.kind !== 'setting'),
    ...settings,
  ];
  return {
    target: options.target,
    constitutional_compliance: compliance,
    generated_at: new Date().toISOString(),
    database: {
      name: r.database,
      bytes: Number(r.database_bytes),
      server_version: r.server_version,
      cache_hit_ratio: r.cache_hit_ratio === null ? null : Math.round(r.cache_hit_ratio * 10_000) / 10_000,
      statements_available: snapshot.available,
      statements_reason: snapshot.available ? undefined : snapshot.reason,
      hypopg_available: r.hypopg_available,
    },
    slow_queries: slow,
    top_queries: top,
    recommendations,
    performance_improvement: improvement,
    last_optimization: r.last_run
      ? {
          run_id: r.last_run.run_id,
          finished_at: r.last_run.finished_at,
          status: r.last_run.status,
          applied: r.last_run.applied,
          method: r.last_run.method,
          reason: r.last_run.reason,
          message: lastResult?.message,
        }
      : null,
    // The tool's own tables are not the workload.
    index_usage: (r.index_usage as ReportIndexUsage[])
      .filter((i) => !(i.schema === 'dgm' && OPS_TABLES.has(i.table)))
      .map((i) => ({ ...i, scans: Number(i.scans), bytes: Number(i.bytes) })),
    partition_sizes: (r.partitions as ReportPartition[]).map((p) => ({
      ...p,
      bytes: Number(p.bytes),
      rows: Number(p.rows),
    })),
    auto_indexes: r.auto_indexes,
    governance_events: r.governance_events,
    statement_names: Object.fromEntries(
      (lastResult?.statements ?? []).filter((x) => x.queryid && x.name).map((x) => [x.queryid!, x.name!]),
    ),
    history: await readHistory(client, options.target),
  };
}
