import type { MetricDatum, MetricUnit } from '../ports.ts';
import { isAvailable, type RelationName, type Snapshot } from './snapshot.ts';

/**
 * The one mapping from a Snapshot to metrics: each spec names the CloudWatch metric (namespace
 * DGM/Database, dimension DBInstance plus Table, Operation or State where they mean something) and its
 * Prometheus twin (the design's dgm_db_* names). CloudWatch datums and the Prometheus exposition text
 * are both rendered from the same points, so the two can never drift apart. docs/monitoring.md
 * ("Metrics: CloudWatch and Prometheus") holds the table of every pair.
 *
 * CloudWatch charges per metric (name + dimension set), so a budget (monitoring.maxMetrics, default 40)
 * keeps the series in priority order and drops the rest; per-table series exist only for the top
 * monitoring.topTables tables.
 */

export const METRIC_NAMESPACE = 'DGM/Database';

export interface MetricSpec {
  /** CloudWatch metric name. */
  name: string;
  unit: MetricUnit;
  prometheus: {
    name: string;
    type: 'gauge' | 'counter';
    help: string;
  };
  /** Extra dimension names (CloudWatch) and their Prometheus labels. */
  dimensions?: Array<{ cloudwatch: string; prometheus: string }>;
  /** Lower first: what the budget keeps. */
  priority: number;
  /**
   * Series of this metric: dimension values in spec order, the CloudWatch value (null: no datum this
   * sample, e.g. a rate on a first sample) and the Prometheus value (often the cumulative counter).
   */
  series(
    s: Snapshot,
    topTables: number,
  ): Array<{ labels?: string[]; cloudwatch: number | null; prometheus: number | null }>;
}

/** One series of one metric in one sample. */
export interface MetricPoint {
  spec: MetricSpec;
  /** CloudWatch dimensions, DBInstance first. */
  dimensions: Record<string, string>;
  /** Prometheus labels. */
  labels: Record<string, string>;
  cloudwatch: number | null;
  prometheus: number | null;
}

const pct = (ratio: number | null | undefined) =>
  ratio == null ? null : Math.round(ratio * 1_000_000) / 10_000;
const one = (cloudwatch: number | null | undefined, prometheus: number | null | undefined = cloudwatch) => [
  { cloudwatch: cloudwatch ?? null, prometheus: prometheus ?? null },
];
const ms2s = (ms: number | null | undefined) => (ms == null ? null : ms / 1000);

/** A table's label: its name, schema-qualified unless it is in public or dgm. */
export function tableLabel(t: RelationName | null | undefined): string {
  if (!t?.name) return 'none';
  return t.schema === '' || t.schema === 'public' || t.schema === 'dgm' ? t.name : `${t.schema}.${t.name}`;
}

const TABLE = [{ cloudwatch: 'Table', prometheus: 'table' }];

/** Every metric, in the budget's priority order. */
export const METRIC_SPECS: readonly MetricSpec[] = [
  {
    name: 'Up',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_up',
      type: 'gauge',
      help: '1 when the sample was collected, 0 when the database could not be sampled.',
    },
    priority: 0,
    series: () => one(1),
  },
  {
    name: 'ConnectionUtilization',
    unit: 'Percent',
    prometheus: {
      name: 'dgm_db_connection_utilization_ratio',
      type: 'gauge',
      help: 'Client connections over max_connections less the reserved slots.',
    },
    priority: 1,
    series: (s) => one(pct(s.connections.utilization), s.connections.utilization),
  },
  {
    name: 'Connections',
    unit: 'Count',
    prometheus: { name: 'dgm_db_connections_total', type: 'gauge', help: 'Client connections by state.' },
    dimensions: [{ cloudwatch: 'State', prometheus: 'state' }],
    priority: 2,
    series: (s) => [
      {
        labels: ['active'],
        cloudwatch: s.connections.byState.active,
        prometheus: s.connections.byState.active,
      },
      { labels: ['idle'], cloudwatch: s.connections.byState.idle, prometheus: s.connections.byState.idle },
      {
        labels: ['idle_in_transaction'],
        cloudwatch: s.connections.idleInTransaction,
        prometheus: s.connections.idleInTransaction,
      },
    ],
  },
  {
    name: 'AverageQueryDuration',
    unit: 'Milliseconds',
    prometheus: {
      name: 'dgm_db_query_avg_duration_seconds',
      type: 'gauge',
      help: 'Mean execution time of the statements completed in the interval (pg_stat_statements).',
    },
    priority: 3,
    series: (s) =>
      isAvailable(s.statements) ? one(s.statements.avgQueryMs, ms2s(s.statements.avgQueryMs)) : [],
  },
  {
    name: 'SlowQueries',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_slow_queries',
      type: 'gauge',
      help: 'Statements whose mean time is above the slow query threshold.',
    },
    priority: 4,
    series: (s) => (isAvailable(s.statements) ? one(s.statements.slowStatements) : []),
  },
  {
    name: 'QueriesPerSecond',
    unit: 'Count/Second',
    prometheus: { name: 'dgm_db_queries_total', type: 'counter', help: 'Statements completed (top level).' },
    priority: 5,
    series: (s) =>
      isAvailable(s.statements) ? one(s.statements.callsPerSecond, s.statements.callsTotal) : [],
  },
  {
    name: 'CacheHitRatio',
    unit: 'Percent',
    prometheus: {
      name: 'dgm_db_database_cache_hit_ratio',
      type: 'gauge',
      help: 'Buffer cache hit ratio of the database in the interval.',
    },
    priority: 6,
    series: (s) => one(pct(s.cache.hitRatio), s.cache.hitRatio),
  },
  {
    name: 'IndexHitRatio',
    unit: 'Percent',
    prometheus: {
      name: 'dgm_db_index_hit_ratio',
      type: 'gauge',
      help: 'Index blocks found in the buffer cache in the interval.',
    },
    priority: 7,
    series: (s) => one(pct(s.cache.indexHitRatio), s.cache.indexHitRatio),
  },
  {
    name: 'LongestTransactionSeconds',
    unit: 'Seconds',
    prometheus: {
      name: 'dgm_db_longest_transaction_seconds',
      type: 'gauge',
      help: 'Age of the oldest open transaction.',
    },
    priority: 8,
    series: (s) => one(s.connections.longestTransactionSeconds),
  },
  {
    name: 'IdleInTransactionSeconds',
    unit: 'Seconds',
    prometheus: {
      name: 'dgm_db_idle_in_transaction_longest_seconds',
      type: 'gauge',
      help: 'Longest time a session has sat idle inside a transaction.',
    },
    priority: 9,
    series: (s) => one(s.connections.longestIdleInTransactionSeconds),
  },
  {
    name: 'LockWaits',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_lock_waits',
      type: 'gauge',
      help: 'Sessions waiting for a lock another session holds.',
    },
    priority: 10,
    series: (s) => one(s.locks.waiting),
  },
  {
    name: 'Deadlocks',
    unit: 'Count',
    prometheus: { name: 'dgm_db_deadlocks_total', type: 'counter', help: 'Deadlocks detected.' },
    priority: 11,
    series: (s) => one(s.locks.deadlocksInInterval, s.locks.deadlocksTotal),
  },
  {
    name: 'TempBytes',
    unit: 'Bytes',
    prometheus: {
      name: 'dgm_db_temp_bytes_total',
      type: 'counter',
      help: 'Bytes written to temporary files.',
    },
    priority: 12,
    series: (s) => one(s.temp.bytesInInterval, s.temp.bytesTotal),
  },
  {
    name: 'TransactionIdAge',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_xid_age',
      type: 'gauge',
      help: 'Highest age(datfrozenxid) on the server (wraparound stops writes near 2^31).',
    },
    priority: 13,
    series: (s) => one(s.wraparound.maxXidAge),
  },
  {
    name: 'DatabaseSizeBytes',
    unit: 'Bytes',
    prometheus: {
      name: 'dgm_db_database_size_bytes',
      type: 'gauge',
      help: 'Size of the database (measured on the costly samples, carried in between).',
    },
    priority: 14,
    series: (s) => one(s.storage.databaseBytes),
  },
  {
    name: 'DefaultPartitionRows',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_default_partition_rows',
      type: 'gauge',
      help: 'Rows in the default partitions of the managed partition sets.',
    },
    priority: 15,
    series: (s) =>
      isAvailable(s.partitions) && s.partitions.sets.length > 0 ? one(s.partitions.defaultRowsTotal) : [],
  },
  {
    name: 'PartitionsAheadDays',
    unit: 'None',
    prometheus: {
      // Prometheus's base unit for time is the second (promtool: use "seconds" instead of "days").
      name: 'dgm_db_partitions_ahead_seconds',
      type: 'gauge',
      help: 'Time until the newest partition of the least prepared managed set ends.',
    },
    priority: 16,
    series: (s) =>
      isAvailable(s.partitions) && s.partitions.minAheadDays != null
        ? one(s.partitions.minAheadDays, s.partitions.minAheadDays * 86_400)
        : [],
  },
  {
    name: 'ArchiveComplianceScore',
    unit: 'None',
    prometheus: {
      name: 'dgm_db_archive_compliance_score',
      type: 'gauge',
      help: 'Mean constitutional compliance score of the last 24 hours of archive rows (measured on the costly samples).',
    },
    priority: 17,
    series: (s) =>
      isAvailable(s.compliance) && s.compliance.recentArchiveScore != null
        ? one(s.compliance.recentArchiveScore)
        : [],
  },
  {
    name: 'CriticalComplianceViolations',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_critical_compliance_violations',
      type: 'gauge',
      help: 'Critical compliance log entries of the last 24 hours.',
    },
    priority: 18,
    series: (s) => (isAvailable(s.compliance) ? one(s.compliance.criticalViolations24h) : []),
  },
  {
    name: 'ReplicationLagSeconds',
    unit: 'Seconds',
    prometheus: {
      name: 'dgm_db_replication_lag_seconds',
      type: 'gauge',
      help: 'Replay lag of the slowest replica (on a replica: since its last replayed transaction).',
    },
    priority: 19,
    series: (s) => {
      const lag =
        s.replication.role === 'replica'
          ? s.replication.replayDelaySeconds
          : s.replication.maxReplicaLagSeconds;
      return s.replication.replicas.length > 0 || s.replication.role === 'replica' ? one(lag ?? 0) : [];
    },
  },
  {
    name: 'ReplicationSlotRetainedBytes',
    unit: 'Bytes',
    prometheus: {
      name: 'dgm_db_replication_slot_retained_bytes',
      type: 'gauge',
      help: 'WAL the most demanding replication slot keeps.',
    },
    priority: 20,
    series: (s) => (s.replication.slots.length > 0 ? one(s.replication.maxSlotRetainedBytes ?? 0) : []),
  },
  {
    name: 'QueryDuration',
    unit: 'Seconds',
    prometheus: {
      name: 'dgm_db_query_duration_seconds',
      type: 'gauge',
      help: 'Mean execution time per call by operation and main table (top statements).',
    },
    dimensions: [
      { cloudwatch: 'Operation', prometheus: 'operation' },
      { cloudwatch: 'Table', prometheus: 'table' },
    ],
    priority: 30,
    series: (s, top) =>
      isAvailable(s.statements)
        ? s.statements.byOperationTable
            .filter((d) => d.meanSeconds != null && d.calls > 0)
            .slice(0, top)
            .map((d) => ({
              labels: [d.operation, tableLabel({ schema: d.schema, name: d.table })],
              cloudwatch: d.meanSeconds,
              prometheus: d.meanSeconds,
            }))
        : [],
  },
  {
    name: 'TableCacheHitRatio',
    unit: 'Percent',
    prometheus: {
      name: 'dgm_db_cache_hit_ratio',
      type: 'gauge',
      help: 'Buffer cache hit ratio per table in the interval.',
    },
    dimensions: TABLE,
    priority: 31,
    series: (s, top) =>
      s.cache.tables.slice(0, top).map((t) => ({
        labels: [tableLabel(t.table)],
        cloudwatch: pct(t.hitRatio),
        prometheus: t.hitRatio,
      })),
  },
  {
    name: 'InvalidIndexes',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_invalid_indexes',
      type: 'gauge',
      help: 'Indexes left invalid (a failed concurrent build).',
    },
    priority: 40,
    series: (s) => one(s.indexes.invalidCount),
  },
  {
    name: 'PartitionPruningScannedShare',
    unit: 'Percent',
    prometheus: {
      name: 'dgm_db_partition_pruning_scanned_ratio',
      type: 'gauge',
      help: 'Worst share of a partition set the top statements scan (1 = no pruning).',
    },
    priority: 41,
    series: (s) =>
      isAvailable(s.pruning) && s.pruning.worstScannedShare != null
        ? one(pct(s.pruning.worstScannedShare), s.pruning.worstScannedShare)
        : [],
  },
  {
    name: 'TableBloatRatio',
    unit: 'Percent',
    prometheus: {
      name: 'dgm_db_table_bloat_ratio',
      type: 'gauge',
      help: 'Highest estimated heap bloat of a table (measured on the costly samples).',
    },
    priority: 42,
    series: (s) =>
      isAvailable(s.bloat) && s.bloat.maxBloatRatio != null
        ? one(pct(s.bloat.maxBloatRatio), s.bloat.maxBloatRatio)
        : [],
  },
  {
    name: 'DeadTuples',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_dead_tuples',
      type: 'gauge',
      help: 'Dead tuples waiting for vacuum, all tables.',
    },
    priority: 43,
    series: (s) => one(s.storage.deadTuplesTotal),
  },
  {
    name: 'CheckpointsRequested',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_checkpoints_requested_total',
      type: 'counter',
      help: 'Checkpoints forced before checkpoint_timeout (WAL volume).',
    },
    priority: 44,
    series: (s) => one(s.checkpoints.requestedInInterval, s.checkpoints.requestedTotal),
  },
  {
    name: 'RollbackRatio',
    unit: 'Percent',
    prometheus: {
      name: 'dgm_db_rollback_ratio',
      type: 'gauge',
      help: 'Rolled back transactions in the interval.',
    },
    priority: 45,
    series: (s) => one(pct(s.transactions.rollbackRatio), s.transactions.rollbackRatio),
  },
  {
    name: 'WalBytesPerSecond',
    unit: 'Bytes/Second',
    prometheus: { name: 'dgm_db_wal_bytes_total', type: 'counter', help: 'WAL position in bytes.' },
    priority: 46,
    series: (s) => (isAvailable(s.wal) ? one(s.wal.bytesPerSecond, s.wal.lsnBytes) : []),
  },
  {
    name: 'UnusedIndexes',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_unused_indexes',
      type: 'gauge',
      help: 'Indexes (not unique or primary) never scanned since the statistics reset.',
    },
    priority: 47,
    series: (s) => one(s.indexes.unusedCount),
  },
  {
    name: 'CommitsPerSecond',
    unit: 'Count/Second',
    prometheus: { name: 'dgm_db_commits_total', type: 'counter', help: 'Committed transactions.' },
    priority: 48,
    series: (s) => one(s.transactions.commitsPerSecond, s.transactions.commitsTotal),
  },
  {
    name: 'LongestLockWaitSeconds',
    unit: 'Seconds',
    prometheus: {
      name: 'dgm_db_lock_wait_longest_seconds',
      type: 'gauge',
      help: 'Longest current wait for a lock.',
    },
    priority: 49,
    series: (s) => one(s.locks.longestWaitSeconds),
  },
  {
    name: 'TempFiles',
    unit: 'Count',
    prometheus: { name: 'dgm_db_temp_files_total', type: 'counter', help: 'Temporary files created.' },
    priority: 50,
    series: (s) => one(s.temp.filesInInterval, s.temp.filesTotal),
  },
  {
    name: 'TableSizeBytes',
    unit: 'Bytes',
    prometheus: {
      name: 'dgm_db_table_size_bytes',
      type: 'gauge',
      help: 'Size of the largest tables (partitions rolled up).',
    },
    dimensions: TABLE,
    priority: 60,
    series: (s, top) =>
      s.storage.tables
        .slice(0, top)
        .map((t) => ({ labels: [tableLabel(t.table)], cloudwatch: t.totalBytes, prometheus: t.totalBytes })),
  },
];

export interface MetricSelection {
  points: MetricPoint[];
  /** Series the budget left out, as "Name{dims}". */
  dropped: string[];
}

/** The snapshot's metric points within the budget (maxMetrics series), highest priority first. */
export function metricPoints(
  snapshot: Snapshot,
  budget: { maxMetrics: number; topTables: number },
  specs: readonly MetricSpec[] = METRIC_SPECS,
): MetricSelection {
  const all = allPoints(snapshot, budget.topTables, specs, false);
  return { points: all.slice(0, budget.maxMetrics), dropped: all.slice(budget.maxMetrics).map(seriesName) };
}

/**
 * The points of the Prometheus exposition: every series, never trimmed by the CloudWatch budget (a
 * Prometheus series costs nothing per name), and a stable set from scrape to scrape: a series without a
 * value in this sample (a rate on a first sample) is still listed, with a null value the exposition
 * renders as NaN (gauges). A metric that does not apply (no replica: no replication lag) has no series.
 */
export function prometheusPoints(
  snapshot: Snapshot,
  topTables: number,
  specs: readonly MetricSpec[] = METRIC_SPECS,
): MetricPoint[] {
  return allPoints(snapshot, topTables, specs, true);
}

function allPoints(
  snapshot: Snapshot,
  topTables: number,
  specs: readonly MetricSpec[],
  stableGauges: boolean,
): MetricPoint[] {
  const all: MetricPoint[] = [];
  for (const spec of [...specs].sort((a, b) => a.priority - b.priority)) {
    for (const series of spec.series(snapshot, topTables)) {
      const dimensions: Record<string, string> = { DBInstance: snapshot.target };
      const labels: Record<string, string> = { db_instance: snapshot.target };
      (spec.dimensions ?? []).forEach((d, i) => {
        const value = series.labels?.[i] ?? '';
        dimensions[d.cloudwatch] = value;
        labels[d.prometheus] = value;
      });
      if (series.cloudwatch == null && series.prometheus == null && !stableGauges) continue;
      all.push({ spec, dimensions, labels, cloudwatch: series.cloudwatch, prometheus: series.prometheus });
    }
  }
  return all;
}

/** CloudWatch datums of the points that have a CloudWatch value this sample. */
export function toDatums(points: readonly MetricPoint[], timestamp?: Date): MetricDatum[] {
  return points
    .filter((p) => p.cloudwatch != null && Number.isFinite(p.cloudwatch))
    .map((p) => ({
      name: p.spec.name,
      value: p.cloudwatch!,
      unit: p.spec.unit,
      dimensions: p.dimensions,
      ...(timestamp ? { timestamp } : {}),
    }));
}

/** The datum that says a target could not be sampled. */
export function upDatum(target: string, up: 0 | 1, timestamp?: Date): MetricDatum {
  return {
    name: 'Up',
    value: up,
    unit: 'Count',
    dimensions: { DBInstance: target },
    ...(timestamp ? { timestamp } : {}),
  };
}

function seriesName(p: MetricPoint): string {
  const extra = Object.entries(p.dimensions).filter(([k]) => k !== 'DBInstance');
  return extra.length ? `${p.spec.name}{${extra.map(([k, v]) => `${k}=${v}`).join(',')}}` : p.spec.name;
}

/**
 * Keeps a long-running exporter's series set stable: a labelled series listed once (a table in the top
 * tables, an operation on a table) stays listed with a null value (NaN in the exposition) in samples
 * where it is not among the top ones, instead of coming and going between scrapes. Bounded by the
 * tables and operations the database has.
 */
export class PrometheusSeriesMemory {
  private readonly seen = new Map<string, MetricPoint>();

  /** The sample's points, then every series seen before and missing now (null values). */
  remember(points: readonly MetricPoint[]): MetricPoint[] {
    const now = new Set<string>();
    for (const p of points) {
      const key = `${p.spec.prometheus.name}${JSON.stringify(p.labels)}`;
      now.add(key);
      if (p.spec.dimensions?.length) this.seen.set(key, p);
    }
    const missing = [...this.seen]
      .filter(([key]) => !now.has(key))
      .map(([, p]) => ({ ...p, cloudwatch: null, prometheus: null }));
    return [...points, ...missing];
  }
}
