/**
 * The snapshot's sections computed from round trip 1 (catalog and cumulative statistics) and the interval
 * since the previous sample: one function per section. Pure.
 */
import type { MonitoringConfig } from '../../config.ts';
import { deltaIfValid, hitRatio, perSecond, type SampleCounters, type SampleHistory } from '../deltas.ts';
import type {
  CacheStats,
  CheckpointStats,
  ComplianceStats,
  ConnectionState,
  ConnectionStats,
  IndexStats,
  IndexUse,
  LockStats,
  ReplicationStats,
  StatementStats,
  StorageStats,
  TransactionStats,
  Unavailable,
  WalStats,
  WraparoundStats,
} from '../snapshot.ts';
import type { ArchiveFigures } from './costly.ts';
import type { CounterReading, Interval } from './counters.ts';
import {
  iso,
  type Json,
  list,
  maxOrNull,
  num,
  numOrNull,
  ratioOf,
  round3,
  round4,
  round4n,
  str,
} from './values.ts';

const CONNECTION_STATES: ConnectionState[] = [
  'active',
  'idle',
  'idle_in_transaction',
  'idle_in_transaction_aborted',
  'fastpath_function_call',
  'disabled',
];

export function connectionsOf(cat: Json): ConnectionStats {
  const conn = cat.connections as Json;
  const server = cat.server as Json;
  const maxConnections = num(server.maxConnections);
  const reserved = num(server.reservedConnections);
  const byState = Object.fromEntries(CONNECTION_STATES.map((k) => [k, num(conn[k])])) as Record<
    ConnectionState,
    number
  >;
  return {
    total: num(conn.total),
    byState,
    maxConnections,
    reservedConnections: reserved,
    utilization: round4(num(conn.total) / Math.max(1, maxConnections - reserved)),
    longestTransactionSeconds: round3(num(conn.longestTransactionSeconds)),
    longestQuerySeconds: round3(num(conn.longestQuerySeconds)),
    idleInTransaction: byState.idle_in_transaction + byState.idle_in_transaction_aborted,
    longestIdleInTransactionSeconds: round3(num(conn.longestIdleInTransactionSeconds)),
  };
}

export function transactionsOf(counters: SampleCounters, { dbDelta, verdict }: Interval): TransactionStats {
  const seconds = verdict.seconds;
  return {
    commitsTotal: counters.db.commits,
    rollbacksTotal: counters.db.rollbacks,
    commitsPerSecond: perSecond(dbDelta.commits, seconds),
    rollbacksPerSecond: perSecond(dbDelta.rollbacks, seconds),
    rollbackRatio: ratioOf(
      dbDelta.rollbacks,
      (dbDelta.commits ?? 0) + (dbDelta.rollbacks ?? 0),
      dbDelta.commits,
    ),
  };
}

export function cacheOf(
  cat: Json,
  counters: SampleCounters,
  iv: Interval,
  cfg: MonitoringConfig,
): CacheStats {
  const { prev, verdict, dbDelta } = iv;
  const prevTables = prev?.tables ?? {};
  return {
    hitRatio: round4n(hitRatio(dbDelta.blksHit, dbDelta.blksRead)),
    hitRatioTotal: round4n(hitRatio(counters.db.blksHit, counters.db.blksRead)),
    indexHitRatio: round4n(
      hitRatio(
        deltaIfValid(verdict, counters.indexBlocks.hit, prev?.indexBlocks.hit),
        deltaIfValid(verdict, counters.indexBlocks.read, prev?.indexBlocks.read),
      ),
    ),
    indexHitRatioTotal: round4n(hitRatio(counters.indexBlocks.hit, counters.indexBlocks.read)),
    tables: list(cat.tables)
      .filter((t) => t.activityRank != null && num(t.activityRank) <= cfg.topTables)
      .map((t) => {
        const cur = counters.tables[str(t.oid)]!;
        const p = prevTables[str(t.oid)];
        const hit = p ? deltaIfValid(verdict, cur.heapHit + cur.idxHit, p.heapHit + p.idxHit) : null;
        const read = p ? deltaIfValid(verdict, cur.heapRead + cur.idxRead, p.heapRead + p.idxRead) : null;
        return {
          table: { schema: str(t.schema), name: str(t.name) },
          hitRatio: round4n(hitRatio(hit, read)),
          hitRatioTotal: round4n(hitRatio(cur.heapHit + cur.idxHit, cur.heapRead + cur.idxRead)),
          blocksReadInInterval: read,
        };
      }),
  };
}

export function locksOf(cat: Json, counters: SampleCounters, { dbDelta }: Interval): LockStats {
  const blocked = list(cat.blocked).map((b) => ({
    pid: num(b.pid),
    blockedBy: ((b.blockedBy as number[]) ?? []).map(Number),
    waitSeconds: round3(num(b.waitSeconds)),
    waitEvent: b.waitEvent == null ? null : str(b.waitEvent),
  }));
  return {
    waiting: blocked.length,
    longestWaitSeconds: maxOrNull(blocked.map((b) => b.waitSeconds)) ?? 0,
    blocked,
    byMode: Object.fromEntries(Object.entries((cat.lock_modes as Json) ?? {}).map(([k, v]) => [k, num(v)])),
    deadlocksTotal: counters.db.deadlocks,
    deadlocksInInterval: dbDelta.deadlocks,
  };
}

export function checkpointsOf(reading: CounterReading, { prev, verdict }: Interval): CheckpointStats {
  const c = reading.counters.checkpoints;
  const ckpt = reading.checkpointer;
  const bg = reading.bgwriter;
  const p = prev?.checkpoints;
  return {
    source: ckpt ? 'pg_stat_checkpointer' : 'pg_stat_bgwriter',
    timedTotal: c.timed,
    requestedTotal: c.requested,
    timedInInterval: deltaIfValid(verdict, c.timed, p?.timed),
    requestedInInterval: deltaIfValid(verdict, c.requested, p?.requested),
    buffersWrittenTotal: c.buffersWritten,
    buffersWrittenInInterval: deltaIfValid(verdict, c.buffersWritten, p?.buffersWritten),
    writeTimeMsTotal: num(ckpt ? ckpt.write_time : bg.checkpoint_write_time),
    syncTimeMsTotal: num(ckpt ? ckpt.sync_time : bg.checkpoint_sync_time),
  };
}

export function walOf(counters: SampleCounters, { prev, verdict }: Interval): WalStats | Unavailable {
  if (counters.walLsnBytes == null) return { available: false, reason: 'a replica writes no WAL of its own' };
  return {
    available: true,
    lsnBytes: counters.walLsnBytes,
    bytesPerSecond: perSecond(
      deltaIfValid(verdict, counters.walLsnBytes, prev?.walLsnBytes),
      verdict.seconds,
    ),
    buffersFullTotal: counters.walBuffersFull,
    buffersFullInInterval: deltaIfValid(verdict, counters.walBuffersFull, prev?.walBuffersFull),
  };
}

/** Days since the statistics were reset (or the server started): unused indexes are trusted after 7. */
export function statsAgeDaysOf(cat: Json): number {
  const db = cat.database as Json;
  const statsSince = iso(db.statsReset) ?? iso((cat.server as Json).startedAt)!;
  return round3((Date.parse(iso(cat.taken_at)!) - Date.parse(statsSince)) / 86_400_000);
}

export function indexesOf(cat: Json, { prev, verdict }: Interval): IndexStats {
  const indexes = cat.indexes as Json;
  const names = (i: Json) => ({
    index: { schema: str(i.indexSchema), name: str(i.indexName) },
    table: { schema: str(i.tableSchema), name: str(i.tableName) },
  });
  const top: IndexUse[] = list(indexes.top).map((i) => ({
    ...names(i),
    scansTotal: num(i.scans),
    scansInInterval: deltaIfValid(verdict, num(i.scans), prev?.indexes?.[str(i.oid)]),
    bytes: num(i.bytes),
  }));
  const unused: IndexUse[] = list(indexes.unused).map((i) => ({
    ...names(i),
    scansTotal: num(i.scans),
    scansInInterval: null,
    bytes: num(i.bytes),
  }));
  const statsAgeDays = statsAgeDaysOf(cat);
  const invalid = list(indexes.invalid).map(names);
  return {
    total: num(indexes.total),
    top,
    unused,
    unusedCount: num(indexes.unusedCount),
    unusedBytes: num(indexes.unusedBytes),
    statsAgeDays,
    unusedTrusted: statsAgeDays >= 7,
    invalid,
    invalidCount: invalid.length,
  };
}

export function storageOf(
  cat: Json,
  databaseBytes: { bytes: number; at: string } | null,
  cfg: MonitoringConfig,
): StorageStats {
  const tableTotals = cat.table_totals as Json;
  return {
    databaseBytes: databaseBytes?.bytes ?? null,
    databaseBytesAt: databaseBytes?.at ?? null,
    tables: [...list(cat.tables)]
      .filter((t) => t.sizeRank != null && num(t.sizeRank) <= cfg.topTables)
      .sort((a, b) => num(a.sizeRank) - num(b.sizeRank))
      .map((t) => ({
        table: { schema: str(t.schema), name: str(t.name) },
        totalBytes: num(t.totalBytes),
        liveTuples: num(t.live),
        deadTuples: num(t.dead),
        deadRatio: round4n(ratioOf(num(t.dead), num(t.live) + num(t.dead), 0)),
        lastAutovacuum: iso(t.lastAutovacuum),
      })),
    deadTuplesTotal: num(tableTotals.dead),
    skippedLocked: ((tableTotals.locked as string[]) ?? []).map(String),
  };
}

export function wraparoundOf(cat: Json): WraparoundStats {
  const wrap = cat.wraparound as Json;
  return {
    xidAge: num(wrap.xidAge),
    maxXidAge: num(wrap.maxXidAge),
    mxidAge: num(wrap.mxidAge),
    wraparoundRatio: round4(num(wrap.maxXidAge) / 2 ** 31),
  };
}

export function replicationOf(cat: Json, inRecovery: boolean): ReplicationStats {
  const repl = cat.replication as Json;
  const replicas = list(repl.replicas).map((r) => ({
    name: str(r.name),
    state: str(r.state),
    replayLagSeconds: numOrNull(r.replayLagSeconds),
    lagBytes: numOrNull(r.lagBytes),
  }));
  const slots = list(repl.slots).map((s) => ({
    name: str(s.name),
    active: Boolean(s.active),
    retainedBytes: numOrNull(s.retainedBytes),
  }));
  return {
    role: inRecovery ? 'replica' : 'primary',
    replicas,
    maxReplicaLagSeconds: maxOrNull(replicas.map((r) => r.replayLagSeconds)),
    slots,
    maxSlotRetainedBytes: maxOrNull(slots.map((s) => s.retainedBytes)),
    replayDelaySeconds: numOrNull(repl.replayDelaySeconds),
  };
}

/** The figures dgm.stat_snapshots keeps per sample for the report's history (see SampleHistory). */
export function sampleHistory(
  statements: StatementStats | Unavailable,
  conn: Json,
  dbDelta: { blksHit: number | null; blksRead: number | null },
  seconds: number | null,
  databaseBytes: number | null,
): SampleHistory {
  const st = statements.available ? statements : null;
  return {
    intervalSeconds: seconds,
    calls: st?.callsInInterval ?? null,
    execMs:
      st && st.avgQueryMs != null && st.callsInInterval != null ? st.avgQueryMs * st.callsInInterval : null,
    connections: {
      active: num(conn.active),
      idle: num(conn.idle),
      idleInTransaction: num(conn.idle_in_transaction) + num(conn.idle_in_transaction_aborted),
    },
    cacheHitRatio: hitRatio(dbDelta.blksHit, dbDelta.blksRead),
    databaseBytes,
    top: (st?.top ?? [])
      .filter((t) => t.intervalCalls != null && t.intervalCalls > 0)
      .slice(0, 10)
      .map((t) => ({ queryId: t.queryId, calls: t.intervalCalls!, totalMs: t.intervalTotalMs ?? 0 })),
  };
}

/** The archive's compliance (its scores from the costly figures) and round trip 2's violations. */
export function complianceOf(
  rt2: Json,
  dgm: boolean,
  archive: ArchiveFigures | null,
): ComplianceStats | Unavailable {
  const violations = rt2.violations as Json | undefined;
  if (!dgm || !violations)
    return { available: false, reason: 'the DGM schema is not installed (dgm-db-ops migrate)' };
  return {
    available: true,
    recentArchiveScore: archive?.score24h == null ? null : round4(archive.score24h),
    archiveRows24h: archive ? archive.rows24h : null,
    archiveScore30d: archive?.score30d ?? null,
    archiveMeasuredAt: archive?.at ?? null,
    criticalViolations24h: num(violations.critical),
    violations24h: num(violations.violations),
    constitutionHash: rt2.constitution_hash == null ? null : str(rt2.constitution_hash),
  };
}
