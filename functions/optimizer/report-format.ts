import type { PerformanceReport } from './report.ts';

/**
 * What every rendering of the performance report shares: byte and duration formats, statements cut to
 * one line, the before/after latency rows and the recommendations as title, SQL and reason. Pure.
 */

export interface LatencyRow {
  label: string;
  before: number;
  after: number;
}

export function oneLine(s: string, max = 90): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function ms(x: number): string {
  return x >= 100 ? `${Math.round(x)} ms` : x >= 1 ? `${x.toFixed(1)} ms` : `${x.toFixed(3)} ms`;
}

/** Before/after latency per statement: measured windows if any, else the last run's verification. */
export function latencyRows(report: PerformanceReport): { rows: LatencyRow[]; source: string } {
  const pi = report.performance_improvement;
  const names = new Map(Object.entries(report.statement_names ?? {}));
  if (pi.measured && pi.per_query.length > 0) {
    return {
      source: `pg_stat_statements, ${pi.before_window?.from ?? 'stats reset'} … ${pi.before_window?.to} against ${pi.after_window?.from} … ${pi.after_window?.to}`,
      rows: pi.per_query.slice(0, 15).map((q) => ({
        label: names.get(q.queryid) ?? oneLine(q.query ?? q.queryid, 60),
        before: q.mean_ms_before,
        after: q.mean_ms_after,
      })),
    };
  }
  return { source: 'no measured change yet', rows: [] };
}

/** The recommendations as title, SQL and reason, in the report's order. */
export function recommendationLines(
  report: PerformanceReport,
): Array<{ title: string; sql?: string; why: string }> {
  return report.recommendations.map((r) => {
    if (r.kind === 'index') {
      return {
        title: `index ${r.name} on ${r.table} (plan cost -${Math.round(r.costReduction * 100)}%, ${r.evaluation})`,
        sql: r.definition,
        why: r.reason,
      };
    }
    if (r.kind === 'setting') {
      return {
        title: `${r.name}: ${r.current} -> ${r.recommended} (${r.scope})`,
        sql:
          r.statement ??
          (r.parameterGroup
            ? `RDS parameter group: ${r.parameterGroup.name} = ${r.parameterGroup.value}`
            : undefined),
        why: r.reason,
      };
    }
    return { title: `drop ${r.index} (${r.reason})`, sql: r.definition, why: r.detail };
  });
}
