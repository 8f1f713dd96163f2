import type { AlertRuleName, RuntimeConfig } from '../config.ts';
import type { Direction } from './lifecycle.ts';

/**
 * The alert rules as data: name, title, unit, direction, runbook, default thresholds and the sampler
 * metric that carries the same figure. Side-effect free and free of runtime code, so lib/ (the CDK app)
 * may import it like the config schemas: the infra tests check the CloudWatch alarms against it. How
 * each rule reads a sample is in rule-evaluators.ts; resolving and evaluating them in rules.ts.
 */

export interface RuleDefaults {
  warning?: number;
  critical?: number;
  clear: number;
  pendingSamples?: number;
  clearSamples?: number;
  cooldownMinutes?: number;
}

export interface RuleDefinition {
  name: AlertRuleName;
  title: string;
  unit: string;
  direction: Direction;
  /** What a person on call should do first. */
  runbook: string;
  defaults(config: RuntimeConfig): RuleDefaults;
  /**
   * The sampler's CloudWatch metric (namespace DGM/Database) that carries this rule's figure, in its
   * own unit (Percent for a ratio, days for partition intervals, Up for unreachable); null when the
   * figure is not a sampler metric. A CloudWatch alarm on it would restate the rule: lib/ has none.
   */
  metric: string | null;
}

const GiB = 1024 ** 3;

/** Derived thresholds without float noise (0.7 - 0.05 is 0.6499999999999999). */
const round4 = (v: number) => Math.round(v * 10_000) / 10_000;

export const RULE_DEFINITIONS: readonly RuleDefinition[] = [
  {
    name: 'database_unreachable',
    title: 'Database unreachable',
    unit: 'count',
    direction: 'above',
    runbook:
      'Check the instance state in the RDS console, the security group from the Lambda subnets to the database port, and the secret (rotation).',
    defaults: () => ({ critical: 1, clear: 0 }),
    metric: 'Up',
  },
  {
    name: 'slow_queries',
    title: 'Slow queries',
    unit: 'count',
    direction: 'above',
    runbook:
      'Look at `SELECT * FROM dgm.slow_queries LIMIT 10` and EXPLAIN the top statement; `dgm-db-ops optimize` proposes the index that fixes it.',
    defaults: () => ({ warning: 1, critical: 10, clear: 0 }),
    metric: 'SlowQueries',
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
    metric: 'ConnectionUtilization',
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
    metric: 'CacheHitRatio',
  },
  {
    name: 'lock_waits',
    title: 'Lock contention',
    unit: 'seconds',
    direction: 'above',
    runbook:
      'See who blocks whom: `SELECT pid, pg_blocking_pids(pid), wait_event_type, now() - query_start, query FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0`; end the blocker if it is stuck (pg_terminate_backend).',
    defaults: () => ({ warning: 30, critical: 300, clear: 5 }),
    metric: 'LongestLockWaitSeconds',
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
    metric: 'Deadlocks',
  },
  {
    name: 'long_running_transaction',
    title: 'Long-running transaction',
    unit: 'seconds',
    direction: 'above',
    runbook:
      'Find it: `SELECT pid, usename, application_name, now() - xact_start, state, query FROM pg_stat_activity ORDER BY xact_start LIMIT 5`. It holds back vacuum and may hold locks; end it if it is stuck.',
    defaults: () => ({ warning: 300, critical: 1800, clear: 60 }),
    metric: 'LongestTransactionSeconds',
  },
  {
    name: 'idle_in_transaction',
    title: 'Idle in transaction',
    unit: 'seconds',
    direction: 'above',
    runbook:
      'An application opened a transaction and went quiet: fix the code path, and set idle_in_transaction_session_timeout (parameter group or ALTER ROLE).',
    defaults: () => ({ warning: 60, critical: 600, clear: 10 }),
    metric: 'IdleInTransactionSeconds',
  },
  {
    name: 'disk_usage',
    title: 'Disk usage',
    unit: 'ratio',
    direction: 'above',
    runbook:
      'Find the largest tables (`SELECT * FROM dgm.partition_sizes ORDER BY total_bytes DESC`); drop old partitions (retention), VACUUM FULL/pg_repack bloated tables, or raise the allocated storage (RDS storage autoscaling).',
    defaults: () => ({ warning: 0.8, critical: 0.9, clear: 0.75 }),
    metric: 'DatabaseSizeBytes',
  },
  {
    name: 'table_bloat',
    title: 'Table bloat',
    unit: 'ratio',
    direction: 'above',
    runbook:
      "Check that autovacuum keeps up (dead tuples, last_autovacuum); reclaim the space with pg_repack or VACUUM FULL in a maintenance window, then tune the table's autovacuum settings.",
    defaults: () => ({ warning: 0.5, critical: 0.8, clear: 0.4 }),
    metric: 'TableBloatRatio',
  },
  {
    name: 'default_partition_rows',
    title: 'Rows in a default partition',
    unit: 'count',
    direction: 'above',
    runbook:
      'Rows landed where no partition covers them. `dgm-db-ops maintain --task partitions` creates the partitions and moves the rows out of the default partition.',
    defaults: () => ({ warning: 1, critical: 100_000, clear: 0 }),
    metric: 'DefaultPartitionRows',
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
    metric: 'PartitionsAheadDays',
  },
  {
    name: 'wraparound',
    title: 'Transaction ID wraparound',
    unit: 'xids',
    direction: 'above',
    runbook:
      "Autovacuum is not freezing fast enough: find the oldest tables (`SELECT relname, age(relfrozenxid) FROM pg_class WHERE relkind = 'r' ORDER BY 2 DESC LIMIT 10`), end long transactions and abandoned replication slots, then `dgm-db-ops maintain --task vacuum`.",
    defaults: () => ({ warning: 1_000_000_000, critical: 1_500_000_000, clear: 900_000_000 }),
    metric: 'TransactionIdAge',
  },
  {
    name: 'replication_lag',
    title: 'Replication lag',
    unit: 'seconds',
    direction: 'above',
    runbook:
      'Check the replica (ReplicaLag in CloudWatch, its CPU and I/O) and long queries on it that hold back replay (hot_standby_feedback, max_standby_streaming_delay).',
    defaults: () => ({ warning: 60, critical: 300, clear: 10 }),
    metric: 'ReplicationLagSeconds',
  },
  {
    name: 'replication_slot_lag',
    title: 'Replication slot lag',
    unit: 'bytes',
    direction: 'above',
    runbook:
      "A slot retains WAL its consumer has not confirmed, and the disk fills: restart the consumer, or drop an abandoned slot (`SELECT pg_drop_replication_slot('name')`).",
    defaults: () => ({ warning: 1 * GiB, critical: 10 * GiB, clear: 0.5 * GiB }),
    metric: 'ReplicationSlotRetainedBytes',
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
    metric: null,
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
    metric: 'CriticalComplianceViolations',
  },
];
