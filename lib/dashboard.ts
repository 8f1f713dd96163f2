import { Duration } from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { RuntimeConfig } from '../functions/config.ts';
import { dgmMetric, dgmSearch, DGM_METRICS as M } from './metrics.ts';

export interface TargetDashboardProps {
  dashboardName: string;
  target: string;
  runtime: RuntimeConfig;
  sampler: IFunction;
  maintainer: IFunction;
  alarms: cw.IAlarm[];
  /** AWS/RDS figures when the database's identifier is known. */
  rds?: { dimension: 'DBInstanceIdentifier' | 'DBClusterIdentifier'; identifier: string };
}

const FULL = 24;
const HALF = 12;
const THIRD = 8;
const HEIGHT = 6;

/**
 * One dashboard per target with the design's KPIs, top to bottom: health at a glance, query latency and
 * slow queries, connections by state and utilization, cache hit ratio, locks and deadlocks, partition
 * health, storage, alerts, and the maintenance runs with their durations.
 */
export class TargetDashboard extends Construct {
  readonly dashboard: cw.Dashboard;

  constructor(scope: Construct, id: string, props: TargetDashboardProps) {
    super(scope, id);
    const t = props.target;
    const mon = props.runtime.monitoring;
    const m = (name: string, stat: string, label?: string, period?: Duration) =>
      dgmMetric(t, name, stat, period, label);
    const line = (title: string, metrics: cw.IMetric[], opts: Partial<cw.GraphWidgetProps> = {}) =>
      new cw.GraphWidget({ title, left: metrics, width: HALF, height: HEIGHT, ...opts });

    this.dashboard = new cw.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
    });
    const utilizationPct = mon.connectionUtilizationThreshold * 100;
    const cachePct = mon.cacheHitRatioThreshold * 100;
    this.dashboard.addWidgets(
      new cw.TextWidget({
        markdown: `# DGM database **${t}**\nSampled every minute into \`DGM/Database\` (dimension DBInstance=${t}). Thresholds: slow query ${mon.slowQueryThresholdMs} ms, connection utilization ${utilizationPct}%, cache hit ratio ${cachePct}%.`,
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
        [m(M.slowQueries, 'Maximum', `statements with mean above ${mon.slowQueryThresholdMs} ms`)],
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
    if (props.rds) {
      const cluster = props.rds.dimension === 'DBClusterIdentifier';
      storage.push(
        new cw.Metric({
          namespace: 'AWS/RDS',
          metricName: cluster ? 'VolumeBytesUsed' : 'FreeStorageSpace',
          dimensionsMap: { [props.rds.dimension]: props.rds.identifier },
          statistic: cluster ? 'Maximum' : 'Minimum',
          label: cluster ? 'cluster volume used' : 'free storage',
        }),
      );
    }
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
      new cw.AlarmStatusWidget({ title: 'Alarms', alarms: props.alarms, width: THIRD, height: HEIGHT }),
      line(
        'Sampler runs',
        [
          props.sampler.metricInvocations({ statistic: 'Sum', period: Duration.minutes(5), label: 'runs' }),
          props.sampler.metricErrors({ statistic: 'Sum', period: Duration.minutes(5), label: 'errors' }),
        ],
        {
          width: THIRD,
          right: [props.sampler.metricDuration({ statistic: 'p99', label: 'duration p99 (ms)' })],
        },
      ),
    );
    this.dashboard.addWidgets(
      line(
        'Maintenance runs (partitions daily, indexes and vacuum weekly, statistics and optimize monthly)',
        [
          props.maintainer.metricInvocations({ statistic: 'Sum', period: Duration.hours(1), label: 'runs' }),
          props.maintainer.metricErrors({ statistic: 'Sum', period: Duration.hours(1), label: 'failed' }),
        ],
        { width: HALF, period: Duration.hours(1) },
      ),
      line(
        'Maintenance durations (ms)',
        [
          props.maintainer.metricDuration({
            statistic: 'Maximum',
            period: Duration.hours(1),
            label: 'longest run',
          }),
          props.maintainer.metricDuration({
            statistic: 'Average',
            period: Duration.hours(1),
            label: 'average',
          }),
        ],
        { width: HALF, period: Duration.hours(1) },
      ),
    );
  }
}
