import { Duration } from 'aws-cdk-lib';
import { type IMetric, MathExpression, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { RULE_DEFINITIONS } from '../functions/alerting/rule-definitions.ts';

/**
 * The sampler's CloudWatch metrics that the dashboards and alarms read (namespace DGM/Database,
 * dimension DBInstance = the target name; Operation, State, Table, Severity where they mean something).
 * The names are the sampler's (functions/monitor); test/infra checks each one against its mapping.
 */
export const METRIC_NAMESPACE = 'DGM/Database';

export const DGM_METRICS = {
  /** 1 when a sample succeeded, 0 when the database could not be sampled. */
  up: 'Up',
  /** Mean statement time per Operation and Table (seconds). */
  queryDuration: 'QueryDuration',
  averageQueryDuration: 'AverageQueryDuration',
  slowQueries: 'SlowQueries',
  queriesPerSecond: 'QueriesPerSecond',
  /** By State. */
  connections: 'Connections',
  /** Percent of usable max_connections. */
  connectionUtilization: 'ConnectionUtilization',
  /** Percent. */
  cacheHitRatio: 'CacheHitRatio',
  /** Percent, per Table. */
  tableCacheHitRatio: 'TableCacheHitRatio',
  indexHitRatio: 'IndexHitRatio',
  lockWaits: 'LockWaits',
  longestLockWait: 'LongestLockWaitSeconds',
  deadlocks: 'Deadlocks',
  longestTransaction: 'LongestTransactionSeconds',
  idleInTransaction: 'IdleInTransactionSeconds',
  defaultPartitionRows: 'DefaultPartitionRows',
  partitionsAheadDays: 'PartitionsAheadDays',
  pruningScannedShare: 'PartitionPruningScannedShare',
  databaseSize: 'DatabaseSizeBytes',
  /** Per Table. */
  tableSize: 'TableSizeBytes',
  deadTuples: 'DeadTuples',
  transactionIdAge: 'TransactionIdAge',
  replicationLag: 'ReplicationLagSeconds',
  complianceScore: 'ArchiveComplianceScore',
  /** Alert notifications sent, by Severity and AlertType (the alert job). */
  alerts: 'Alerts',
  /** Firing alerts by Severity (the alert job). */
  activeAlerts: 'ActiveAlerts',
  /** Per Job: targets a fan-out run covered, and those that failed (the fan-out's report). */
  fanOutTargets: 'FanOutTargets',
  fanOutFailures: 'FanOutFailures',
  /** Per DBInstance and Job: 1 for a target whose run failed, timed out or was skipped. */
  fanOutTargetFailed: 'FanOutTargetFailed',
} as const;

/**
 * The metrics that carry an alert rule's figure, each with its rule (from the rule definitions, the
 * same data the sampler's rules engine resolves). The rules engine judges these per database, with
 * pending and clear counts, cooldown and one grouped message: no CloudWatch alarm reads them (an alarm
 * would restate the rule with another meaning, as "partitions running out" once was 7 days here and a
 * number of partition intervals in the rules). test/infra checks the synthesized alarms against it.
 */
export const RULE_METRICS: ReadonlyMap<string, string> = new Map(
  RULE_DEFINITIONS.flatMap((r) => (r.metric ? [[r.metric, r.name] as const] : [])),
);

/** The dimensions besides DBInstance of the metrics the dashboards SEARCH by (their full sets). */
export const SEARCH_DIMENSIONS: Partial<
  Record<(typeof DGM_METRICS)[keyof typeof DGM_METRICS], readonly string[]>
> = {
  QueryDuration: ['Operation', 'Table'],
  Connections: ['State'],
  TableCacheHitRatio: ['Table'],
  TableSizeBytes: ['Table'],
  ActiveAlerts: ['Severity'],
  Alerts: ['Severity', 'AlertType'],
  FanOutTargetFailed: ['Job'],
};

/** One metric of a target. */
export function dgmMetric(
  target: string,
  name: string,
  statistic: string,
  period = Duration.minutes(1),
  label?: string,
): Metric {
  return new Metric({
    namespace: METRIC_NAMESPACE,
    metricName: name,
    dimensionsMap: { DBInstance: target },
    statistic,
    period,
    label,
  });
}

/**
 * Every series of a metric that carries more dimensions than DBInstance (Operation and Table, State,
 * Severity and AlertType) for a target: their values are whatever the sampler emitted, so a SEARCH
 * finds them. SEARCH matches a metric's full dimension set only, hence SEARCH_DIMENSIONS.
 */
export function dgmSearch(
  target: string,
  name: keyof typeof SEARCH_DIMENSIONS,
  statistic: string,
  label: string,
  period = Duration.minutes(1),
): IMetric {
  const quoted = target.replace(/"/g, '\\"');
  const dimensions = SEARCH_DIMENSIONS[name]!;
  return new MathExpression({
    expression: `SEARCH('{${METRIC_NAMESPACE},DBInstance,${dimensions.join(',')}} MetricName="${name}" DBInstance="${quoted}"', '${statistic}', ${period.toSeconds()})`,
    label,
    period,
    usingMetrics: {},
  });
}
