import type pg from 'pg';
import historySql from '../sql/queries/report-history.sql';

/**
 * The history the sampler leaves in dgm.stat_snapshots (each sample's counters->'history'), in time
 * buckets: the report's charts of query time, calls, connections, cache hit and size over the last day
 * and week, and its top statements with a sparkline each. How far back it reaches is the snapshot
 * retention (monitoring.snapshotRetentionHours).
 */

export interface HistoryBucket {
  /** Start of the bucket (ISO). */
  at: string;
  samples: number;
  /** Mean statement time of the bucket's calls. */
  meanMs: number | null;
  callsPerSecond: number | null;
  /** Mean client connections (all states) and active ones. */
  connections: number | null;
  active: number | null;
  cacheHitRatio: number | null;
  databaseBytes: number | null;
}

export interface HistoryWindow {
  label: string;
  bucketSeconds: number;
  /** Every bucket of the window, oldest first; a bucket without samples has samples 0 and null figures. */
  buckets: HistoryBucket[];
}

export interface HistoryStatement {
  queryId: string;
  text: string | null;
  calls: number;
  totalMs: number;
  meanMs: number;
  /** Time spent per bucket of the day window (ms), oldest first: the sparkline. */
  spark: number[];
}

export interface ReportHistory {
  target: string;
  day: HistoryWindow;
  week: HistoryWindow;
  /** Statements that took the most time over the day window. */
  topStatements: HistoryStatement[];
  /** Samples in the week window. */
  samples: number;
}

interface Row {
  series: Array<Record<string, number | null>>;
  top: Array<{ queryId: string; bucket: number; calls: number; totalMs: number; text: string | null }>;
}

async function window(
  client: pg.Client,
  target: string,
  end: Date,
  label: string,
  bucketSeconds: number,
  count: number,
): Promise<{ window: HistoryWindow; top: Row['top'] }> {
  const { rows } = await client.query<Row>(historySql, [target, end.toISOString(), bucketSeconds, count]);
  const byBucket = new Map(rows[0]!.series.map((r) => [Number(r.bucket), r]));
  const last = Math.floor(end.getTime() / 1000 / bucketSeconds);
  const buckets: HistoryBucket[] = [];
  for (let b = last - count + 1; b <= last; b++) {
    const r = byBucket.get(b);
    const seconds = r?.seconds ?? null;
    buckets.push({
      at: new Date(b * bucketSeconds * 1000).toISOString(),
      samples: Number(r?.samples ?? 0),
      meanMs: r?.calls && r.execMs != null ? r.execMs / r.calls : null,
      callsPerSecond: r?.calls != null && seconds ? r.calls / seconds : null,
      connections: r?.connections ?? null,
      active: r?.active ?? null,
      cacheHitRatio: r?.cacheHitRatio ?? null,
      databaseBytes: r?.databaseBytes ?? null,
    });
  }
  return { window: { label, bucketSeconds, buckets }, top: rows[0]!.top };
}

/** Reads the last day (30-minute buckets) and week (4-hour buckets) of a target's samples. */
export async function readHistory(
  client: pg.Client,
  target: string,
  end = new Date(),
): Promise<ReportHistory> {
  const day = await window(client, target, end, 'last 24 hours', 1800, 48);
  const week = await window(client, target, end, 'last 7 days', 4 * 3600, 42);
  const first = Math.floor(end.getTime() / 1000 / 1800) - 47;
  const perStatement = new Map<string, HistoryStatement>();
  for (const t of day.top) {
    const s = perStatement.get(t.queryId) ?? {
      queryId: t.queryId,
      text: t.text,
      calls: 0,
      totalMs: 0,
      meanMs: 0,
      spark: Array.from({ length: 48 }, () => 0),
    };
    s.calls += Number(t.calls);
    s.totalMs += Number(t.totalMs);
    const i = Number(t.bucket) - first;
    if (i >= 0 && i < 48) s.spark[i]! += Number(t.totalMs);
    perStatement.set(t.queryId, s);
  }
  const topStatements = [...perStatement.values()]
    .map((s) => ({ ...s, meanMs: s.calls > 0 ? s.totalMs / s.calls : 0 }))
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, 10);
  return {
    target,
    day: day.window,
    week: week.window,
    topStatements,
    samples: week.window.buckets.reduce((n, b) => n + b.samples, 0),
  };
}
