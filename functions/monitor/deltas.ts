/**
 * Cumulative counters of a sample, stored in dgm.stat_snapshots (kind 'sample') as the next sample's
 * baseline, and the arithmetic that turns two of them into per-interval figures. Pure: no database.
 */

export const COUNTERS_VERSION = 1;

export interface DatabaseCounters {
  commits: number;
  rollbacks: number;
  blksRead: number;
  blksHit: number;
  tempFiles: number;
  tempBytes: number;
  deadlocks: number;
}

export interface CheckpointCounters {
  timed: number;
  requested: number;
  buffersWritten: number;
}

export interface SampleCounters {
  v: typeof COUNTERS_VERSION;
  /** Server clock when the counters were read. */
  takenAt: string;
  /** pg_stat_database.stats_reset of the database (null: never reset). */
  statsReset: string | null;
  /** pg_postmaster_start_time(): a restart after a crash discards the statistics. */
  serverStartedAt: string;
  db: DatabaseCounters;
  indexBlocks: { hit: number; read: number };
  checkpoints: CheckpointCounters;
  walLsnBytes: number | null;
  walBuffersFull: number | null;
  /** Per root table (oid): heap and index blocks hit and read. */
  tables: Record<string, { heapHit: number; heapRead: number; idxHit: number; idxRead: number }>;
  /** Per index (oid of the root index): scans. */
  indexes: Record<string, number>;
  /** pg_stat_statements queryids of the sampler's own statements (14+), left out of the workload. */
  ownQueryIds?: string[];
  /** The sample's headline figures, kept for the report's history (not a counter: never diffed). */
  history?: SampleHistory;
}

/** One sample's figures in dgm.stat_snapshots for the report's history; interval figures are null on a first sample. */
export interface SampleHistory {
  intervalSeconds: number | null;
  /** Statement calls and their execution time in the interval (pg_stat_statements, top level). */
  calls: number | null;
  execMs: number | null;
  connections: { active: number; idle: number; idleInTransaction: number };
  cacheHitRatio: number | null;
  /** Measured on the costly samples, carried in between. */
  databaseBytes: number | null;
  /** The top statements of the interval by time (at most 10): the report's sparklines. */
  top: Array<{ queryId: string; calls: number; totalMs: number }>;
}

/** cur - prev, or null when there is no previous value or the counter went down (a reset). */
export function counterDelta(cur: number | null | undefined, prev: number | null | undefined): number | null {
  if (cur == null || prev == null || !Number.isFinite(cur) || !Number.isFinite(prev)) return null;
  return cur >= prev ? cur - prev : null;
}

/** delta / seconds, null when either is missing or the interval is not positive. */
export function perSecond(delta: number | null, seconds: number | null): number | null {
  if (delta == null || seconds == null || !(seconds > 0)) return null;
  return delta / seconds;
}

/** hit / (hit + read), null when nothing was read at all. */
export function hitRatio(hit: number | null, read: number | null): number | null {
  if (hit == null || read == null) return null;
  const total = hit + read;
  return total > 0 ? hit / total : null;
}

export interface IntervalVerdict {
  /** Seconds between the two samples; null when the previous one cannot serve as a baseline. */
  seconds: number | null;
  resetDetected: boolean;
  reason?: string;
}

/**
 * Whether a previous sample is a valid baseline for the current one: same counters version, taken
 * before, and no statistics reset in between (a new stats_reset time, a restart, or any database
 * counter going down). Otherwise every interval figure of this sample is null, never a spike.
 */
export function judgeInterval(cur: SampleCounters, prev: SampleCounters | null | undefined): IntervalVerdict {
  if (!prev) return { seconds: null, resetDetected: false, reason: 'first sample: no previous counters' };
  if (prev.v !== COUNTERS_VERSION) {
    return { seconds: null, resetDetected: false, reason: 'previous sample has an older counters format' };
  }
  const seconds = (Date.parse(cur.takenAt) - Date.parse(prev.takenAt)) / 1000;
  if (!(seconds > 0)) return { seconds: null, resetDetected: false, reason: 'previous sample is not older' };
  const reset =
    (cur.statsReset ?? '') !== (prev.statsReset ?? '') ||
    (Object.keys(cur.db) as Array<keyof DatabaseCounters>).some((k) => cur.db[k] < prev.db[k]);
  if (reset) {
    return {
      seconds: null,
      resetDetected: true,
      reason: 'statistics were reset since the previous sample',
    };
  }
  return { seconds, resetDetected: false };
}

/** The change of every database counter, all null when the interval is not valid. */
export function databaseDeltas(
  cur: SampleCounters,
  prev: SampleCounters | null | undefined,
  verdict: IntervalVerdict,
): Record<keyof DatabaseCounters, number | null> {
  const keys = Object.keys(cur.db) as Array<keyof DatabaseCounters>;
  const out = {} as Record<keyof DatabaseCounters, number | null>;
  for (const k of keys)
    out[k] = verdict.seconds == null || !prev ? null : counterDelta(cur.db[k], prev.db[k]);
  return out;
}

/** A counter's change when the interval is valid; null otherwise. */
export function deltaIfValid(
  verdict: IntervalVerdict,
  cur: number | null | undefined,
  prev: number | null | undefined,
): number | null {
  return verdict.seconds == null ? null : counterDelta(cur, prev);
}
