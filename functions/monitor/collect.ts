import type pg from 'pg';
import { DEFAULT_SLOW_QUERY_THRESHOLD_MS, type MonitoringConfig } from '../config.ts';
import { quoteQualified } from '../db/identifiers.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../ports.ts';
import catalogSql from '../sql/queries/monitor-catalog.sql';
import costlySql from '../sql/queries/monitor-costly.sql';
import persistSql from '../sql/queries/monitor-persist.sql';
import sampleSql from '../sql/queries/monitor-sample.sql';
import {
  type CheckpointCounters,
  COUNTERS_VERSION,
  databaseDeltas,
  deltaIfValid,
  hitRatio,
  judgeInterval,
  perSecond,
  type SampleCounters,
  type SampleHistory,
} from './deltas.ts';
import { type NotWorkloadReason, notWorkloadReason, SAMPLER_COMMENT } from './own-statements.ts';
import { measurePruning, type PruningCandidate, type PruningSet } from './pruning.ts';
import {
  type BloatStats,
  type CheckpointStats,
  type ComplianceStats,
  type ConnectionState,
  type IndexUse,
  type OperationTableDuration,
  type PartitionSetHealth,
  type PartitionStats,
  type PruningStats,
  type RelationName,
  SNAPSHOT_SCHEMA_VERSION,
  type Snapshot,
  type StatementStats,
  type StatementSummary,
  type Unavailable,
  type WalStats,
} from './snapshot.ts';
import { renderSqlTemplate } from './sql-template.ts';
import { loadStatementParser, type StatementShape, shapeOf, type TableRef } from './statement-shape.ts';

export interface CollectOptions {
  /** The target's name: the key of its stored samples and the DBInstance of its metrics. */
  target: string;
  monitoring: MonitoringConfig;
  /** Mean time at which a statement counts as slow (config slowQueryThresholdMs; default 200). */
  slowQueryThresholdMs?: number;
  /**
   * The costlier figures (database size, bloat, archive scores, pruning): 'auto' every
   * monitoring.slowCollectionEvery samples and on the first (the sampler Lambda, the CLI), true now
   * (--full), false never (the last ones are carried).
   */
  full?: 'auto' | boolean;
  /** Store the sample as the next one's baseline (default true; needs the DGM schema on a primary). */
  persist?: boolean;
  /**
   * Whether the connection was opened with statement_timeout and lock_timeout already (connect()
   * options). When not, collect sets them for its own statements and restores them after: two more
   * round trips.
   */
  timeoutsPreset?: boolean;
  logger?: Logger;
}

/** Rows of dgm.stat_snapshots kind 'slow': the costly figures, carried between their collections. */
interface SlowCounters {
  v: typeof COUNTERS_VERSION;
  collectedAt: string;
  bloat: BloatStats | Unavailable;
  pruning: PruningStats | Unavailable;
  /** Absent from rows stored before the database size moved here; carried when a collection failed. */
  databaseBytes?: number;
  databaseBytesAt?: string;
  archive?: ArchiveFigures;
  /** The costly round trip's own queryid, left out of the workload until the next costly sample. */
  ownQueryIds?: string[];
}

/** The archive's compliance scores (DGM schema), from one pass over its last 30 days. */
interface ArchiveFigures {
  score24h: number | null;
  rows24h: number;
  score30d: number | null;
  at: string;
}

/** A lock wait never holds the sampler longer than this (a fraction of the statement timeout). */
const LOCK_TIMEOUT_CAP_MS = 1_000;
const INDEX_LIST_LIMIT = 20;
const NORMALIZED_DISPLAY_CHARS = 1_000;
const STORED_TEXT_CHARS = 100_000;
const PRUNING_STATEMENTS = 10;
const STALE_BASELINE_SECONDS = 6 * 3600;

type Json = Record<string, unknown>;

const num = (v: unknown): number => (v == null ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v == null ? null : Number(v));
const str = (v: unknown): string => (v == null ? '' : String(v));
const iso = (v: unknown): string | null =>
  v == null ? null : v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();

/**
 * Takes one snapshot of the database: three round trips (catalog and statistics; version-specific views
 * with the statement deltas computed in the server; storing the baseline), plus, when the costly figures
 * are due, one for the database size and bloat estimate and one per pruning statement. Every statement
 * runs under monitoring.statementTimeoutMs.
 */
export async function collect(client: pg.Client, options: CollectOptions): Promise<Snapshot> {
  const started = performance.now();
  const cfg = options.monitoring;
  const slowMs = options.slowQueryThresholdMs ?? DEFAULT_SLOW_QUERY_THRESHOLD_MS;
  const warnings: string[] = [];
  let roundTrips = 0;
  const query = async <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => {
    roundTrips++;
    return client.query<R>(text, values);
  };

  let restore: { statementTimeout: string; lockTimeout: string } | undefined;
  if (!options.timeoutsPreset) {
    const { rows } = await query<{ st: string; lt: string }>(
      `SELECT ${SAMPLER_COMMENT} current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt,
              set_config('statement_timeout', $1, false), set_config('lock_timeout', $2, false)`,
      [String(cfg.statementTimeoutMs), String(Math.min(LOCK_TIMEOUT_CAP_MS, cfg.statementTimeoutMs))],
    );
    restore = { statementTimeout: rows[0]!.st, lockTimeout: rows[0]!.lt };
  }
  try {
    // Round trip 1: catalog and cumulative statistics, the same SQL on every version.
    const cat = (await query<Json>(catalogSql, [cfg.topTables, INDEX_LIST_LIMIT])).rows[0]!;
    const server = cat.server as Json;
    const versionNum = num(server.versionNum);
    const inRecovery = Boolean(server.inRecovery);
    const dgm = Boolean(server.dgmSchema);
    const dgmSampling = Boolean(server.dgmSampling);
    const pgssSchema = server.pgssSchema == null ? null : String(server.pgssSchema);
    const preloaded = str(server.sharedPreload)
      .split(',')
      .map((s) => s.trim().replace(/^"|"$/g, ''))
      .includes('pg_stat_statements');
    const statementsReason = !pgssSchema
      ? 'statements unavailable: the pg_stat_statements extension is not created in this database (CREATE EXTENSION pg_stat_statements)'
      : !preloaded
        ? 'statements unavailable: pg_stat_statements is not in shared_preload_libraries (on RDS: the parameter group), restart needed'
        : null;
    const canPersist = (options.persist ?? true) && dgm && dgmSampling && !inRecovery;

    // Round trip 2: what depends on version, extensions and the DGM schema.
    const flags = {
      statements: statementsReason === null,
      baseline: statementsReason === null && canPersist,
      pgss_info: statementsReason === null && versionNum >= 140000,
      checkpointer: versionNum >= 170000,
      wal_stats: versionNum >= 140000,
      query_id: versionNum >= 140000,
      dgm,
    };
    const tokens: Record<string, string> = {};
    if (pgssSchema) {
      tokens.PGSS = quoteQualified(pgssSchema, 'pg_stat_statements');
      tokens.PGSS_INFO = quoteQualified(pgssSchema, 'pg_stat_statements_info');
      tokens.TOTAL = versionNum >= 130000 ? 'total_exec_time' : 'total_time';
      tokens.TOPLEVEL = versionNum >= 140000 ? 's.toplevel' : 'true';
      tokens.BLKREAD = versionNum >= 170000 ? 'shared_blk_read_time' : 'blk_read_time';
    }
    const full = options.full ?? 'auto';
    const rt2 = (
      await query<Json>(renderSqlTemplate(sampleSql, flags, tokens), [
        options.target,
        slowMs,
        cfg.topStatements,
        full === true,
        full === 'auto',
        cfg.slowCollectionEvery,
        cat.own_query_id == null ? [] : [str(cat.own_query_id)],
      ])
    ).rows[0]!;
    const fullDue = Boolean(rt2.full_due);

    const takenAt = iso(cat.taken_at)!;
    const db = cat.database as Json;
    const tables = (cat.tables as Json[]) ?? [];
    const indexes = cat.indexes as Json;
    const bg = (cat.bgwriter as Json) ?? {};
    const ckpt = (rt2.checkpointer as Json | undefined) ?? null;
    const walStats = (rt2.wal_stats as Json | undefined) ?? null;
    const checkpointCounters: CheckpointCounters = ckpt
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
      takenAt,
      statsReset: iso(db.statsReset),
      serverStartedAt: iso(server.startedAt)!,
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
      checkpoints: checkpointCounters,
      walLsnBytes: numOrNull(cat.wal_lsn_bytes),
      walBuffersFull: walStats ? num(walStats.wal_buffers_full) : null,
      tables: Object.fromEntries(
        tables.map((t) => [
          str(t.oid),
          {
            heapHit: num(t.heapHit),
            heapRead: num(t.heapRead),
            idxHit: num(t.idxHit),
            idxRead: num(t.idxRead),
          },
        ]),
      ),
      indexes: Object.fromEntries(((indexes.top as Json[]) ?? []).map((i) => [str(i.oid), num(i.scans)])),
      ownQueryIds: [cat.own_query_id, rt2.own_query_id].filter((q) => q != null).map(str),
    };

    const lastSample = rt2.last_sample as { takenAt: string; counters: SampleCounters } | null | undefined;
    let prev: SampleCounters | null = lastSample?.counters ?? null;
    if (prev && (Date.parse(takenAt) - Date.parse(prev.takenAt)) / 1000 > STALE_BASELINE_SECONDS) {
      warnings.push('previous sample is older than 6 hours: no interval figures in this sample');
      prev = null;
    }
    const historyReason = !dgm
      ? 'no history: the DGM schema is not installed (dgm-db-ops migrate)'
      : !dgmSampling
        ? 'no history: the sampling tables are missing (dgm-db-ops migrate)'
        : inRecovery
          ? 'no history: a replica cannot store samples'
          : null;
    const verdict =
      historyReason && !prev
        ? { seconds: null, resetDetected: false, reason: historyReason }
        : judgeInterval(counters, prev);
    const dbDelta = databaseDeltas(counters, prev, verdict);
    const seconds = verdict.seconds;

    // Statements: rows and, for statements not parsed before, their texts.
    let statements: StatementStats | Unavailable = {
      available: false,
      reason: statementsReason ?? 'statements unavailable',
    };
    const newShapes: Array<{
      queryId: string;
      shape: StatementShape;
      notWorkload: NotWorkloadReason | null;
    }> = [];
    let stmtRows: SummaryWork[] = [];
    if (statementsReason === null) {
      const doc = rt2.statements as Json;
      const texts = (doc.texts as Record<string, string> | null) ?? {};
      const known = (doc.shapes as Record<string, Json> | undefined) ?? {};
      if (Object.keys(texts).length > 0) await loadStatementParser();
      const shapes = new Map<string, ShapeView>();
      for (const [id, s] of Object.entries(known)) {
        shapes.set(id, {
          normalized: str(s.normalized),
          operation: str(s.operation) as StatementShape['operation'],
          mainTable: (s.mainTable as RelationName | null) ?? null,
          tables: ((s.tables as Array<{ schema: string | null; name: string }>) ?? []).map(relationOf),
        });
      }
      const notWorkload = new Set<string>();
      for (const [id, text] of Object.entries(texts)) {
        // Unparseable texts are PL/pgSQL expressions (track = all) or hidden from this role: 'other'.
        const shape = shapeOf(text);
        const reason = notWorkloadReason(text, shape);
        if (reason) notWorkload.add(id);
        newShapes.push({ queryId: id, shape, notWorkload: reason });
        shapes.set(id, {
          normalized: shape.normalized,
          operation: shape.operation,
          mainTable: shape.mainTable ? relationOf(shape.mainTable) : null,
          tables: shape.tables.map(relationOf),
        });
      }
      // Statements that are not the application's workload (own-statements.ts) are left out: once their
      // judgement is stored with the shape, round trip 2 leaves them out; the first time, here.
      const rows = ((doc.rows as Json[]) ?? []).filter((r) => !notWorkload.has(str(r.queryId)));
      const byId = new Map(rows.map((r) => [str(r.queryId), summaryOf(r, shapes.get(str(r.queryId)))]));
      // Round trip 2 picks twice the statements listed; the first topStatements of each list are kept.
      const pick = (ids: unknown) =>
        ((ids as string[]) ?? [])
          .map((id) => byId.get(id))
          .filter((s): s is SummaryWork => !!s)
          .slice(0, cfg.topStatements);
      const top = pick(doc.top);
      const slowPatterns = pick(doc.slow);
      stmtRows = [...new Set([...top, ...slowPatterns])];
      const pgssInfo = (rt2.pgss_info as Json | undefined) ?? null;
      const stmtSeconds = numOrNull(doc.intervalSeconds);
      const callsInInterval = numOrNull(doc.callsInInterval);
      const execMsInInterval = numOrNull(doc.execMsInInterval);
      const callsTotal = num(doc.callsTotal);
      const totalExecMsTotal = num(doc.totalExecMsTotal);
      statements = {
        available: true,
        entries: num(doc.entries),
        max: numOrNull(server.pgssMax),
        deallocations: pgssInfo ? num(pgssInfo.dealloc) : null,
        callsTotal,
        totalExecMsTotal,
        callsInInterval,
        callsPerSecond: perSecond(callsInInterval, stmtSeconds),
        avgQueryMs:
          callsInInterval != null && callsInInterval > 0 && execMsInInterval != null
            ? execMsInInterval / callsInInterval
            : null,
        avgQueryMsTotal: callsTotal > 0 ? totalExecMsTotal / callsTotal : null,
        slowThresholdMs: slowMs,
        slowStatements: num(doc.slowStatements),
        slowStatementsInInterval: numOrNull(doc.slowStatementsInInterval),
        slowCallsInInterval: numOrNull(doc.slowCallsInInterval),
        top,
        slowPatterns,
        byOperationTable: durationsByOperationTable(stmtRows),
        textsFetched: Object.keys(texts).length,
      };
    }

    // Partition sets: the managed ones (dgm.partition_config), else every partitioned table.
    const managed = (rt2.managed as Json[] | undefined) ?? null;
    const managedOids = new Map((managed ?? []).filter((m) => m.oid != null).map((m) => [str(m.oid), m]));
    const allSets = ((cat.partitions as Json[]) ?? []).map((p) => ({
      raw: p,
      managed: managedOids.has(str(p.oid)),
    }));
    const sets = managed ? allSets.filter((s) => s.managed) : allSets;
    const partitionSets: PartitionSetHealth[] = sets.map(({ raw, managed: isManaged }) => ({
      parent: { schema: str(raw.schema), name: str(raw.name) },
      managed: isManaged,
      partitionInterval: isManaged ? str(managedOids.get(str(raw.oid))?.interval) || null : null,
      partitions: num(raw.partitions),
      totalBytes: num(raw.totalBytes),
      minBytes: num(raw.minBytes),
      maxBytes: num(raw.maxBytes),
      medianBytes: num(raw.medianBytes),
      avgBytes: Math.round(num(raw.avgBytes)),
      defaultPartitions: num(raw.defaultPartitions),
      defaultRows: numOrNull(raw.defaultRows),
      newestBound: iso(raw.newestBound),
      aheadDays: raw.aheadDays == null ? null : Math.round(num(raw.aheadDays) * 100) / 100,
    }));
    const partitions: PartitionStats = {
      available: true,
      sets: partitionSets,
      defaultRowsTotal: partitionSets.reduce((a, s) => a + (s.defaultRows ?? 0), 0),
      minAheadDays: minOrNull(partitionSets.filter((s) => s.managed || !managed).map((s) => s.aheadDays)),
    };

    // The costly figures: measured now when due, else carried from their last collection.
    const lastSlow = (rt2.last_slow as { counters: SlowCounters } | null | undefined)?.counters ?? null;
    let bloat: BloatStats | Unavailable;
    let pruning: PruningStats | Unavailable;
    let slowToStore: SlowCounters | null = null;
    const carried = lastSlow && lastSlow.v === COUNTERS_VERSION ? lastSlow : null;
    const carriedDatabase = (c: SlowCounters | null) =>
      c?.databaseBytes != null ? { bytes: c.databaseBytes, at: c.databaseBytesAt ?? c.collectedAt } : null;
    let databaseBytes: { bytes: number; at: string } | null = null;
    let archive: ArchiveFigures | null = null;
    if (fullDue) {
      // One more round trip, on the costly samples only. Should it fail (a timeout on a huge archive),
      // the regular figures stand, the last measured ones stay carried, and the next try is the next
      // costly sample, not the next sample.
      let costly: Json | null = null;
      let costlyError = '';
      try {
        costly = (await query<Json>(renderSqlTemplate(costlySql, { dgm }), [cfg.topStatements])).rows[0]!;
      } catch (err) {
        costlyError = errorMessage(err);
        warnings.push(`costly figures not collected: ${costlyError}`);
      }
      const costlyOwn = costly?.own_query_id == null ? [] : [str(costly.own_query_id)];
      counters.ownQueryIds = [...(counters.ownQueryIds ?? []), ...costlyOwn];
      if (costly) {
        databaseBytes = { bytes: num(costly.database_bytes), at: takenAt };
        const a = costly.archive as Json | undefined;
        archive = a
          ? {
              score24h: numOrNull(a.score24h),
              rows24h: num(a.rows24h),
              score30d: numOrNull(a.score30d),
              at: takenAt,
            }
          : null;
        const b = costly.bloat as Json;
        const bloatTables = ((b.tables as Json[]) ?? []).map((t) => ({
          table: { schema: str(t.schema), name: str(t.name) },
          bytes: num(t.bytes),
          estimatedBloatBytes: num(t.bloatBytes),
          bloatRatio: round4(num(t.ratio)),
        }));
        bloat = {
          available: true,
          collectedAt: takenAt,
          tables: bloatTables,
          estimatedBloatBytesTotal: num(b.total),
          maxBloatRatio: maxOrNull(bloatTables.map((t) => t.bloatRatio)),
        };
      } else {
        bloat = { available: false, reason: `not collected: ${costlyError}` };
        databaseBytes = carriedDatabase(carried);
        archive = carried?.archive ?? null;
      }
      if (statementsReason !== null) {
        pruning = { available: false, reason: statementsReason };
      } else {
        const pruneSets: PruningSet[] = sets.map(({ raw }) => ({
          parent: { schema: str(raw.schema), name: str(raw.name) },
          leaves: (raw.leaves as Array<[string, string]>) ?? [],
          partitions: num(raw.partitions),
        }));
        const candidates: PruningCandidate[] = stmtRows
          .filter((s) => s.normalizedFull)
          .sort((a, b) => (b.intervalTotalMs ?? b.totalMs) - (a.intervalTotalMs ?? a.totalMs))
          .map((s) => ({ queryId: s.queryId, text: s.normalizedFull!, summary: s }));
        const measured = await measurePruning(client, candidates, pruneSets, PRUNING_STATEMENTS);
        roundTrips += measured.roundTrips;
        pruning = {
          available: true,
          collectedAt: takenAt,
          method: 'prepared_generic_plan',
          statements: measured.statements,
          avgScannedShare: avgOrNull(measured.statements.map((s) => s.scannedShare)),
          worstScannedShare: maxOrNull(measured.statements.map((s) => s.scannedShare)),
          skipped: measured.skipped,
        };
      }
      slowToStore = {
        v: COUNTERS_VERSION,
        collectedAt: takenAt,
        bloat,
        pruning,
        ...(databaseBytes ? { databaseBytes: databaseBytes.bytes, databaseBytesAt: databaseBytes.at } : {}),
        ...(archive ? { archive } : {}),
        ownQueryIds: costlyOwn,
      };
    } else if (carried) {
      bloat = carried.bloat;
      pruning = carried.pruning;
      databaseBytes = carriedDatabase(carried);
      archive = carried.archive ?? null;
    } else {
      const reason = `not collected yet: the costly figures come every ${cfg.slowCollectionEvery} samples`;
      bloat = { available: false, reason };
      pruning = { available: false, reason };
    }

    // The sample's headline figures ride along with its counters: the report's history (query time,
    // calls, connections, cache hit, size over the last day and week) and its top statements' sparklines.
    counters.history = sampleHistory(
      statements,
      cat.connections as Json,
      dbDelta,
      seconds,
      databaseBytes?.bytes ?? null,
    );

    // Round trip 3: store the baseline and new shapes, resolve unqualified table names.
    let stored = false;
    const shapesParam = newShapes.map(({ queryId, shape, notWorkload }) => ({
      queryId,
      notWorkload,
      normalized: shape.normalized.slice(0, STORED_TEXT_CHARS),
      operation: shape.operation,
      mainTable: shape.mainTable,
      tables: shape.tables,
    }));
    const needsResolve = newShapes.some(
      ({ shape }) => shape.tables.some((t) => t.schema === null) || shape.mainTable?.schema === null,
    );
    if (canPersist || needsResolve) {
      const sql = renderSqlTemplate(persistSql, { persist: canPersist });
      const { rows } = await query<{ resolved: Record<string, string | null> }>(sql, [
        options.target,
        JSON.stringify(counters),
        slowToStore ? JSON.stringify(slowToStore) : null,
        cfg.snapshotRetentionHours,
        JSON.stringify(shapesParam),
      ]);
      stored = canPersist;
      const resolved = rows[0]?.resolved ?? {};
      const fix = (r: RelationName): RelationName =>
        r.schema === '' ? { schema: resolved[r.name] ?? '', name: r.name } : r;
      for (const s of stmtRows) {
        s.mainTable = s.mainTable ? fix(s.mainTable) : null;
        s.tables = s.tables.map(fix);
      }
      if (statements.available) statements.byOperationTable = durationsByOperationTable(stmtRows);
    }
    for (const s of stmtRows) delete s.normalizedFull;

    const conn = cat.connections as Json;
    const maxConnections = num(server.maxConnections);
    const reserved = num(server.reservedConnections);
    const byState = Object.fromEntries(
      (
        [
          'active',
          'idle',
          'idle_in_transaction',
          'idle_in_transaction_aborted',
          'fastpath_function_call',
          'disabled',
        ] as ConnectionState[]
      ).map((k) => [k, num(conn[k])]),
    ) as Record<ConnectionState, number>;
    const blocked = ((cat.blocked as Json[]) ?? []).map((b) => ({
      pid: num(b.pid),
      blockedBy: ((b.blockedBy as number[]) ?? []).map(Number),
      waitSeconds: round3(num(b.waitSeconds)),
      waitEvent: b.waitEvent == null ? null : str(b.waitEvent),
    }));
    const prevTables = prev?.tables ?? {};
    const topIndexes: IndexUse[] = ((indexes.top as Json[]) ?? []).map((i) => ({
      index: { schema: str(i.indexSchema), name: str(i.indexName) },
      table: { schema: str(i.tableSchema), name: str(i.tableName) },
      scansTotal: num(i.scans),
      scansInInterval: deltaIfValid(verdict, num(i.scans), prev?.indexes?.[str(i.oid)]),
      bytes: num(i.bytes),
    }));
    const unused: IndexUse[] = ((indexes.unused as Json[]) ?? []).map((i) => ({
      index: { schema: str(i.indexSchema), name: str(i.indexName) },
      table: { schema: str(i.tableSchema), name: str(i.tableName) },
      scansTotal: num(i.scans),
      scansInInterval: null,
      bytes: num(i.bytes),
    }));
    const statsSince = iso(db.statsReset) ?? iso(server.startedAt)!;
    const statsAgeDays = round3((Date.parse(takenAt) - Date.parse(statsSince)) / 86_400_000);
    const wrap = cat.wraparound as Json;
    const repl = cat.replication as Json;
    const replicas = ((repl.replicas as Json[]) ?? []).map((r) => ({
      name: str(r.name),
      state: str(r.state),
      replayLagSeconds: numOrNull(r.replayLagSeconds),
      lagBytes: numOrNull(r.lagBytes),
    }));
    const slots = ((repl.slots as Json[]) ?? []).map((s) => ({
      name: str(s.name),
      active: Boolean(s.active),
      retainedBytes: numOrNull(s.retainedBytes),
    }));
    const prevCkpt = prev?.checkpoints;
    const checkpoints: CheckpointStats = {
      source: ckpt ? 'pg_stat_checkpointer' : 'pg_stat_bgwriter',
      timedTotal: checkpointCounters.timed,
      requestedTotal: checkpointCounters.requested,
      timedInInterval: deltaIfValid(verdict, checkpointCounters.timed, prevCkpt?.timed),
      requestedInInterval: deltaIfValid(verdict, checkpointCounters.requested, prevCkpt?.requested),
      buffersWrittenTotal: checkpointCounters.buffersWritten,
      buffersWrittenInInterval: deltaIfValid(
        verdict,
        checkpointCounters.buffersWritten,
        prevCkpt?.buffersWritten,
      ),
      writeTimeMsTotal: num(ckpt ? ckpt.write_time : bg.checkpoint_write_time),
      syncTimeMsTotal: num(ckpt ? ckpt.sync_time : bg.checkpoint_sync_time),
    };
    const wal: WalStats | Unavailable =
      counters.walLsnBytes == null
        ? { available: false, reason: 'a replica writes no WAL of its own' }
        : {
            available: true,
            lsnBytes: counters.walLsnBytes,
            bytesPerSecond: perSecond(
              deltaIfValid(verdict, counters.walLsnBytes, prev?.walLsnBytes),
              seconds,
            ),
            buffersFullTotal: counters.walBuffersFull,
            buffersFullInInterval: deltaIfValid(verdict, counters.walBuffersFull, prev?.walBuffersFull),
          };
    const violations = rt2.violations as Json | undefined;
    const compliance: ComplianceStats | Unavailable =
      dgm && violations
        ? {
            available: true,
            recentArchiveScore: archive?.score24h == null ? null : round4(archive.score24h),
            archiveRows24h: archive ? archive.rows24h : null,
            archiveScore30d: archive?.score30d ?? null,
            archiveMeasuredAt: archive?.at ?? null,
            criticalViolations24h: num(violations.critical),
            violations24h: num(violations.violations),
            constitutionHash: rt2.constitution_hash == null ? null : str(rt2.constitution_hash),
          }
        : { available: false, reason: 'the DGM schema is not installed (dgm-db-ops migrate)' };
    const skippedLocked = ((tableTotals.locked as string[]) ?? []).map(String);

    const snapshot: Snapshot = {
      schemaVersion: SNAPSHOT_SCHEMA_VERSION,
      target: options.target,
      takenAt,
      collectMs: 0,
      roundTrips: 0,
      intervalSeconds: seconds == null ? null : round3(seconds),
      baseline: {
        previousTakenAt: prev?.takenAt ?? null,
        resetDetected: verdict.resetDetected,
        ...(verdict.reason ? { reason: verdict.reason } : {}),
        stored,
      },
      fullCollection: fullDue,
      server: {
        versionNum,
        version: str(server.version),
        database: str(server.database),
        inRecovery,
        startedAt: iso(server.startedAt)!,
        statsResetAt: iso(db.statsReset),
        statsAgeDays,
        dgmSchema: dgm,
      },
      statements,
      connections: {
        total: num(conn.total),
        byState,
        maxConnections,
        reservedConnections: reserved,
        utilization: round4(num(conn.total) / Math.max(1, maxConnections - reserved)),
        longestTransactionSeconds: round3(num(conn.longestTransactionSeconds)),
        longestQuerySeconds: round3(num(conn.longestQuerySeconds)),
        idleInTransaction: byState.idle_in_transaction + byState.idle_in_transaction_aborted,
        longestIdleInTransactionSeconds: round3(num(conn.longestIdleInTransactionSeconds)),
      },
      transactions: {
        commitsTotal: counters.db.commits,
        rollbacksTotal: counters.db.rollbacks,
        commitsPerSecond: perSecond(dbDelta.commits, seconds),
        rollbacksPerSecond: perSecond(dbDelta.rollbacks, seconds),
        rollbackRatio: ratioOf(
          dbDelta.rollbacks,
          (dbDelta.commits ?? 0) + (dbDelta.rollbacks ?? 0),
          dbDelta.commits,
        ),
      },
      cache: {
        hitRatio: round4n(hitRatio(dbDelta.blksHit, dbDelta.blksRead)),
        hitRatioTotal: round4n(hitRatio(counters.db.blksHit, counters.db.blksRead)),
        indexHitRatio: round4n(
          hitRatio(
            deltaIfValid(verdict, counters.indexBlocks.hit, prev?.indexBlocks.hit),
            deltaIfValid(verdict, counters.indexBlocks.read, prev?.indexBlocks.read),
          ),
        ),
        indexHitRatioTotal: round4n(hitRatio(counters.indexBlocks.hit, counters.indexBlocks.read)),
        tables: tables
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
      },
      temp: {
        filesTotal: counters.db.tempFiles,
        bytesTotal: counters.db.tempBytes,
        filesInInterval: dbDelta.tempFiles,
        bytesInInterval: dbDelta.tempBytes,
      },
      locks: {
        waiting: blocked.length,
        longestWaitSeconds: maxOrNull(blocked.map((b) => b.waitSeconds)) ?? 0,
        blocked,
        byMode: Object.fromEntries(
          Object.entries((cat.lock_modes as Json) ?? {}).map(([k, v]) => [k, num(v)]),
        ),
        deadlocksTotal: counters.db.deadlocks,
        deadlocksInInterval: dbDelta.deadlocks,
      },
      checkpoints,
      wal,
      indexes: {
        total: num(indexes.total),
        top: topIndexes,
        unused,
        unusedCount: num(indexes.unusedCount),
        unusedBytes: num(indexes.unusedBytes),
        statsAgeDays,
        unusedTrusted: statsAgeDays >= 7,
        invalid: ((indexes.invalid as Json[]) ?? []).map((i) => ({
          index: { schema: str(i.indexSchema), name: str(i.indexName) },
          table: { schema: str(i.tableSchema), name: str(i.tableName) },
        })),
        invalidCount: ((indexes.invalid as Json[]) ?? []).length,
      },
      partitions,
      pruning,
      storage: {
        databaseBytes: databaseBytes?.bytes ?? null,
        databaseBytesAt: databaseBytes?.at ?? null,
        tables: [...tables]
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
        skippedLocked,
      },
      bloat,
      wraparound: {
        xidAge: num(wrap.xidAge),
        maxXidAge: num(wrap.maxXidAge),
        mxidAge: num(wrap.mxidAge),
        wraparoundRatio: round4(num(wrap.maxXidAge) / 2 ** 31),
      },
      replication: {
        role: inRecovery ? 'replica' : 'primary',
        replicas,
        maxReplicaLagSeconds: maxOrNull(replicas.map((r) => r.replayLagSeconds)),
        slots,
        maxSlotRetainedBytes: maxOrNull(slots.map((s) => s.retainedBytes)),
        replayDelaySeconds: numOrNull(repl.replayDelaySeconds),
      },
      compliance,
      warnings,
    };
    snapshot.roundTrips = roundTrips + (restore ? 1 : 0);
    snapshot.collectMs = Math.round((performance.now() - started) * 10) / 10;
    return snapshot;
  } finally {
    if (restore) {
      await client
        .query(
          `SELECT ${SAMPLER_COMMENT} set_config('statement_timeout', $1, false), set_config('lock_timeout', $2, false)`,
          [restore.statementTimeout, restore.lockTimeout],
        )
        .catch((err) => options.logger?.warn(`could not restore session timeouts: ${errorMessage(err)}`));
    }
  }
}

interface ShapeView {
  normalized: string;
  operation: StatementShape['operation'];
  mainTable: RelationName | null;
  tables: RelationName[];
}

/** A statement summary with the full normalized text kept until pruning has used it. */
type SummaryWork = StatementSummary & { normalizedFull?: string };

// Unqualified names get schema '' until round trip 3 resolves them.
function relationOf(t: TableRef | RelationName): RelationName {
  return { schema: t.schema ?? '', name: t.name };
}

function summaryOf(r: Json, shape: ShapeView | undefined): SummaryWork {
  const normalized = shape?.normalized ?? '';
  return {
    queryId: str(r.queryId),
    calls: num(r.calls),
    totalMs: round3(num(r.totalMs)),
    meanMs: round3(num(r.meanMs)),
    rows: num(r.rows),
    sharedBlksHit: num(r.sharedBlksHit),
    sharedBlksRead: num(r.sharedBlksRead),
    blkReadTimeMs: round3(num(r.blkReadTimeMs)),
    intervalCalls: numOrNull(r.intervalCalls),
    intervalTotalMs: r.intervalTotalMs == null ? null : round3(num(r.intervalTotalMs)),
    intervalMeanMs: r.intervalMeanMs == null ? null : round3(num(r.intervalMeanMs)),
    slow: Boolean(r.slow),
    normalized:
      normalized.length > NORMALIZED_DISPLAY_CHARS
        ? `${normalized.slice(0, NORMALIZED_DISPLAY_CHARS - 1)}…`
        : normalized,
    normalizedFull: normalized,
    operation: shape?.operation ?? 'other',
    mainTable: shape?.mainTable ?? null,
    tables: shape?.tables ?? [],
  };
}

/** Duration per operation and main table over the classified statements (interval figures when there are). */
export function durationsByOperationTable(rows: readonly StatementSummary[]): OperationTableDuration[] {
  const groups = new Map<string, OperationTableDuration>();
  const interval = rows.some((r) => r.intervalCalls != null);
  for (const r of rows) {
    const calls = interval ? (r.intervalCalls ?? 0) : r.calls;
    const totalMs = interval ? (r.intervalTotalMs ?? 0) : r.totalMs;
    const key = `${r.operation}\u0000${r.mainTable?.schema ?? ''}\u0000${r.mainTable?.name ?? ''}`;
    const g = groups.get(key) ?? {
      operation: r.operation,
      table: r.mainTable?.name ?? '',
      schema: r.mainTable?.schema ?? '',
      calls: 0,
      totalMs: 0,
      meanSeconds: null,
      interval,
    };
    g.calls += calls;
    g.totalMs += totalMs;
    groups.set(key, g);
  }
  return [...groups.values()]
    .filter((g) => g.calls > 0)
    .map((g) => ({
      ...g,
      totalMs: round3(g.totalMs),
      meanSeconds: g.calls > 0 ? round6(g.totalMs / g.calls / 1000) : null,
    }))
    .sort((a, b) => b.totalMs - a.totalMs || a.table.localeCompare(b.table));
}

function ratioOf(part: number | null, whole: number, guard: number | null): number | null {
  if (part == null || guard == null) return null;
  return whole > 0 ? part / whole : null;
}

function minOrNull(values: Array<number | null>): number | null {
  const v = values.filter((x): x is number => x != null);
  return v.length ? Math.min(...v) : null;
}

function maxOrNull(values: Array<number | null>): number | null {
  const v = values.filter((x): x is number => x != null);
  return v.length ? Math.max(...v) : null;
}

function avgOrNull(values: number[]): number | null {
  return values.length ? round4(values.reduce((a, b) => a + b, 0) / values.length) : null;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
const round4 = (v: number) => Math.round(v * 10_000) / 10_000;
const round6 = (v: number) => Math.round(v * 1_000_000) / 1_000_000;
const round4n = (v: number | null) => (v == null ? null : round4(v));

/** The figures dgm.stat_snapshots keeps per sample for the report's history (see SampleHistory). */
function sampleHistory(
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
