import { ALERT_RULE_NAMES, type AlertRuleName, type RuntimeConfig } from '../config.ts';
import { BadInputError } from '../errors.ts';
import type { AlertInputs } from './alert-inputs.ts';
import type { Direction, Observation, RuleEvaluation, RuleSettings } from './alert-lifecycle.ts';
import {
  isAvailable,
  type RelationName,
  type Snapshot,
  type StatementSummary,
  type Unavailable,
} from './snapshot.ts';

/**
 * The alert rules: each one reads the sampler's Snapshot (and the audit trail's run outcomes) and gives
 * one figure per resource. Thresholds default to the design's MonitoringConfig and to the prior art
 * (check_postgres, postgres_mixin, the RDS alarms people ask for), and every one can be overridden per
 * rule and per target (alerting.rules in the runtime config).
 */

/** What the rules read: one successful sample, or why there is none. */
export type RuleInput = { ok: true; snapshot: Snapshot; inputs?: AlertInputs } | { ok: false; error: string };

interface RuleDefaults {
  warning?: number;
  critical?: number;
  clear: number;
  pendingSamples?: number;
  clearSamples?: number;
  cooldownMinutes?: number;
}

interface RuleDefinition {
  name: AlertRuleName;
  title: string;
  unit: string;
  direction: Direction;
  /** What a person on call should do first. */
  runbook: string;
  defaults(config: RuntimeConfig): RuleDefaults;
  evaluate(snapshot: Snapshot, s: RuleSettings, config: RuntimeConfig, inputs?: AlertInputs): RuleEvaluation;
}

const GiB = 1024 ** 3;

const rel = (r: RelationName | null | undefined) => (r ? `${r.schema}.${r.name}` : '-');

const oneLine = (text: string, max = 120) => {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length <= max ? t : `${t.slice(0, max - 1)}…`;
};

/** Derived thresholds without float noise (0.7 - 0.05 is 0.6499999999999999). */
const round4 = (v: number) => Math.round(v * 10_000) / 10_000;

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

const evaluated = (rule: string, observations: Observation[]): RuleEvaluation => ({
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

const RULES: readonly RuleDefinition[] = [
  {
    name: 'database_unreachable',
    title: 'Database unreachable',
    unit: 'count',
    direction: 'above',
    runbook:
      'Check the instance state in the RDS console, the security group from the Lambda subnets to the database port, and the secret (rotation).',
    defaults: () => ({ critical: 1, clear: 0 }),
    // Only reached when the sample succeeded; evaluateRules reports the failure itself.
    evaluate: (snap) =>
      evaluated('database_unreachable', [
        {
          rule: 'database_unreachable',
          resource: 'database',
          value: 0,
          message: `Sampled ${snap.server.database} (PostgreSQL ${snap.server.version}) in ${Math.round(snap.collectMs)} ms`,
        },
      ]),
  },
  {
    name: 'slow_queries',
    title: 'Slow queries',
    unit: 'count',
    direction: 'above',
    runbook:
      'Look at `SELECT * FROM dgm.slow_queries LIMIT 10` and EXPLAIN the top statement; `dgm-db-ops optimize` proposes the index that fixes it.',
    defaults: () => ({ warning: 1, critical: 10, clear: 0 }),
    evaluate(snap, _s, config) {
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
  },
  {
    name: 'connection_utilization',
    title: 'Connection utilization',
    unit: 'ratio',
    direction: 'above',
    runbook:
      'Find who holds the connections (`SELECT usename, application_name, state, count(*) FROM pg_stat_activity GROUP BY 1,2,3`); fix leaks, add a pooler (RDS Proxy) or raise max_connections.',
    defaults: (config) => {
      const warning = config.monitoring.connectionUtilizationThreshold;
      return {
        warning,
        critical: warning < 0.95 ? 0.95 : undefined,
        clear: round4(Math.max(0, warning - 0.05)),
      };
    },
    evaluate(snap) {
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
  },
  {
    name: 'cache_hit_ratio',
    title: 'Cache hit ratio',
    unit: 'ratio',
    direction: 'below',
    runbook:
      'Find the tables read from disk (`dgm-db-ops sample`, per-table hit ratios); add the missing index or raise shared_buffers (RDS parameter group) if the working set outgrew memory.',
    defaults: (config) => {
      const warning = config.monitoring.cacheHitRatioThreshold;
      return {
        warning,
        critical: round4(Math.max(0, warning - 0.1)),
        clear: round4(Math.min(1, warning + 0.02)),
      };
    },
    evaluate(snap) {
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
  },
  {
    name: 'lock_waits',
    title: 'Lock contention',
    unit: 'seconds',
    direction: 'above',
    runbook:
      'See who blocks whom: `SELECT pid, pg_blocking_pids(pid), wait_event_type, now() - query_start, query FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0`; end the blocker if it is stuck (pg_terminate_backend).',
    defaults: () => ({ warning: 30, critical: 300, clear: 5 }),
    evaluate(snap) {
      const l = snap.locks;
      const value = l.waiting > 0 ? l.longestWaitSeconds : 0;
      const worst = [...l.blocked].sort((a, b) => b.waitSeconds - a.waitSeconds)[0];
      const message =
        l.waiting === 0
          ? 'No session waits for a lock'
          : `${l.waiting} session(s) wait for locks; longest ${secs(l.longestWaitSeconds)}${worst ? ` (pid ${worst.pid} blocked by ${worst.blockedBy.join(', ')}${worst.waitEvent ? `, ${worst.waitEvent}` : ''})` : ''}`;
      return evaluated('lock_waits', [{ rule: 'lock_waits', resource: 'database', value, message }]);
    },
  },
  {
    name: 'deadlocks',
    title: 'Deadlocks',
    unit: 'count',
    direction: 'above',
    runbook:
      'The server log has both statements of each deadlock ("deadlock detected"); make the transactions take their row locks in one order.',
    // A deadlock is an event, not a level: it fires on the first sample that counts one.
    defaults: () => ({ warning: 1, critical: 5, clear: 0, pendingSamples: 1 }),
    evaluate(snap) {
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
  },
  {
    name: 'long_running_transaction',
    title: 'Long-running transaction',
    unit: 'seconds',
    direction: 'above',
    runbook:
      'Find it: `SELECT pid, usename, application_name, now() - xact_start, state, query FROM pg_stat_activity ORDER BY xact_start LIMIT 5`. It holds back vacuum and may hold locks; end it if it is stuck.',
    defaults: () => ({ warning: 300, critical: 1800, clear: 60 }),
    evaluate(snap) {
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
  },
  {
    name: 'idle_in_transaction',
    title: 'Idle in transaction',
    unit: 'seconds',
    direction: 'above',
    runbook:
      'An application opened a transaction and went quiet: fix the code path, and set idle_in_transaction_session_timeout (parameter group or ALTER ROLE).',
    defaults: () => ({ warning: 60, critical: 600, clear: 10 }),
    evaluate(snap) {
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
  },
  {
    name: 'disk_usage',
    title: 'Disk usage',
    unit: 'ratio',
    direction: 'above',
    runbook:
      'Find the largest tables (`SELECT * FROM dgm.partition_sizes ORDER BY total_bytes DESC`); drop old partitions (retention), VACUUM FULL/pg_repack bloated tables, or raise the allocated storage (RDS storage autoscaling).',
    defaults: () => ({ warning: 0.8, critical: 0.9, clear: 0.75 }),
    evaluate(snap, _s, config) {
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
  },
  {
    name: 'table_bloat',
    title: 'Table bloat',
    unit: 'ratio',
    direction: 'above',
    runbook:
      "Check that autovacuum keeps up (dead tuples, last_autovacuum); reclaim the space with pg_repack or VACUUM FULL in a maintenance window, then tune the table's autovacuum settings.",
    defaults: () => ({ warning: 0.5, critical: 0.8, clear: 0.4 }),
    evaluate(snap, _s, config) {
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
  },
  {
    name: 'default_partition_rows',
    title: 'Rows in a default partition',
    unit: 'count',
    direction: 'above',
    runbook:
      'Rows landed where no partition covers them. `dgm-db-ops maintain --task partitions` creates the partitions and moves the rows out of the default partition.',
    defaults: () => ({ warning: 1, critical: 100_000, clear: 0 }),
    evaluate(snap) {
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
  },
  {
    name: 'partitions_running_out',
    title: 'Future partitions running out',
    unit: 'intervals',
    direction: 'below',
    runbook:
      "Partition maintenance has not run (or failed): run `dgm-db-ops maintain --task partitions`, then check the maintainer's schedule and its last result.",
    // In partition intervals, so daily and monthly sets share one threshold: under one interval ahead
    // warns, under a quarter of one is critical (negative: inserts already land in the default).
    defaults: () => ({ warning: 1, critical: 0.25, clear: 1.5 }),
    evaluate(snap) {
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
  },
  {
    name: 'wraparound',
    title: 'Transaction ID wraparound',
    unit: 'xids',
    direction: 'above',
    runbook:
      "Autovacuum is not freezing fast enough: find the oldest tables (`SELECT relname, age(relfrozenxid) FROM pg_class WHERE relkind = 'r' ORDER BY 2 DESC LIMIT 10`), end long transactions and abandoned replication slots, then `dgm-db-ops maintain --task vacuum`.",
    defaults: () => ({ warning: 1_000_000_000, critical: 1_500_000_000, clear: 900_000_000 }),
    evaluate(snap) {
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
  },
  {
    name: 'replication_lag',
    title: 'Replication lag',
    unit: 'seconds',
    direction: 'above',
    runbook:
      'Check the replica (ReplicaLag in CloudWatch, its CPU and I/O) and long queries on it that hold back replay (hot_standby_feedback, max_standby_streaming_delay).',
    defaults: () => ({ warning: 60, critical: 300, clear: 10 }),
    evaluate(snap) {
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
  },
  {
    name: 'replication_slot_lag',
    title: 'Replication slot lag',
    unit: 'bytes',
    direction: 'above',
    runbook:
      "A slot retains WAL its consumer has not confirmed, and the disk fills: restart the consumer, or drop an abandoned slot (`SELECT pg_drop_replication_slot('name')`).",
    defaults: () => ({ warning: 1 * GiB, critical: 10 * GiB, clear: 0.5 * GiB }),
    evaluate(snap) {
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
  },
  {
    name: 'maintenance_failed',
    title: 'Maintenance run failed',
    unit: 'count',
    direction: 'above',
    runbook:
      "Read the run's audit rows (`SELECT * FROM dgm.optimization_audit WHERE run_id = '<run>'`); a lock timeout retries on the next run, a refusal means the constitutional hash does not match the deployed config.",
    // One failed run is enough, and the next clean run of the job resolves it.
    defaults: () => ({ warning: 1, clear: 0, pendingSamples: 1, clearSamples: 1 }),
    evaluate(_snap, s, _config, inputs) {
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
  },
  {
    name: 'compliance_violations',
    title: 'Critical compliance violations',
    unit: 'count',
    direction: 'above',
    runbook:
      "Review the violations: `SELECT * FROM dgm.compliance_logs WHERE compliance_level = 'critical' AND created_at > now() - interval '24 hours'`.",
    // The figure covers 24 hours, so reminders come every 4 hours rather than every 15 minutes.
    defaults: () => ({ critical: 1, clear: 0, pendingSamples: 1, clearSamples: 1, cooldownMinutes: 240 }),
    evaluate(snap) {
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
  },
];

// Every configurable rule name has exactly one definition.
const BY_NAME = new Map(RULES.map((r) => [r.name, r]));
if (BY_NAME.size !== ALERT_RULE_NAMES.length || ALERT_RULE_NAMES.some((n) => !BY_NAME.has(n))) {
  throw new Error('rules.ts and ALERT_RULE_NAMES disagree');
}

/** The rule catalogue, for docs and the CLI. */
export function ruleCatalogue(): Array<
  Pick<RuleDefinition, 'name' | 'title' | 'unit' | 'direction' | 'runbook'>
> {
  return RULES.map(({ name, title, unit, direction, runbook }) => ({
    name,
    title,
    unit,
    direction,
    runbook,
  }));
}

/**
 * The enabled rules with thresholds resolved: rule defaults (from MonitoringConfig where the design has
 * them), then alerting.rules overrides. Thresholds on the wrong side of each other are bad input.
 */
export function resolveRules(config: RuntimeConfig): Map<string, RuleSettings> {
  const out = new Map<string, RuleSettings>();
  for (const def of RULES) {
    const o = config.alerting.rules[def.name] ?? {};
    if (o.enabled === false) continue;
    const d = def.defaults(config);
    const warning = 'warning' in o ? o.warning : d.warning;
    const critical = 'critical' in o ? o.critical : d.critical;
    const s: RuleSettings = {
      rule: def.name,
      title: def.title,
      unit: def.unit,
      direction: def.direction,
      warning,
      critical,
      clear: o.clear ?? d.clear,
      pendingSamples: o.pendingSamples ?? d.pendingSamples ?? config.alerting.pendingSamples,
      clearSamples: o.clearSamples ?? d.clearSamples ?? config.alerting.clearSamples,
      cooldownMinutes: o.cooldownMinutes ?? d.cooldownMinutes,
      runbook: config.alerting.runbookBaseUrl
        ? `${def.runbook} Runbook: ${config.alerting.runbookBaseUrl}#${def.name}`
        : def.runbook,
    };
    validateThresholds(s);
    out.set(def.name, s);
  }
  return out;
}

/** Checks a config's alert thresholds (BadInputError naming the rule); for synth-time validation. */
export function validateAlertRules(config: RuntimeConfig): void {
  resolveRules(config);
}

function validateThresholds(s: RuleSettings): void {
  const where = `alerting.rules.${s.rule}`;
  const worse = (a: number, b: number) => (s.direction === 'above' ? a > b : a < b);
  const fire = s.warning ?? s.critical;
  if (fire === undefined) throw new BadInputError(`${where}: needs a warning or a critical threshold`);
  if (s.warning !== undefined && s.critical !== undefined && worse(s.warning, s.critical)) {
    throw new BadInputError(`${where}: warning ${s.warning} is beyond critical ${s.critical}`);
  }
  if (!worse(fire, s.clear)) {
    const side = s.direction === 'above' ? 'below' : 'above';
    throw new BadInputError(`${where}: clear ${s.clear} must be ${side} the firing threshold ${fire}`);
  }
}

/**
 * Every enabled rule's verdict on one sample. A failed collection fires database_unreachable and leaves
 * every other rule UNKNOWN: their alerts hold, none resolves for lack of figures.
 */
export function evaluateRules(
  input: RuleInput,
  rules: ReadonlyMap<string, RuleSettings>,
  config: RuntimeConfig,
): RuleEvaluation[] {
  const out: RuleEvaluation[] = [];
  for (const def of RULES) {
    const s = rules.get(def.name);
    if (!s) continue;
    if (!input.ok) {
      out.push(
        def.name === 'database_unreachable'
          ? evaluated(def.name, [
              {
                rule: def.name,
                resource: 'database',
                value: 1,
                message: `Sampling failed: ${oneLine(input.error, 300)}`,
              },
            ])
          : { rule: def.name, status: 'unknown', reason: 'the sample could not be taken' },
      );
      continue;
    }
    try {
      out.push(def.evaluate(input.snapshot, s, config, input.inputs));
    } catch (err) {
      // A rule that cannot read the snapshot must not silence the others.
      out.push({ rule: def.name, status: 'unknown', reason: `rule error: ${(err as Error).message}` });
    }
  }
  return out;
}
