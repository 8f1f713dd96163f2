import { describe, expect, it } from 'vitest';
import type { Observation, RuleEvaluation } from '../../functions/alerting/lifecycle.ts';
import { intervalDays } from '../../functions/alerting/rule-evaluators.ts';
import { evaluateRules, resolveRules, ruleCatalogue } from '../../functions/alerting/rules.ts';
import { ALERT_RULE_NAMES, parseConfig } from '../../functions/config.ts';
import { BadInputError } from '../../functions/errors.ts';
import type { Snapshot, StatementSummary } from '../../functions/monitor/snapshot.ts';

/**
 * A healthy sample; tests change the figures they are about. Asserted rather than annotated: the
 * Snapshot type only grows, and fields these rules do not read may be added.
 */
function snapshot(): Snapshot {
  return {
    schemaVersion: 1,
    target: 'local',
    takenAt: '2026-11-28T08:00:00.000Z',
    collectMs: 40,
    roundTrips: 3,
    intervalSeconds: 60,
    baseline: { previousTakenAt: '2026-11-28T07:59:00.000Z', resetDetected: false, stored: true },
    fullCollection: false,
    server: {
      versionNum: 180001,
      version: '18.1',
      database: 'app',
      inRecovery: false,
      startedAt: '2026-11-01T00:00:00.000Z',
      statsResetAt: null,
      statsAgeDays: 27,
      dgmSchema: true,
    },
    statements: {
      available: true,
      entries: 10,
      max: 5000,
      deallocations: 0,
      callsTotal: 1000,
      totalExecMsTotal: 5000,
      callsInInterval: 100,
      callsPerSecond: 1.7,
      avgQueryMs: 5,
      avgQueryMsTotal: 5,
      slowThresholdMs: 200,
      slowStatements: 0,
      slowStatementsInInterval: 0,
      slowCallsInInterval: 0,
      top: [],
      slowPatterns: [],
      byOperationTable: [],
      textsFetched: 0,
    },
    connections: {
      total: 10,
      byState: {
        active: 2,
        idle: 8,
        idle_in_transaction: 0,
        idle_in_transaction_aborted: 0,
        fastpath_function_call: 0,
        disabled: 0,
      },
      maxConnections: 100,
      reservedConnections: 3,
      utilization: 10 / 97,
      longestTransactionSeconds: 1,
      longestQuerySeconds: 1,
      idleInTransaction: 0,
      longestIdleInTransactionSeconds: 0,
    },
    transactions: {
      commitsTotal: 1,
      rollbacksTotal: 0,
      commitsPerSecond: 1,
      rollbacksPerSecond: 0,
      rollbackRatio: 0,
    },
    cache: { hitRatio: 0.99, hitRatioTotal: 0.99, indexHitRatio: 0.99, indexHitRatioTotal: 0.99, tables: [] },
    temp: { filesTotal: 0, bytesTotal: 0, filesInInterval: 0, bytesInInterval: 0 },
    locks: {
      waiting: 0,
      longestWaitSeconds: 0,
      blocked: [],
      byMode: {},
      deadlocksTotal: 0,
      deadlocksInInterval: 0,
    },
    checkpoints: {
      source: 'pg_stat_checkpointer',
      timedTotal: 1,
      requestedTotal: 0,
      timedInInterval: 0,
      requestedInInterval: 0,
      buffersWrittenTotal: 0,
      buffersWrittenInInterval: 0,
      writeTimeMsTotal: 0,
      syncTimeMsTotal: 0,
    },
    wal: { available: true, lsnBytes: 1, bytesPerSecond: 1, buffersFullTotal: 0, buffersFullInInterval: 0 },
    indexes: {
      total: 1,
      top: [],
      unused: [],
      unusedCount: 0,
      unusedBytes: 0,
      statsAgeDays: 27,
      unusedTrusted: true,
      invalid: [],
      invalidCount: 0,
    },
    partitions: {
      available: true,
      sets: [
        {
          parent: { schema: 'dgm', name: 'performance_metrics' },
          managed: true,
          partitionInterval: '1 mon',
          partitions: 5,
          totalBytes: 1,
          minBytes: 1,
          maxBytes: 1,
          medianBytes: 1,
          avgBytes: 1,
          defaultPartitions: 1,
          defaultRows: 0,
          newestBound: '2027-03-01',
          aheadDays: 93,
        },
      ],
      defaultRowsTotal: 0,
      minAheadDays: 93,
    },
    pruning: { available: false, reason: 'collected every 15 samples' },
    storage: {
      databaseBytes: 1_000_000,
      databaseBytesAt: null,
      tables: [],
      deadTuplesTotal: 0,
      skippedLocked: [],
    },
    bloat: { available: false, reason: 'collected every 15 samples' },
    wraparound: { xidAge: 1000, maxXidAge: 2000, mxidAge: 10, wraparoundRatio: 2000 / 2 ** 31 },
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
      recentArchiveScore: 0.95,
      archiveRows24h: 10,
      archiveMeasuredAt: null,
      criticalViolations24h: 0,
      violations24h: 1,
    },
    warnings: [],
  } as unknown as Snapshot;
}

const config = parseConfig({});

function evaluate(
  snap: Snapshot,
  cfg = config,
  inputs?: Parameters<typeof evaluateRules>[0] extends infer I
    ? I extends { ok: true; inputs?: infer X }
      ? X
      : never
    : never,
) {
  const rules = resolveRules(cfg);
  const out = new Map<string, RuleEvaluation>();
  for (const e of evaluateRules({ ok: true, snapshot: snap, inputs }, rules, cfg)) out.set(e.rule, e);
  return out;
}

function observations(e: RuleEvaluation | undefined): Observation[] {
  if (e?.status !== 'evaluated') throw new Error(`not evaluated: ${JSON.stringify(e)}`);
  return e.observations;
}

describe('alert rules', () => {
  it('defines every configurable rule, with a runbook', () => {
    expect(ruleCatalogue().map((r) => r.name)).toEqual([...ALERT_RULE_NAMES]);
    for (const r of ruleCatalogue()) expect(r.runbook.length).toBeGreaterThan(20);
  });

  it("takes the design's MonitoringConfig thresholds as defaults", () => {
    const rules = resolveRules(config);
    expect(rules.get('connection_utilization')).toMatchObject({ warning: 0.8, critical: 0.95, clear: 0.75 });
    expect(rules.get('cache_hit_ratio')).toMatchObject({
      direction: 'below',
      warning: 0.9,
      critical: 0.8,
      clear: 0.92,
    });
    expect(rules.get('slow_queries')).toMatchObject({ warning: 1, critical: 10, pendingSamples: 2 });
    const custom = resolveRules(
      parseConfig({
        monitoring: { connectionUtilizationThreshold: 0.7, cacheHitRatioThreshold: 0.95 },
        alerting: {
          pendingSamples: 3,
          runbookBaseUrl: 'https://wiki.example.com/dgm',
          rules: {
            deadlocks: { enabled: false },
            lock_waits: { warning: 5, critical: 60, clear: 1, pendingSamples: 1 },
          },
        },
      }),
    );
    expect(custom.get('connection_utilization')).toMatchObject({
      warning: 0.7,
      clear: 0.65,
      pendingSamples: 3,
    });
    expect(custom.get('cache_hit_ratio')).toMatchObject({ warning: 0.95, critical: 0.85, clear: 0.97 });
    expect(custom.has('deadlocks')).toBe(false);
    expect(custom.get('lock_waits')).toMatchObject({ warning: 5, critical: 60, clear: 1, pendingSamples: 1 });
    expect(custom.get('lock_waits')?.runbook).toMatch(
      /Runbook: https:\/\/wiki\.example\.com\/dgm#lock_waits$/,
    );
  });

  it('refuses thresholds on the wrong side of each other', () => {
    const bad = (rules: Record<string, unknown>) => () => resolveRules(parseConfig({ alerting: { rules } }));
    expect(bad({ lock_waits: { clear: 40 } })).toThrow(BadInputError);
    expect(bad({ lock_waits: { clear: 40 } })).toThrow(
      'alerting.rules.lock_waits: clear 40 must be below the firing threshold 30',
    );
    expect(bad({ cache_hit_ratio: { warning: 0.7, critical: 0.8 } })).toThrow(
      'warning 0.7 is beyond critical 0.8',
    );
    expect(bad({ cache_hit_ratio: { clear: 0.5 } })).toThrow(
      'clear 0.5 must be above the firing threshold 0.9',
    );
  });

  it('a failed sample fires database_unreachable and leaves every other rule UNKNOWN', () => {
    const rules = resolveRules(config);
    const out = evaluateRules(
      { ok: false, error: 'cannot connect to db:5432/app: ECONNREFUSED' },
      rules,
      config,
    );
    expect(out.find((e) => e.rule === 'database_unreachable')).toEqual({
      rule: 'database_unreachable',
      status: 'evaluated',
      observations: [
        {
          rule: 'database_unreachable',
          resource: 'database',
          value: 1,
          message: 'Sampling failed: cannot connect to db:5432/app: ECONNREFUSED',
        },
      ],
    });
    expect(out.filter((e) => e.status === 'unknown')).toHaveLength(ALERT_RULE_NAMES.length - 1);
  });

  it('reads each rule from its figures in the sample', () => {
    const s = snapshot();
    s.statements = { ...s.statements, available: true } as typeof s.statements;
    if (s.statements.available) {
      s.statements.slowStatementsInInterval = 2;
      s.statements.slowPatterns = [
        {
          queryId: '1',
          calls: 40,
          totalMs: 32000,
          meanMs: 800,
          rows: 40,
          sharedBlksHit: 0,
          sharedBlksRead: 0,
          intervalCalls: 40,
          intervalTotalMs: 32000,
          intervalMeanMs: 800,
          slow: true,
          normalized: 'SELECT *\n  FROM dgm.dgm_archive WHERE status = $1',
          operation: 'select',
          mainTable: { schema: 'dgm', name: 'dgm_archive' },
          tables: [{ schema: 'dgm', name: 'dgm_archive' }],
        } as StatementSummary,
      ];
    }
    s.locks = {
      ...s.locks,
      waiting: 2,
      longestWaitSeconds: 45,
      blocked: [{ pid: 7, blockedBy: [5], waitSeconds: 45, waitEvent: 'relation' }],
      deadlocksInInterval: 1,
    };
    s.connections = {
      ...s.connections,
      longestTransactionSeconds: 400,
      idleInTransaction: 1,
      longestIdleInTransactionSeconds: 70,
    };
    s.replication = {
      ...s.replication,
      replicas: [{ name: 'replica1', state: 'streaming', replayLagSeconds: 90, lagBytes: 1024 }],
      slots: [{ name: 'stale', active: false, retainedBytes: 2 * 1024 ** 3 }],
    };
    if (s.partitions.available)
      s.partitions.sets[0] = { ...s.partitions.sets[0]!, defaultRows: 12, aheadDays: 20 };
    if (s.compliance.available) s.compliance.criticalViolations24h = 3;
    s.fullCollection = true;
    s.bloat = {
      available: true,
      collectedAt: s.takenAt,
      tables: [
        {
          table: { schema: 'dgm', name: 'big' },
          bytes: 100 * 1024 ** 2,
          estimatedBloatBytes: 60 * 1024 ** 2,
          bloatRatio: 0.6,
        },
        { table: { schema: 'dgm', name: 'small' }, bytes: 1024, estimatedBloatBytes: 900, bloatRatio: 0.9 },
      ],
      estimatedBloatBytesTotal: 0,
      maxBloatRatio: 0.9,
    };
    const cfg = parseConfig({ alerting: { storageCapacityBytes: 1_100_000 } });
    const out = evaluate(s, cfg, {
      maintenance: {
        available: true,
        runs: [
          {
            job: 'maintain',
            runId: 'r1',
            startedAt: s.takenAt,
            endedAt: s.takenAt,
            actions: 3,
            failed: 1,
            refused: 0,
            failures: [
              {
                action: 'create_partition',
                target: 'dgm.x',
                status: 'failed',
                error: 'canceling statement due to lock timeout',
              },
            ],
          },
        ],
      },
    });
    const value = (rule: string) => observations(out.get(rule)).map((o) => [o.resource, o.value]);
    expect(value('slow_queries')).toEqual([['database', 2]]);
    expect(observations(out.get('slow_queries'))[0]!.message).toBe(
      '2 statement(s) averaged above 200 ms over the last 60 s: SELECT * FROM dgm.dgm_archive WHERE status = $1 (800 ms mean, 40 calls, dgm.dgm_archive)',
    );
    expect(value('lock_waits')).toEqual([['database', 45]]);
    expect(observations(out.get('lock_waits'))[0]!.message).toBe(
      '2 session(s) wait for locks; longest 45 s (pid 7 blocked by 5, relation)',
    );
    expect(value('deadlocks')).toEqual([['database', 1]]);
    expect(value('long_running_transaction')).toEqual([['database', 400]]);
    expect(value('idle_in_transaction')).toEqual([['database', 70]]);
    expect(value('replication_lag')).toEqual([['replica:replica1', 90]]);
    expect(value('replication_slot_lag')).toEqual([['slot:stale', 2 * 1024 ** 3]]);
    expect(value('default_partition_rows')).toEqual([['dgm.performance_metrics', 12]]);
    expect(value('partitions_running_out')).toEqual([['dgm.performance_metrics', 20 / 30.44]]);
    expect(value('compliance_violations')).toEqual([['database', 3]]);
    // The small table is under the size floor.
    expect(value('table_bloat')).toEqual([['dgm.big', 0.6]]);
    expect(value('disk_usage')).toEqual([['database', 1_000_000 / 1_100_000]]);
    expect(value('maintenance_failed')).toEqual([['maintain', 1]]);
    expect(observations(out.get('maintenance_failed'))[0]!.message).toContain(
      'create_partition dgm.x: failed (canceling statement due to lock timeout)',
    );
    expect(value('database_unreachable')).toEqual([['database', 0]]);
  });

  it('leaves slow utility statements (ANALYZE, CREATE INDEX) out of slow_queries', () => {
    const s = snapshot();
    const analyze = {
      queryId: '9',
      calls: 1,
      meanMs: 6000,
      intervalCalls: 1,
      intervalMeanMs: 6000,
      slow: true,
      normalized: 'ANALYZE dgm.dgm_archive',
      operation: 'utility',
      mainTable: { schema: 'dgm', name: 'dgm_archive' },
      tables: [],
    } as unknown as StatementSummary;
    if (s.statements.available) {
      s.statements.slowStatementsInInterval = 1;
      s.statements.slowPatterns = [analyze];
      s.statements.top = [analyze];
    }
    const out = evaluate(s);
    expect(observations(out.get('slow_queries'))).toEqual([
      {
        rule: 'slow_queries',
        resource: 'database',
        value: 0,
        message:
          'No query averaged above 200 ms over the last 60 s (1 slow utility statement(s) such as ANALYZE not counted)',
      },
    ]);
  });

  it('skips figures not measured in this sample, and reports missing sections as UNKNOWN', () => {
    const s = snapshot();
    s.statements = { available: false, reason: 'pg_stat_statements is not installed' };
    s.cache.hitRatio = null;
    s.locks.deadlocksInInterval = null;
    s.compliance = { available: false, reason: 'the DGM schema is not installed' };
    const out = evaluate(s);
    expect(out.get('slow_queries')).toEqual({
      rule: 'slow_queries',
      status: 'unknown',
      reason: 'pg_stat_statements is not installed',
    });
    expect(out.get('cache_hit_ratio')?.status).toBe('skipped');
    expect(out.get('deadlocks')?.status).toBe('skipped');
    expect(out.get('table_bloat')?.status).toBe('skipped');
    expect(out.get('disk_usage')).toEqual({
      rule: 'disk_usage',
      status: 'skipped',
      reason: 'alerting.storageCapacityBytes is not set',
    });
    expect(out.get('maintenance_failed')?.status).toBe('skipped');
    expect(out.get('compliance_violations')?.status).toBe('unknown');
  });

  it('disk usage is UNKNOWN, not OK, before the database size was first measured', () => {
    const s = snapshot();
    s.storage.databaseBytes = null;
    const cfg = parseConfig({ alerting: { storageCapacityBytes: 1_100_000 } });
    expect(evaluate(s, cfg).get('disk_usage')).toEqual({
      rule: 'disk_usage',
      status: 'unknown',
      reason: 'the database size is not measured yet: it comes with the costly figures',
    });
  });

  it('a rule that throws becomes UNKNOWN without silencing the others', () => {
    const s = snapshot();
    (s as unknown as { locks: unknown }).locks = undefined;
    const out = evaluate(s);
    expect(out.get('lock_waits')?.status).toBe('unknown');
    expect(out.get('connection_utilization')?.status).toBe('evaluated');
  });

  it('reads partition intervals as PostgreSQL prints them', () => {
    expect(intervalDays('1 mon')).toBeCloseTo(30.44);
    expect(intervalDays('3 mons')).toBeCloseTo(91.32);
    expect(intervalDays('1 year')).toBeCloseTo(365.25);
    expect(intervalDays('7 days')).toBe(7);
    expect(intervalDays('1 day')).toBe(1);
    expect(intervalDays(null)).toBeNull();
    expect(intervalDays('00:30:00')).toBeNull();
  });
});
