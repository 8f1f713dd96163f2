import { Duration } from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { RuntimeConfig } from '../functions/config.ts';
import { dgmMetric, dgmSearch, DGM_METRICS as M, METRIC_NAMESPACE } from './metrics.ts';

export interface TargetDashboardProps {
  dashboardName: string;
  /** The target shown when the dashboard opens; the DBInstance variable picks any other. */
  defaultTarget: string;
  runtime: RuntimeConfig;
}

/**
 * What the dashboard is built with in place of a target name: the DBInstance variable (a pattern
 * variable) replaces it everywhere, in metric dimensions and SEARCH expressions alike. No target name
 * can collide with it (names start with a letter).
 */
export const TARGET_PLACEHOLDER = '__dbinstance__';

const FULL = 24;
const HALF = 12;
const THIRD = 8;
const HEIGHT = 6;

/**
 * One dashboard for every target, with a DBInstance variable (a list of the targets that report Up):
 * the design's KPIs, top to bottom: health at a glance, query latency and slow queries, connections by
 * state and utilization, cache hit ratio, locks and deadlocks, partition health, storage, alerts, and
 * the target's failed fan-out runs. Thresholds are the deployment's base config.
 */
export class TargetDashboard extends Construct {
  readonly dashboard: cw.Dashboard;

  constructor(scope: Construct, id: string, props: TargetDashboardProps) {
    super(scope, id);
    const t = TARGET_PLACEHOLDER;
    const mon = props.runtime.monitoring;
    const m = (name: string, stat: string, label?: string, period?: Duration) =>
      dgmMetric(t, name, stat, period, label);
    const line = (title: string, metrics: cw.IMetric[], opts: Partial<cw.GraphWidgetProps> = {}) =>
      new cw.GraphWidget({ title, left: metrics, width: HALF, height: HEIGHT, ...opts });

    this.dashboard = new cw.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
      variables: [
        new cw.DashboardVariable({
          id: 'DBInstance',
          type: cw.VariableType.PATTERN,
          inputType: cw.VariableInputType.SELECT,
          value: TARGET_PLACEHOLDER,
          label: 'DBInstance',
          values: cw.Values.fromSearchComponents({
            namespace: METRIC_NAMESPACE,
            dimensions: ['DBInstance'],
            metricName: M.up,
            populateFrom: 'DBInstance',
          }),
          defaultValue: cw.DefaultValue.value(props.defaultTarget),
        }),
      ],
    });
    const utilizationPct = mon.connectionUtilizationThreshold * 100;
    const cachePct = mon.cacheHitRatioThreshold * 100;
    this.dashboard.addWidgets(
      new cw.TextWidget({
        markdown: `# DGM database **${t}**\nSampled every minute into \`DGM/Database\` (dimension DBInstance=${t}). Thresholds: slow query ${props.runtime.slowQueryThresholdMs} ms, connection utilization ${utilizationPct}%, cache hit ratio ${cachePct}%.`,
        width: FULL,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new cw.SingleValueWidget({
        title: 'Now',
        metrics: [
          m(M.up, 'Minimum', 'Up (1 = sampled)'),
          m(M.averageQueryDuration, 'Average', 'Avg query time (ms)'),
          m(M.slowQueries, 'Maximum', 'Slow queries'),
          m(M.connectionUtilization, 'Maximum', 'Connection utilization (%)'),
          m(M.cacheHitRatio, 'Minimum', 'Cache hit ratio (%)'),
          m(M.deadlocks, 'Sum', 'Deadlocks'),
        ],
        width: FULL,
        height: 3,
      }),
    );
    this.dashboard.addWidgets(
      line(
        'Query latency by operation and table (s)',
        [dgmSearch(t, M.queryDuration, 'Average', 'QueryDuration')],
        { right: [m(M.averageQueryDuration, 'Average', 'all statements (ms)')] },
      ),
      line(
        'Slow queries',
        [m(M.slowQueries, 'Maximum', `statements with mean above ${props.runtime.slowQueryThresholdMs} ms`)],
        {
          right: [m(M.queriesPerSecond, 'Average', 'queries per second')],
        },
      ),
    );
    this.dashboard.addWidgets(
      line('Connections by state', [dgmSearch(t, M.connections, 'Average', 'Connections')], {
        stacked: true,
      }),
      line(
        'Connection utilization (%)',
        [m(M.connectionUtilization, 'Maximum', 'of usable max_connections')],
        {
          leftYAxis: { min: 0, max: 100 },
          leftAnnotations: [{ value: utilizationPct, label: 'threshold' }],
        },
      ),
    );
    this.dashboard.addWidgets(
      line(
        'Cache hit ratio (%)',
        [
          m(M.cacheHitRatio, 'Minimum', 'database'),
          m(M.indexHitRatio, 'Minimum', 'indexes'),
          dgmSearch(t, M.tableCacheHitRatio, 'Minimum', 'table'),
        ],
        { leftYAxis: { min: 0, max: 100 }, leftAnnotations: [{ value: cachePct, label: 'threshold' }] },
      ),
      line(
        'Locks and deadlocks',
        [m(M.lockWaits, 'Maximum', 'sessions waiting on a lock'), m(M.deadlocks, 'Sum', 'deadlocks')],
        {
          right: [
            m(M.longestLockWait, 'Maximum', 'longest lock wait (s)'),
            m(M.longestTransaction, 'Maximum', 'longest transaction (s)'),
            m(M.idleInTransaction, 'Maximum', 'idle in transaction (s)'),
          ],
        },
      ),
    );
    const storage: cw.IMetric[] = [
      m(M.databaseSize, 'Maximum', 'database size'),
      dgmSearch(t, M.tableSize, 'Maximum', 'table size'),
    ];
    this.dashboard.addWidgets(
      line(
        'Partition health',
        [
          m(M.partitionsAheadDays, 'Minimum', 'days of partitions ahead (least prepared set)'),
          m(M.pruningScannedShare, 'Maximum', 'share of partitions scanned by top statements (%)'),
        ],
        { right: [m(M.defaultPartitionRows, 'Maximum', 'rows in default partitions')] },
      ),
      line('Storage (bytes)', storage, {
        right: [
          m(M.deadTuples, 'Maximum', 'dead tuples'),
          m(M.transactionIdAge, 'Maximum', 'transaction ID age'),
        ],
      }),
    );
    this.dashboard.addWidgets(
      line('Alerts by severity', [dgmSearch(t, M.activeAlerts, 'Maximum', 'firing', Duration.minutes(5))], {
        width: THIRD,
        right: [dgmSearch(t, M.alerts, 'Sum', 'sent', Duration.minutes(5))],
      }),
      line(
        'Failed fan-out runs of this database, by job',
        [dgmSearch(t, M.fanOutTargetFailed, 'Sum', 'failed', Duration.hours(1))],
        { width: THIRD * 2, period: Duration.hours(1) },
      ),
    );
  }
}

export interface FleetDashboardProps {
  dashboardName: string;
  /** How many targets each "worst N" widget lists. */
  worst: number;
  runtime: RuntimeConfig;
  sampling: {
    metricSucceeded(o?: cw.MetricOptions): cw.Metric;
    metricFailed(o?: cw.MetricOptions): cw.Metric;
  };
  maintenance: {
    metricSucceeded(o?: cw.MetricOptions): cw.Metric;
    metricFailed(o?: cw.MetricOptions): cw.Metric;
  };
  alarms: cw.IAlarm[];
  /** The per-target dashboard, linked from the header. */
  targetDashboardName: string;
}

/**
 * The fleet at a glance: the worst N targets per KPI (Metrics Insights queries over every DBInstance,
 * so the dashboard does not change when targets come and go), the runs and failures of every job, the
 * targets whose runs failed, and the fleet alarms.
 */
export class FleetDashboard extends Construct {
  readonly dashboard: cw.Dashboard;

  constructor(scope: Construct, id: string, props: FleetDashboardProps) {
    super(scope, id);
    const n = props.worst;
    const mon = props.runtime.monitoring;
    const insights = (
      title: string,
      stat: 'MAX' | 'MIN' | 'AVG' | 'SUM',
      metric: string,
      order: 'DESC' | 'ASC',
      opts: Partial<cw.GraphWidgetProps> = {},
      dimensions = 'DBInstance',
      period = Duration.minutes(5),
    ) =>
      new cw.GraphWidget({
        title,
        left: [
          new cw.MathExpression({
            expression: `SELECT ${stat}(${metric}) FROM SCHEMA("${METRIC_NAMESPACE}", ${dimensions}) GROUP BY ${dimensions} ORDER BY ${stat}() ${order} LIMIT ${n}`,
            usingMetrics: {},
            period,
            label: '',
          }),
        ],
        width: THIRD,
        height: HEIGHT,
        ...opts,
      });
    this.dashboard = new cw.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new cw.TextWidget({
        markdown: `# DGM database fleet\nThe worst ${n} databases per KPI (Metrics Insights over every DBInstance of \`${METRIC_NAMESPACE}\`), the fan-out runs and the databases whose runs failed. One database in detail: dashboard [${props.targetDashboardName}](#dashboards:name=${props.targetDashboardName}) (pick it with the DBInstance variable).`,
        width: FULL,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      insights('Not sampled (Up < 1)', 'MIN', M.up, 'ASC', { leftYAxis: { min: 0, max: 1 } }),
      insights(
        `Connection utilization (%), threshold ${mon.connectionUtilizationThreshold * 100}`,
        'MAX',
        M.connectionUtilization,
        'DESC',
      ),
      insights(
        `Cache hit ratio (%), lowest; threshold ${mon.cacheHitRatioThreshold * 100}`,
        'MIN',
        M.cacheHitRatio,
        'ASC',
      ),
    );
    this.dashboard.addWidgets(
      insights('Average query time (ms)', 'AVG', M.averageQueryDuration, 'DESC'),
      insights(
        `Slow queries (mean above ${props.runtime.slowQueryThresholdMs} ms)`,
        'MAX',
        M.slowQueries,
        'DESC',
      ),
      insights('Deadlocks', 'SUM', M.deadlocks, 'DESC'),
    );
    this.dashboard.addWidgets(
      insights('Longest transaction (s)', 'MAX', M.longestTransaction, 'DESC'),
      insights('Partitions ahead (days), least prepared', 'MIN', M.partitionsAheadDays, 'ASC'),
      insights('Transaction ID age', 'MAX', M.transactionIdAge, 'DESC'),
    );
    this.dashboard.addWidgets(
      insights('Database size (bytes)', 'MAX', M.databaseSize, 'DESC'),
      insights('Replication lag (s)', 'MAX', M.replicationLag, 'DESC'),
      insights('Firing alerts', 'MAX', M.activeAlerts, 'DESC', {}, 'DBInstance, Severity'),
    );
    const five = { period: Duration.minutes(5), statistic: 'Sum' };
    this.dashboard.addWidgets(
      new cw.GraphWidget({
        title: 'Fan-out runs',
        left: [
          props.sampling.metricSucceeded({ ...five, label: 'sampling runs' }),
          props.sampling.metricFailed({ ...five, label: 'sampling runs failed' }),
          props.maintenance.metricSucceeded({ ...five, label: 'maintenance runs' }),
          props.maintenance.metricFailed({ ...five, label: 'maintenance runs failed' }),
        ],
        width: THIRD,
        height: HEIGHT,
      }),
      new cw.GraphWidget({
        title: 'Targets per run and failed targets, by job',
        left: [
          new cw.MathExpression({
            expression: `SEARCH('{${METRIC_NAMESPACE},Job} MetricName="${M.fanOutTargets}"', 'Maximum', 300)`,
            usingMetrics: {},
            label: 'targets',
          }),
        ],
        right: [
          new cw.MathExpression({
            expression: `SEARCH('{${METRIC_NAMESPACE},Job} MetricName="${M.fanOutFailures}"', 'Sum', 300)`,
            usingMetrics: {},
            label: 'failed',
          }),
        ],
        width: THIRD,
        height: HEIGHT,
      }),
      insights(
        `Failed runs per database and job (worst ${n})`,
        'SUM',
        M.fanOutTargetFailed,
        'DESC',
        {},
        'DBInstance, Job',
        Duration.hours(1),
      ),
    );
    this.dashboard.addWidgets(
      new cw.AlarmStatusWidget({ title: 'Fleet alarms', alarms: props.alarms, width: FULL, height: 4 }),
    );
  }
}
