import type { AlertRuleName, RuntimeConfig } from '../config.ts';
import {
  isAvailable,
  type RelationName,
  type Snapshot,
  type StatementSummary,
  type Unavailable,
} from '../monitor/snapshot.ts';
import type { AlertInputs } from './inputs.ts';
import type { Observation, RuleEvaluation, RuleSettings } from './lifecycle.ts';

/**
 * How each alert rule reads the sampler's Snapshot (and the audit trail's run outcomes): one figure
 * and one message per resource. The rules' thresholds and texts are in rule-definitions.ts.
 */

export type RuleEvaluator = (
  snapshot: Snapshot,
  s: RuleSettings,
  config: RuntimeConfig,
  inputs?: AlertInputs,
) => RuleEvaluation;

const rel = (r: RelationName | null | undefined) => (r ? `${r.schema}.${r.name}` : '-');

export const oneLine = (text: string, max = 120) => {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length <= max ? t : `${t.slice(0, max - 1)}…`;
};

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

const secs = (v: number) =>
  v >= 120 ? `${(v / 60).toFixed(1)} min` : v < 10 ? `${v.toFixed(1)} s` : `${Math.round(v)} s`;

const bytes = (v: number) => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let x = v;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`;
};

export const evaluated = (rule: string, observations: Observation[]): RuleEvaluation => ({
  rule,
  status: 'evaluated',
  observations,
});

const unknownSection = (rule: string, section: Unavailable): RuleEvaluation => ({
  rule,
  status: 'unknown',
  reason: section.reason,
});

/** Days in a partition interval as PostgreSQL prints it ("1 mon", "3 mons", "1 year", "7 days"). */
export function intervalDays(text: string | null): number | null {
  if (!text) return null;
  let days = 0;
  let matched = false;
  for (const m of text.matchAll(/(-?\d+(?:\.\d+)?)\s*(years?|mons?|months?|days?|weeks?)/gi)) {
    matched = true;
    const n = Number(m[1]);
    const unit = m[2]!.toLowerCase();
    if (unit.startsWith('year')) days += n * 365.25;
    else if (unit.startsWith('mon')) days += n * 30.44;
    else if (unit.startsWith('week')) days += n * 7;
    else days += n;
  }
  return matched && days > 0 ? days : null;
}

function slowStatementLine(s: StatementSummary): string {
  const mean = s.intervalMeanMs ?? s.meanMs;
  const calls = s.intervalCalls ?? s.calls;
  return `${oneLine(s.normalized, 100)} (${Math.round(mean)} ms mean, ${calls} calls${s.mainTable ? `, ${rel(s.mainTable)}` : ''})`;
}

export const RULE_EVALUATORS: Record<AlertRuleName, RuleEvaluator> = {
  // Only reached when the sample succeeded; evaluateRules reports the failure itself.
  database_unreachable: (snap) =>
    evaluated('database_unreachable', [
      {
        rule: 'database_unreachable',
        resource: 'database',
        value: 0,
        message: `Sampled ${snap.server.database} (PostgreSQL ${snap.server.version}) in ${Math.round(snap.collectMs)} ms`,
      },
    ]),
  slow_queries(snap, _s, config) {
    const st = snap.statements;
    if (!isAvailable(st)) return unknownSection('slow_queries', st);
    if (st.slowStatementsInInterval === null) {
      return {
        rule: 'slow_queries',
        status: 'skipped',
        reason: 'no interval figures yet (first sample or statistics reset)',
      };
    }
    const threshold = config.slowQueryThresholdMs;
    // Utility statements (ANALYZE, CREATE INDEX, VACUUM: maintenance, ours included) are slow by
    // nature and are not queries; they are taken out of the count, as far as the snapshot lists them.
    const seen = new Map<string, StatementSummary>();
    for (const p of [...st.slowPatterns, ...st.top]) seen.set(p.queryId, p);
    const slowInInterval = [...seen.values()].filter(
      (p) => p.intervalMeanMs !== null && p.intervalMeanMs > threshold,
    );
    const utility = slowInInterval.filter((p) => p.operation === 'utility').length;
    const slow = slowInInterval
      .filter((p) => p.operation !== 'utility')
      .sort((a, b) => (b.intervalMeanMs ?? 0) - (a.intervalMeanMs ?? 0));
    const n = Math.max(0, st.slowStatementsInInterval - utility);
    const over = snap.intervalSeconds ? ` over the last ${secs(snap.intervalSeconds)}` : '';
    const left = utility > 0 ? ` (${utility} slow utility statement(s) such as ANALYZE not counted)` : '';
    const message =
      n === 0
        ? `No query averaged above ${threshold} ms${over}${left}`
        : `${n} statement(s) averaged above ${threshold} ms${over}: ${slow.slice(0, 3).map(slowStatementLine).join('; ')}${left}`;
    return evaluated('slow_queries', [{ rule: 'slow_queries', resource: 'database', value: n, message }]);
  },
  connection_utilization(snap) {
    const c = snap.connections;
    const usable = c.maxConnections - c.reservedConnections;
    const states = Object.entries(c.byState)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${v} ${k.replaceAll('_', ' ')}`)
      .join(', ');
    return evaluated('connection_utilization', [
      {
        rule: 'connection_utilization',
        resource: 'database',
        value: c.utilization,
        message: `${c.total} of ${usable} usable connections in use (${pct(c.utilization)}; max_connections ${c.maxConnections}, ${c.reservedConnections} reserved)${states ? `: ${states}` : ''}`,
      },
    ]);
  },
  cache_hit_ratio(snap) {
    const ratio = snap.cache.hitRatio;
    if (ratio === null) {
      return {
        rule: 'cache_hit_ratio',
        status: 'skipped',
        reason: 'no block reads in the interval (or no baseline yet)',
      };
    }
    const worst = snap.cache.tables
      .filter((t) => t.hitRatio !== null && (t.blocksReadInInterval ?? 0) > 0)
      .sort((a, b) => (a.hitRatio ?? 1) - (b.hitRatio ?? 1))
      .slice(0, 3)
      .map((t) => `${rel(t.table)} ${pct(t.hitRatio!)}`);
    const over = snap.intervalSeconds ? ` over the last ${secs(snap.intervalSeconds)}` : '';
    return evaluated('cache_hit_ratio', [
      {
        rule: 'cache_hit_ratio',
        resource: 'database',
        value: ratio,
        message: `Buffer cache hit ratio ${pct(ratio)}${over}${worst.length ? `; lowest tables: ${worst.join(', ')}` : ''}`,
      },
    ]);
  },
  lock_waits(snap) {
    const l = snap.locks;
    const value = l.waiting > 0 ? l.longestWaitSeconds : 0;
    const worst = [...l.blocked].sort((a, b) => b.waitSeconds - a.waitSeconds)[0];
    const message =
      l.waiting === 0
        ? 'No session waits for a lock'
        : `${l.waiting} session(s) wait for locks; longest ${secs(l.longestWaitSeconds)}${worst ? ` (pid ${worst.pid} blocked by ${worst.blockedBy.join(', ')}${worst.waitEvent ? `, ${worst.waitEvent}` : ''})` : ''}`;
    return evaluated('lock_waits', [{ rule: 'lock_waits', resource: 'database', value, message }]);
  },
  deadlocks(snap) {
    const n = snap.locks.deadlocksInInterval;
    if (n === null) return { rule: 'deadlocks', status: 'skipped', reason: 'no interval figures yet' };
    const over = snap.intervalSeconds ? ` in the last ${secs(snap.intervalSeconds)}` : ' in the interval';
    return evaluated('deadlocks', [
      {
        rule: 'deadlocks',
        resource: 'database',
        value: n,
        message: `${n} deadlock(s)${over} (${snap.locks.deadlocksTotal} since the statistics reset)`,
      },
    ]);
  },
  long_running_transaction(snap) {
    const c = snap.connections;
    return evaluated('long_running_transaction', [
      {
        rule: 'long_running_transaction',
        resource: 'database',
        value: c.longestTransactionSeconds,
        message: `Longest open transaction ${secs(c.longestTransactionSeconds)} (longest running statement ${secs(c.longestQuerySeconds)})`,
      },
    ]);
  },
  idle_in_transaction(snap) {
    const c = snap.connections;
    return evaluated('idle_in_transaction', [
      {
        rule: 'idle_in_transaction',
        resource: 'database',
        value: c.longestIdleInTransactionSeconds,
        message:
          c.idleInTransaction === 0
            ? 'No session is idle in a transaction'
            : `${c.idleInTransaction} session(s) idle in transaction; longest ${secs(c.longestIdleInTransactionSeconds)}`,
      },
    ]);
  },
  disk_usage(snap, _s, config) {
    const capacity = config.alerting.storageCapacityBytes;
    if (!capacity) {
      return { rule: 'disk_usage', status: 'skipped', reason: 'alerting.storageCapacityBytes is not set' };
    }
    const used = snap.storage.databaseBytes;
    if (used == null) {
      return {
        rule: 'disk_usage',
        status: 'unknown',
        reason: 'the database size is not measured yet: it comes with the costly figures',
      };
    }
    const largest = snap.storage.tables
      .slice(0, 3)
      .map((t) => `${rel(t.table)} ${bytes(t.totalBytes)}`)
      .join(', ');
    return evaluated('disk_usage', [
      {
        rule: 'disk_usage',
        resource: 'database',
        value: used / capacity,
        message: `Database ${snap.server.database} uses ${bytes(used)} of ${bytes(capacity)} allocated (${pct(used / capacity)})${largest ? `; largest tables: ${largest}` : ''}`,
      },
    ]);
  },
  table_bloat(snap, _s, config) {
    const b = snap.bloat;
    if (!isAvailable(b)) {
      return snap.fullCollection
        ? unknownSection('table_bloat', b)
        : {
            rule: 'table_bloat',
            status: 'skipped',
            reason: `measured every ${config.monitoring.slowCollectionEvery} samples`,
          };
    }
    const floor = config.alerting.tableBloatMinBytes;
    return evaluated(
      'table_bloat',
      b.tables
        .filter((t) => t.bytes >= floor)
        .sort((a, c) => c.bloatRatio - a.bloatRatio)
        .slice(0, 10)
        .map((t) => ({
          rule: 'table_bloat',
          resource: rel(t.table),
          value: t.bloatRatio,
          message: `${rel(t.table)}: an estimated ${bytes(t.estimatedBloatBytes)} of ${bytes(t.bytes)} is bloat (${pct(t.bloatRatio)})`,
        })),
    );
  },
  default_partition_rows(snap) {
    const p = snap.partitions;
    if (!isAvailable(p)) return unknownSection('default_partition_rows', p);
    return evaluated(
      'default_partition_rows',
      p.sets
        .filter((set) => set.defaultPartitions > 0)
        .map((set) => ({
          rule: 'default_partition_rows',
          resource: rel(set.parent),
          value: set.defaultRows,
          message:
            set.defaultRows === null
              ? `The default partition of ${rel(set.parent)} was locked; rows not counted`
              : `${set.defaultRows.toLocaleString('en-US')} row(s) in the default partition of ${rel(set.parent)}${set.newestBound ? ` (partitions reach ${set.newestBound})` : ''}`,
        })),
    );
  },
  partitions_running_out(snap) {
    const p = snap.partitions;
    if (!isAvailable(p)) return unknownSection('partitions_running_out', p);
    const obs: Observation[] = [];
    for (const set of p.sets) {
      if (!set.managed || set.aheadDays === null) continue;
      const days = intervalDays(set.partitionInterval) ?? 30.44;
      const ahead = set.aheadDays / days;
      obs.push({
        rule: 'partitions_running_out',
        resource: rel(set.parent),
        value: ahead,
        message: `${rel(set.parent)} has partitions for ${set.aheadDays.toFixed(1)} more day(s) (${ahead.toFixed(2)} × ${set.partitionInterval ?? 'interval'}; newest bound ${set.newestBound ?? '-'})`,
      });
    }
    return evaluated('partitions_running_out', obs);
  },
  wraparound(snap) {
    const w = snap.wraparound;
    const value = Math.max(w.xidAge, w.mxidAge);
    return evaluated('wraparound', [
      {
        rule: 'wraparound',
        resource: 'database',
        value,
        message: `age(datfrozenxid) of ${snap.server.database} is ${w.xidAge.toLocaleString('en-US')} (multixact age ${w.mxidAge.toLocaleString('en-US')}); the oldest database of the server is at ${pct(w.wraparoundRatio)} of the 2^31 limit`,
      },
    ]);
  },
  replication_lag(snap) {
    return evaluated(
      'replication_lag',
      snap.replication.replicas.map((r) => {
        // PostgreSQL shows no lag time once a replica has caught up and WAL is quiet: that is 0, not
        // unknown. Without a time and with WAL outstanding, the figure is unknown.
        const value = r.replayLagSeconds ?? (r.lagBytes === 0 ? 0 : null);
        return {
          rule: 'replication_lag',
          resource: `replica:${r.name}`,
          value,
          message:
            value === null
              ? `Replica ${r.name} (${r.state}) reports no replay lag yet${r.lagBytes !== null ? ` (${bytes(r.lagBytes)} of WAL outstanding)` : ''}`
              : `Replica ${r.name} (${r.state}) replays ${secs(value)} behind${r.lagBytes !== null ? ` (${bytes(r.lagBytes)} of WAL)` : ''}`,
        };
      }),
    );
  },
  replication_slot_lag(snap) {
    return evaluated(
      'replication_slot_lag',
      snap.replication.slots.map((s) => ({
        rule: 'replication_slot_lag',
        resource: `slot:${s.name}`,
        value: s.retainedBytes,
        message:
          s.retainedBytes === null
            ? `Slot ${s.name} has not reserved WAL yet`
            : `Slot ${s.name} (${s.active ? 'active' : 'inactive'}) retains ${bytes(s.retainedBytes)} of WAL`,
      })),
    );
  },
  maintenance_failed(_snap, s, _config, inputs) {
    const m = inputs?.maintenance;
    if (!m) return { rule: 'maintenance_failed', status: 'skipped', reason: 'audit trail not read' };
    if (!isAvailable(m)) return unknownSection('maintenance_failed', m);
    return evaluated(
      'maintenance_failed',
      m.runs.map((run) => {
        const bad = run.failed + run.refused;
        const detail = run.failures
          .map(
            (f) =>
              `${f.action}${f.target ? ` ${f.target}` : ''}: ${f.status}${f.error ? ` (${oneLine(f.error, 160)})` : ''}`,
          )
          .join('; ');
        return {
          rule: 'maintenance_failed',
          resource: run.job,
          value: bad,
          // The run is known: the advice names it (the audit's run_id is a uuid, safe in a literal).
          ...(bad > 0 ? { runbook: s.runbook.replace("'<run>'", `'${run.runId}'`) } : {}),
          message:
            bad === 0
              ? `Latest ${run.job} run (${run.endedAt}) succeeded: ${run.actions} action(s)`
              : `Latest ${run.job} run ${run.runId} (${run.endedAt}) had ${run.failed} failed and ${run.refused} refused action(s) of ${run.actions}: ${detail}`,
        };
      }),
    );
  },
  compliance_violations(snap) {
    const c = snap.compliance;
    if (!isAvailable(c)) return unknownSection('compliance_violations', c);
    return evaluated('compliance_violations', [
      {
        rule: 'compliance_violations',
        resource: 'database',
        value: c.criticalViolations24h,
        message: `${c.criticalViolations24h} critical compliance violation(s) in the last 24 h (${c.violations24h} violations in all)${c.recentArchiveScore !== null ? `; archive compliance score ${c.recentArchiveScore.toFixed(3)}` : ''}`,
      },
    ]);
  },
};
