import { describe, expect, it } from 'vitest';
import { renderPrometheus, renderPrometheusDown } from '../../functions/adapters/local/prometheus.ts';
import { parseConfig } from '../../functions/config.ts';
import {
  METRIC_SPECS,
  metricPoints,
  PrometheusSeriesMemory,
  prometheusPoints,
  tableLabel,
  toDatums,
  upDatum,
} from '../../functions/monitor/metrics.ts';
import type { Snapshot, StatementStats, StatementSummary } from '../../functions/monitor/snapshot.ts';

const monitoring = parseConfig({}).monitoring;

function statement(i: number, table: string, op: StatementSummary['operation'] = 'select'): StatementSummary {
  return {
    queryId: String(i),
    calls: 10,
    totalMs: 100 * i,
    meanMs: 10 * i,
    rows: 1,
    sharedBlksHit: 1,
    sharedBlksRead: 0,
    blkReadTimeMs: 0,
    intervalCalls: 2,
    intervalTotalMs: 20 * i,
    intervalMeanMs: 10 * i,
    slow: false,
    normalized: `SELECT * FROM ${table} WHERE id = $1`,
    operation: op,
    mainTable: { schema: 'dgm', name: table },
    tables: [{ schema: 'dgm', name: table }],
  };
}

/** A complete snapshot with rates, many tables and statements (more series than the budget). */
function snapshotFixture(): Snapshot {
  const tables = Array.from({ length: 12 }, (_, i) => `table_${i}`);
  const statements: StatementStats = {
    available: true,
    entries: 4800,
    max: 5000,
    deallocations: 0,
    callsTotal: 100_000,
    totalExecMsTotal: 250_000,
    callsInInterval: 600,
    callsPerSecond: 10,
    avgQueryMs: 2.5,
    avgQueryMsTotal: 2.5,
    slowThresholdMs: 200,
    slowStatements: 3,
    slowStatementsInInterval: 1,
    slowCallsInInterval: 4,
    top: [],
    slowPatterns: [],
    byOperationTable: tables.map((t, i) => ({
      operation: i % 2 ? 'update' : 'select',
      table: t,
      schema: 'dgm',
      calls: 100 - i,
      totalMs: 1000 - i,
      meanSeconds: 0.01,
      interval: true,
    })),
    textsFetched: 0,
  };
  statements.top = [statement(1, 'performance_metrics')];
  return {
    schemaVersion: 1,
    target: 'orders-db',
    takenAt: '2026-11-28T10:00:00.000Z',
    collectMs: 80,
    roundTrips: 3,
    intervalSeconds: 60,
    baseline: { previousTakenAt: '2026-11-28T09:59:00.000Z', resetDetected: false, stored: true },
    fullCollection: false,
    server: {
      versionNum: 180004,
      version: '18.4',
      database: 'orders',
      inRecovery: false,
      startedAt: '2026-11-01T00:00:00.000Z',
      statsResetAt: null,
      statsAgeDays: 27,
      dgmSchema: true,
    },
    statements,
    connections: {
      total: 20,
      byState: {
        active: 5,
        idle: 12,
        idle_in_transaction: 2,
        idle_in_transaction_aborted: 1,
        fastpath_function_call: 0,
        disabled: 0,
      },
      maxConnections: 103,
      reservedConnections: 3,
      utilization: 0.2,
      longestTransactionSeconds: 12.5,
      longestQuerySeconds: 3,
      idleInTransaction: 3,
      longestIdleInTransactionSeconds: 8,
    },
    transactions: {
      commitsTotal: 5000,
      rollbacksTotal: 5,
      commitsPerSecond: 20,
      rollbacksPerSecond: 0.1,
      rollbackRatio: 0.005,
    },
    cache: {
      hitRatio: 0.987654,
      hitRatioTotal: 0.99,
      indexHitRatio: 0.995,
      indexHitRatioTotal: 0.996,
      tables: tables.map((t) => ({
        table: { schema: 'dgm', name: t },
        hitRatio: 0.9,
        hitRatioTotal: 0.95,
        blocksReadInInterval: 3,
      })),
    },
    temp: { filesTotal: 10, bytesTotal: 1_000_000, filesInInterval: 1, bytesInInterval: 8192 },
    locks: {
      waiting: 1,
      longestWaitSeconds: 2,
      blocked: [],
      byMode: {},
      deadlocksTotal: 3,
      deadlocksInInterval: 0,
    },
    checkpoints: {
      source: 'pg_stat_checkpointer',
      timedTotal: 10,
      requestedTotal: 2,
      timedInInterval: 0,
      requestedInInterval: 0,
      buffersWrittenTotal: 100,
      buffersWrittenInInterval: 0,
      writeTimeMsTotal: 10,
      syncTimeMsTotal: 1,
    },
    wal: {
      available: true,
      lsnBytes: 123_456_789,
      bytesPerSecond: 2048,
      buffersFullTotal: 0,
      buffersFullInInterval: 0,
    },
    indexes: {
      total: 40,
      top: [],
      unused: [],
      unusedCount: 2,
      unusedBytes: 16384,
      statsAgeDays: 27,
      unusedTrusted: true,
      invalid: [],
      invalidCount: 0,
    },
    partitions: { available: true, sets: [], defaultRowsTotal: 7, minAheadDays: 60 },
    pruning: { available: false, reason: 'not collected yet' },
    storage: {
      databaseBytes: 10_000_000,
      databaseBytesAt: null,
      tables: tables.map((t, i) => ({
        table: { schema: 'public', name: t },
        totalBytes: 1000 * (12 - i),
        liveTuples: 10,
        deadTuples: 1,
        deadRatio: 0.09,
        lastAutovacuum: null,
      })),
      deadTuplesTotal: 12,
      skippedLocked: [],
    },
    bloat: { available: false, reason: 'not collected yet' },
    wraparound: { xidAge: 1000, maxXidAge: 2000, mxidAge: 0, wraparoundRatio: 0 },
    replication: {
      role: 'primary',
      replicas: [],
      maxReplicaLagSeconds: null,
      slots: [],
      maxSlotRetainedBytes: null,
      replayDelaySeconds: null,
    },
    compliance: {
      available: true,
      recentArchiveScore: 0.93,
      archiveRows24h: 100,
      archiveMeasuredAt: null,
      criticalViolations24h: 1,
      violations24h: 2,
      constitutionHash: 'cdd01ef066bc6cf2',
      archiveScore30d: 0.95,
    },
    warnings: [],
  };
}

const seriesKey = (p: { spec: { name: string }; dimensions: Record<string, string> }) =>
  `${p.spec.name}${JSON.stringify(p.dimensions)}`;

describe('metric mapping', () => {
  it('keeps at most maxMetrics series, in priority order, Up first', () => {
    const { points, dropped } = metricPoints(snapshotFixture(), monitoring);
    expect(points).toHaveLength(40);
    expect(new Set(points.map(seriesKey)).size).toBe(40);
    expect(points[0]!.spec.name).toBe('Up');
    expect(dropped.length).toBeGreaterThan(0);
    const priorities = points.map((p) => p.spec.priority);
    expect([...priorities].sort((a, b) => a - b)).toEqual(priorities);
    // Per-table series only for the top tables.
    expect(points.filter((p) => p.spec.name === 'TableCacheHitRatio')).toHaveLength(monitoring.topTables);
    expect(points.filter((p) => p.spec.name === 'QueryDuration')).toHaveLength(monitoring.topTables);
  });

  it('maps the design names: dimensions in CloudWatch, labels in Prometheus', () => {
    const { points } = metricPoints(snapshotFixture(), { maxMetrics: 200, topTables: 5 });
    const q = points.find((p) => p.spec.name === 'QueryDuration')!;
    expect(q.dimensions).toEqual({ DBInstance: 'orders-db', Operation: 'select', Table: 'table_0' });
    expect(q.labels).toEqual({ db_instance: 'orders-db', operation: 'select', table: 'table_0' });
    expect(q.spec.prometheus.name).toBe('dgm_db_query_duration_seconds');
    const conn = points.filter((p) => p.spec.name === 'Connections');
    expect(conn.map((c) => [c.labels.state, c.cloudwatch])).toEqual([
      ['active', 5],
      ['idle', 12],
      ['idle_in_transaction', 3],
    ]);
    const cache = points.find((p) => p.spec.name === 'CacheHitRatio')!;
    expect(cache.cloudwatch).toBeCloseTo(98.7654, 4);
    expect(cache.prometheus).toBeCloseTo(0.987654, 6);
    const dl = points.find((p) => p.spec.name === 'Deadlocks')!;
    expect([dl.cloudwatch, dl.prometheus, dl.spec.prometheus.type]).toEqual([0, 3, 'counter']);
  });

  it('every spec has a unique CloudWatch and Prometheus name in the design style', () => {
    expect(new Set(METRIC_SPECS.map((s) => s.name)).size).toBe(METRIC_SPECS.length);
    expect(new Set(METRIC_SPECS.map((s) => s.prometheus.name)).size).toBe(METRIC_SPECS.length);
    for (const s of METRIC_SPECS) {
      expect(s.name).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(s.prometheus.name).toMatch(/^dgm_db_[a-z_]+$/);
      if (s.prometheus.type === 'counter') expect(s.prometheus.name).toMatch(/_total$/);
    }
  });

  it('a first sample sends no rate datums, and Prometheus still gets the cumulative counters', () => {
    const s = snapshotFixture();
    s.intervalSeconds = null;
    s.locks.deadlocksInInterval = null;
    s.temp.bytesInInterval = null;
    s.cache.hitRatio = null;
    const { points } = metricPoints(s, monitoring);
    const datums = toDatums(points);
    expect(datums.find((d) => d.name === 'Deadlocks')).toBeUndefined();
    expect(datums.find((d) => d.name === 'CacheHitRatio')).toBeUndefined();
    expect(renderPrometheus(points)).toMatch(/^dgm_db_deadlocks_total\{db_instance="orders-db"\} 3$/m);
    expect(datums.every((d) => Number.isFinite(d.value) && d.value >= 0)).toBe(true);
  });

  it('renders valid Prometheus exposition text, one HELP and TYPE per metric, labels escaped', () => {
    const s = snapshotFixture();
    s.target = 'db "a"\\b';
    const text = renderPrometheus(metricPoints(s, monitoring).points);
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n');
    const typed = new Set<string>();
    for (const line of lines) {
      if (line.startsWith('# TYPE ')) {
        const [, , name, type] = line.split(' ');
        expect(typed.has(name!)).toBe(false);
        typed.add(name!);
        expect(['gauge', 'counter']).toContain(type);
        continue;
      }
      if (line.startsWith('# HELP ')) continue;
      expect(line).toMatch(
        /^[a-z_]+\{[a-z_]+="(?:[^"\\\n]|\\["\\n])*"(?:,[a-z_]+="(?:[^"\\\n]|\\["\\n])*")*\} -?\d+(\.\d+)?(e-?\d+)?$/,
      );
      expect(typed.has(line.slice(0, line.indexOf('{')))).toBe(true);
    }
    expect(text).toContain('db_instance="db \\"a\\"\\\\b"');
    expect(renderPrometheusDown('x')).toMatch(/^dgm_db_up\{db_instance="x"\} 0$/m);
  });

  it('labels tables by name, qualified outside public and dgm', () => {
    expect(tableLabel({ schema: 'dgm', name: 'dgm_archive' })).toBe('dgm_archive');
    expect(tableLabel({ schema: 'sales', name: 'orders' })).toBe('sales.orders');
    expect(tableLabel(null)).toBe('none');
    expect(upDatum('t', 0)).toEqual({ name: 'Up', value: 0, unit: 'Count', dimensions: { DBInstance: 't' } });
  });
});

describe('Prometheus points', () => {
  it('are never trimmed by the CloudWatch budget, and keep unlabelled gauges without a value as NaN', () => {
    const s = snapshotFixture();
    s.cache.hitRatio = null;
    const all = prometheusPoints(s, monitoring.topTables);
    const { points, dropped } = metricPoints(s, monitoring);
    // Every series CloudWatch gets or the budget drops, plus the gauges without a value this sample.
    const names = new Set(all.map((p) => `${p.spec.name}${JSON.stringify(p.dimensions)}`));
    for (const p of points) expect(names.has(`${p.spec.name}${JSON.stringify(p.dimensions)}`)).toBe(true);
    expect(all.length).toBeGreaterThan(points.length + dropped.length);
    const text = renderPrometheus(all);
    expect(text).toMatch(/^dgm_db_database_cache_hit_ratio\{db_instance="orders-db"\} NaN$/m);
    expect(text).toMatch(/^dgm_db_table_size_bytes\{/m);
    // Days are seconds in Prometheus (base unit), days in CloudWatch.
    const ahead = all.find((p) => p.spec.name === 'PartitionsAheadDays')!;
    expect(ahead.spec.prometheus.name).toBe('dgm_db_partitions_ahead_seconds');
    expect(ahead.prometheus).toBe(ahead.cloudwatch! * 86_400);
  });

  it('gauges do not end in _total except the design name, and no name carries a unit other than the base ones', () => {
    for (const spec of METRIC_SPECS) {
      const name = spec.prometheus.name;
      if (spec.prometheus.type === 'gauge' && name !== 'dgm_db_connections_total')
        expect(name).not.toMatch(/_total$/);
      expect(name).not.toMatch(/_(days|hours|minutes|milliseconds|ms|kb|mb|percent)(_|$)/);
    }
  });

  it('an exporter remembers labelled series, so a table leaving the top tables stays listed as NaN', () => {
    const memory = new PrometheusSeriesMemory();
    const s1 = snapshotFixture();
    const first = memory.remember(prometheusPoints(s1, monitoring.topTables));
    const s2 = snapshotFixture();
    s2.cache.tables = s2.cache.tables.slice(1);
    const second = memory.remember(prometheusPoints(s2, monitoring.topTables));
    const key = (p: { spec: { prometheus: { name: string } }; labels: Record<string, string> }) =>
      `${p.spec.prometheus.name}${JSON.stringify(p.labels)}`;
    const now = new Set(second.map(key));
    for (const p of first) expect(now.has(key(p)), key(p)).toBe(true);
    const gone = second.find(
      (p) => key(p) === key(first.find((q) => q.spec.name === 'TableCacheHitRatio')!),
    )!;
    expect(gone.prometheus).toBeNull();
  });
});
