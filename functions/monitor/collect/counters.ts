/**
 * The sample's cumulative counters (stored as the next sample's baseline) read from round trips 1 and 2,
 * and the previous sample they are compared with.
 */
import {
  type CheckpointCounters,
  COUNTERS_VERSION,
  databaseDeltas,
  type IntervalVerdict,
  judgeInterval,
  type SampleCounters,
} from '../deltas.ts';
import type { ServerFacts } from './server.ts';
import { iso, type Json, list, num, numOrNull, str } from './values.ts';

/** Older than this, the previous sample is no baseline: its interval figures would mislead. */
const STALE_BASELINE_SECONDS = 6 * 3600;

export interface CounterReading {
  counters: SampleCounters;
  /** pg_stat_checkpointer's row (17+), null before: the checkpoint figures come from pg_stat_bgwriter. */
  checkpointer: Json | null;
  bgwriter: Json;
}

export function readCounters(cat: Json, rt2: Json, server: ServerFacts): CounterReading {
  const db = cat.database as Json;
  const bg = (cat.bgwriter as Json) ?? {};
  const ckpt = (rt2.checkpointer as Json | undefined) ?? null;
  const walStats = (rt2.wal_stats as Json | undefined) ?? null;
  const checkpoints: CheckpointCounters = ckpt
    ? {
        timed: num(ckpt.num_timed),
        requested: num(ckpt.num_requested),
        buffersWritten: num(ckpt.buffers_written),
      }
    : {
        timed: num(bg.checkpoints_timed),
        requested: num(bg.checkpoints_req),
        buffersWritten: num(bg.buffers_checkpoint),
      };
  const tableTotals = cat.table_totals as Json;
  const counters: SampleCounters = {
    v: COUNTERS_VERSION,
    takenAt: iso(cat.taken_at)!,
    statsReset: iso(db.statsReset),
    serverStartedAt: iso(server.raw.startedAt)!,
    db: {
      commits: num(db.commits),
      rollbacks: num(db.rollbacks),
      blksRead: num(db.blksRead),
      blksHit: num(db.blksHit),
      tempFiles: num(db.tempFiles),
      tempBytes: num(db.tempBytes),
      deadlocks: num(db.deadlocks),
    },
    indexBlocks: { hit: num(tableTotals.idxHit), read: num(tableTotals.idxRead) },
    checkpoints,
    walLsnBytes: numOrNull(cat.wal_lsn_bytes),
    walBuffersFull: walStats ? num(walStats.wal_buffers_full) : null,
    tables: Object.fromEntries(
      list(cat.tables).map((t) => [
        str(t.oid),
        {
          heapHit: num(t.heapHit),
          heapRead: num(t.heapRead),
          idxHit: num(t.idxHit),
          idxRead: num(t.idxRead),
        },
      ]),
    ),
    indexes: Object.fromEntries(list((cat.indexes as Json).top).map((i) => [str(i.oid), num(i.scans)])),
    ownQueryIds: [cat.own_query_id, rt2.own_query_id].filter((q) => q != null).map(str),
  };
  return { counters, checkpointer: ckpt, bgwriter: bg };
}

export interface Interval {
  /** The previous sample's counters, null when there is none usable. */
  prev: SampleCounters | null;
  verdict: IntervalVerdict;
  dbDelta: ReturnType<typeof databaseDeltas>;
}

/** The interval since the stored previous sample (round trip 2's last_sample), judged. */
export function intervalSince(
  counters: SampleCounters,
  rt2: Json,
  server: ServerFacts,
  warnings: string[],
): Interval {
  const lastSample = rt2.last_sample as { takenAt: string; counters: SampleCounters } | null | undefined;
  let prev: SampleCounters | null = lastSample?.counters ?? null;
  if (prev && (Date.parse(counters.takenAt) - Date.parse(prev.takenAt)) / 1000 > STALE_BASELINE_SECONDS) {
    warnings.push('previous sample is older than 6 hours: no interval figures in this sample');
    prev = null;
  }
  const verdict =
    server.historyReason && !prev
      ? { seconds: null, resetDetected: false, reason: server.historyReason }
      : judgeInterval(counters, prev);
  return { prev, verdict, dbDelta: databaseDeltas(counters, prev, verdict) };
}
