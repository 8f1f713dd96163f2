/**
 * One sample of a database: every KPI of the design's monitoring half, as collected by monitor.collect
 * and turned into rates against the previous sample. Alert rules, metric mapping, the CLI and reports
 * read this type. It only grows: fields are added, never renamed or removed.
 *
 * Conventions:
 * - Cumulative counters are what the server reports since its last stats reset (`...Total`).
 * - `...InInterval` is the change since the previous sample, and `...PerSecond` that change divided by
 *   `intervalSeconds`. Both are null on a first sample, after a stats reset, or without history, so
 *   a rule never sees a bogus spike or a negative rate.
 * - Ratios are 0..1 and null when there is nothing to divide (no block reads at all).
 * - A section a server cannot provide (version, missing extension, missing DGM schema, a replica) is
 *   `{ available: false, reason }`, and the rest of the snapshot is still collected.
 */

export const SNAPSHOT_SCHEMA_VERSION = 1;

/** A section this server cannot provide, and why (shown to people as is). */
export interface Unavailable {
  available: false;
  reason: string;
}

/** A table or index as PostgreSQL names it; partitions are rolled up to their root table. */
export interface RelationName {
  schema: string;
  name: string;
}

export interface Snapshot {
  schemaVersion: typeof SNAPSHOT_SCHEMA_VERSION;
  /** The target's name (CloudWatch dimension DBInstance). */
  target: string;
  /** Server clock at collection, ISO 8601. */
  takenAt: string;
  /** Wall time of monitor.collect, including the persisting of the sample. */
  collectMs: number;
  /** Client-server round trips the collection took. */
  roundTrips: number;
  /** Seconds since the previous sample; null when rates cannot be computed (see baseline). */
  intervalSeconds: number | null;
  baseline: Baseline;
  /** Whether the costlier figures (bloat, pruning) were collected in this sample. */
  fullCollection: boolean;
  server: ServerInfo;
  statements: StatementStats | Unavailable;
  connections: ConnectionStats;
  transactions: TransactionStats;
  cache: CacheStats;
  temp: TempStats;
  locks: LockStats;
  checkpoints: CheckpointStats;
  wal: WalStats | Unavailable;
  indexes: IndexStats;
  partitions: PartitionStats | Unavailable;
  pruning: PruningStats | Unavailable;
  storage: StorageStats;
  bloat: BloatStats | Unavailable;
  wraparound: WraparoundStats;
  replication: ReplicationStats;
  compliance: ComplianceStats | Unavailable;
  /** Non-fatal problems met while collecting (a section that failed, a statement that could not be parsed). */
  warnings: string[];
}

export interface Baseline {
  /** When the previous sample used for rates was taken; null without one. */
  previousTakenAt: string | null;
  /** The server's statistics were reset since the previous sample: this sample gives no rates. */
  resetDetected: boolean;
  /** Why there are no rates: first sample, stats reset, previous too old, no history (replica, no schema). */
  reason?: string;
  /** Whether this sample was stored as the next one's baseline. */
  stored: boolean;
}

export interface ServerInfo {
  /** server_version_num, e.g. 180001. */
  versionNum: number;
  /** e.g. "18.1". */
  version: string;
  database: string;
  inRecovery: boolean;
  startedAt: string;
  /** pg_stat_database.stats_reset of this database; null when never reset. */
  statsResetAt: string | null;
  /** Days the statistics cover (since the reset, else since the server started). */
  statsAgeDays: number;
  /** Whether the DGM schema (migrations) is installed in this database. */
  dgmSchema: boolean;
}

export type StatementOperation = 'select' | 'insert' | 'update' | 'delete' | 'merge' | 'utility' | 'other';

export interface StatementSummary {
  /** pg_stat_statements queryid, as a decimal string (it is a 64-bit integer). */
  queryId: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  rows: number;
  sharedBlksHit: number;
  sharedBlksRead: number;
  /** Time reading blocks (shared_blk_read_time on 17+, blk_read_time before; 0 without track_io_timing). */
  blkReadTimeMs: number;
  intervalCalls: number | null;
  intervalTotalMs: number | null;
  /** Mean time of the calls in the interval; null without calls or without a baseline. */
  intervalMeanMs: number | null;
  /** Mean (interval mean where there is one, else cumulative) above slowQueryThresholdMs. */
  slow: boolean;
  /** The normalized statement text (constants as $n), at most 1000 characters. */
  normalized: string;
  operation: StatementOperation;
  /** The table the statement mainly works on (the target of a write, the first table read). */
  mainTable: RelationName | null;
  tables: RelationName[];
}

export interface OperationTableDuration {
  operation: StatementOperation;
  /** Main table name; '' for statements without a table. */
  table: string;
  schema: string;
  calls: number;
  totalMs: number;
  /** Mean seconds per call (dgm_db_query_duration_seconds). */
  meanSeconds: number | null;
  /** Whether the figures are for the interval (true) or since the stats reset (false, first sample). */
  interval: boolean;
}

export interface StatementStats {
  available: true;
  /** Entries pg_stat_statements holds for this database. */
  entries: number;
  /** pg_stat_statements.max; entries evicted since its reset (13: null, 14+: pg_stat_statements_info). */
  max: number | null;
  deallocations: number | null;
  callsTotal: number;
  totalExecMsTotal: number;
  callsInInterval: number | null;
  callsPerSecond: number | null;
  /** Average query time over the interval's calls (the design's "average query execution time"). */
  avgQueryMs: number | null;
  /** Average over all calls since the statistics were reset. */
  avgQueryMsTotal: number | null;
  slowThresholdMs: number;
  /** Statements whose mean (since reset) is above the threshold: the slow-query count. */
  slowStatements: number;
  /** Statements whose mean over the interval's calls is above the threshold. */
  slowStatementsInInterval: number | null;
  /** Calls in the interval made by statements slow in the interval. */
  slowCallsInInterval: number | null;
  /** Top statements by time spent in the interval (since reset on a first sample). */
  top: StatementSummary[];
  /** The slowest statements by mean above the threshold: the slow-query patterns. */
  slowPatterns: StatementSummary[];
  /** Duration per operation and main table over the classified (top and slow) statements. */
  byOperationTable: OperationTableDuration[];
  /** Query texts read from pg_stat_statements in this sample (only statements not classified before). */
  textsFetched: number;
}

export type ConnectionState =
  | 'active'
  | 'idle'
  | 'idle_in_transaction'
  | 'idle_in_transaction_aborted'
  | 'fastpath_function_call'
  | 'disabled';

export interface ConnectionStats {
  /** Client backends of the whole server (max_connections is server-wide). */
  total: number;
  byState: Record<ConnectionState, number>;
  maxConnections: number;
  /** superuser_reserved_connections plus reserved_connections (16+). */
  reservedConnections: number;
  /** total / (max_connections - reserved). */
  utilization: number;
  /** Longest open transaction, seconds (excluding autovacuum and this sampler). */
  longestTransactionSeconds: number;
  longestQuerySeconds: number;
  idleInTransaction: number;
  longestIdleInTransactionSeconds: number;
}

export interface TransactionStats {
  commitsTotal: number;
  rollbacksTotal: number;
  commitsPerSecond: number | null;
  rollbacksPerSecond: number | null;
  /** rollbacks / (commits + rollbacks) in the interval. */
  rollbackRatio: number | null;
}

export interface TableCacheHit {
  table: RelationName;
  /** Heap and index blocks of the table (partitions rolled up) found in shared buffers, in the interval. */
  hitRatio: number | null;
  hitRatioTotal: number | null;
  blocksReadInInterval: number | null;
}

export interface CacheStats {
  /** Database-wide buffer hit ratio in the interval (blks_hit / (blks_hit + blks_read)). */
  hitRatio: number | null;
  hitRatioTotal: number | null;
  /** Index blocks found in shared buffers, in the interval (all user indexes). */
  indexHitRatio: number | null;
  indexHitRatioTotal: number | null;
  /** Per table, for the top tables by activity and size. */
  tables: TableCacheHit[];
}

export interface TempStats {
  filesTotal: number;
  bytesTotal: number;
  filesInInterval: number | null;
  bytesInInterval: number | null;
}

export interface BlockedBackend {
  pid: number;
  blockedBy: number[];
  waitSeconds: number;
  /** The wait event, e.g. "relation", "transactionid". */
  waitEvent: string | null;
}

export interface LockStats {
  /** Backends waiting for a lock another backend holds (pg_blocking_pids). */
  waiting: number;
  longestWaitSeconds: number;
  blocked: BlockedBackend[];
  /** Granted and waiting locks by mode (AccessShareLock, ...), this database. */
  byMode: Record<string, number>;
  deadlocksTotal: number;
  deadlocksInInterval: number | null;
}

export interface CheckpointStats {
  /** pg_stat_checkpointer (17+) or pg_stat_bgwriter. */
  source: 'pg_stat_checkpointer' | 'pg_stat_bgwriter';
  timedTotal: number;
  requestedTotal: number;
  timedInInterval: number | null;
  requestedInInterval: number | null;
  buffersWrittenTotal: number;
  buffersWrittenInInterval: number | null;
  writeTimeMsTotal: number;
  syncTimeMsTotal: number;
}

export interface WalStats {
  available: true;
  /** Current WAL position in bytes (pg_current_wal_lsn). */
  lsnBytes: number;
  bytesPerSecond: number | null;
  /** pg_stat_wal (14+): times WAL buffers were full; null before 14. */
  buffersFullTotal: number | null;
  buffersFullInInterval: number | null;
}

export interface IndexUse {
  index: RelationName;
  table: RelationName;
  /** Scans of the index (partition indexes rolled up to their partitioned index). */
  scansTotal: number;
  scansInInterval: number | null;
  bytes: number;
}

export interface IndexStats {
  total: number;
  /** Indexes with the most scans in the interval (since reset on a first sample). */
  top: IndexUse[];
  /** Not unique, not primary, no scan since the stats reset; largest first. */
  unused: IndexUse[];
  unusedCount: number;
  unusedBytes: number;
  /** Days of statistics the "unused" verdict rests on; below 7 it is only a hint. */
  statsAgeDays: number;
  /** Whether the statistics are old enough (7 days) for unused indexes to be trusted. */
  unusedTrusted: boolean;
  invalid: Array<{ index: RelationName; table: RelationName }>;
  invalidCount: number;
}

export interface PartitionSetHealth {
  parent: RelationName;
  /** Managed in dgm.partition_config. */
  managed: boolean;
  partitionInterval: string | null;
  /** Leaf partitions, the default partitions included. */
  partitions: number;
  totalBytes: number;
  minBytes: number;
  maxBytes: number;
  medianBytes: number;
  avgBytes: number;
  defaultPartitions: number;
  /** Rows in the default partitions (exact, capped at 1,000,000); null when a default was locked. */
  defaultRows: number | null;
  /** Upper bound of the newest range partition. */
  newestBound: string | null;
  /** Days from now to the newest upper bound (negative: inserts already land in the default). */
  aheadDays: number | null;
}

export interface PartitionStats {
  available: true;
  sets: PartitionSetHealth[];
  defaultRowsTotal: number;
  /** The least days ahead over managed sets; null with no range partitions. */
  minAheadDays: number | null;
}

export interface PrunedStatement {
  queryId: string;
  parent: RelationName;
  normalized: string;
  /** Leaf partitions of the set the generic plan scans (after executor-startup pruning). */
  partitionsScanned: number;
  partitionsTotal: number;
  /** Partitions removed by executor-startup pruning ("Subplans Removed"). */
  subplansRemoved: number;
  /** The partition key is compared with a parameter: run-time pruning picks the partitions per call. */
  parameterPruning: boolean;
  /** Scanned share of the set's partitions (a parameter-pruned statement counts one partition). */
  scannedShare: number;
}

export interface PruningStats {
  available: true;
  /** When it was measured (it is collected every slowCollectionEvery samples and carried between). */
  collectedAt: string;
  /**
   * How the generic plan was obtained: a prepared statement under plan_cache_mode=force_generic_plan,
   * explained with NULL parameters (on every version; see functions/monitor/pruning.ts for why not
   * EXPLAIN (GENERIC_PLAN)).
   */
  method: 'explain_generic_plan' | 'prepared_generic_plan';
  statements: PrunedStatement[];
  /** Mean scanned share over the statements (1 = no pruning at all); null without statements. */
  avgScannedShare: number | null;
  worstScannedShare: number | null;
  /** Statements that could not be explained, and why. */
  skipped: Array<{ queryId: string; reason: string }>;
}

export interface TableStorage {
  table: RelationName;
  /** Heap, indexes and TOAST, partitions rolled up. */
  totalBytes: number;
  liveTuples: number;
  deadTuples: number;
  /** dead / (live + dead). */
  deadRatio: number | null;
  lastAutovacuum: string | null;
}

export interface StorageStats {
  /**
   * Size of the database: measured with the costly figures (it stats every file of the database), carried
   * between their collections; null before the first.
   */
  databaseBytes: number | null;
  /** When databaseBytes was measured. */
  databaseBytesAt: string | null;
  /** The largest tables (partitions rolled up to their root). */
  tables: TableStorage[];
  deadTuplesTotal: number;
  /** Relations whose size was not read because a session held ACCESS EXCLUSIVE on them. */
  skippedLocked: string[];
}

export interface TableBloat {
  table: RelationName;
  bytes: number;
  estimatedBloatBytes: number;
  bloatRatio: number;
}

export interface BloatStats {
  available: true;
  collectedAt: string;
  /** Heap bloat estimated from pg_class and pg_stats (no table scan); tables without statistics are left out. */
  tables: TableBloat[];
  estimatedBloatBytesTotal: number;
  maxBloatRatio: number | null;
}

export interface WraparoundStats {
  /** age(datfrozenxid) of this database. */
  xidAge: number;
  /** The highest age(datfrozenxid) over all databases of the server. */
  maxXidAge: number;
  mxidAge: number;
  /** maxXidAge / 2^31: how close the server is to the wraparound stop. */
  wraparoundRatio: number;
}

export interface ReplicaLag {
  name: string;
  state: string;
  replayLagSeconds: number | null;
  lagBytes: number | null;
}

export interface ReplicationStats {
  role: 'primary' | 'replica';
  replicas: ReplicaLag[];
  maxReplicaLagSeconds: number | null;
  slots: Array<{ name: string; active: boolean; retainedBytes: number | null }>;
  maxSlotRetainedBytes: number | null;
  /** On a replica: seconds since the last replayed transaction. */
  replayDelaySeconds: number | null;
}

export interface ComplianceStats {
  available: true;
  /**
   * Mean constitutional_compliance_score of archive rows of the last 24 hours. The archive figures read
   * every archive row of the last 30 days: they come with the costly figures and are carried, measured at
   * archiveMeasuredAt (null, with the figures, before the first).
   */
  recentArchiveScore: number | null;
  archiveRows24h: number | null;
  archiveMeasuredAt: string | null;
  /** compliance_logs rows of level 'critical' in the last 24 hours. */
  criticalViolations24h: number;
  violations24h: number;
  /** The hash stored in dgm.constitution (what every job result's compliance is checked against). */
  constitutionHash: string | null;
  /** Mean constitutional_compliance_score of the archive's last 30 days (the jobs' compliance_score). */
  archiveScore30d: number | null;
}

/** True when a section holds figures (narrows the union). */
export function isAvailable<T extends { available: true }>(section: T | Unavailable): section is T {
  return section.available;
}
