import type { MetricPoint, MetricSpec } from '../monitor/metrics.ts';
import type { MetricDatum, Severity } from '../ports.ts';
import type { AlertDocument } from './lifecycle.ts';

/**
 * The alerting metrics, CloudWatch and Prometheus from one list as the sampler's are: notified alerts
 * (CloudWatch Alerts, a count per run to sum; Prometheus dgm_db_alerts_total, the cumulative counter
 * kept in the target's alert document), alerts firing now, and the failures of the alert path itself.
 */

const SEVERITY = { cloudwatch: 'Severity', prometheus: 'severity' };

export const ALERT_METRIC_SPECS = {
  alerts: {
    name: 'Alerts',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_alerts_total',
      type: 'counter',
      help: 'Alerts notified (firing, escalated, re-notified, flapping; not resolutions), by severity and alert type.',
    },
    dimensions: [SEVERITY, { cloudwatch: 'AlertType', prometheus: 'alert_type' }],
    priority: 100,
    series: () => [],
  },
  active: {
    name: 'ActiveAlerts',
    unit: 'Count',
    prometheus: { name: 'dgm_db_active_alerts', type: 'gauge', help: 'Alerts firing now, by severity.' },
    dimensions: [SEVERITY],
    priority: 101,
    series: () => [],
  },
  storeErrors: {
    name: 'AlertStateStoreErrors',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_alert_state_store_errors_total',
      type: 'counter',
      help: 'Alert runs that could not use the state store and failed open.',
    },
    priority: 102,
    series: () => [],
  },
  notifyErrors: {
    name: 'AlertNotificationErrors',
    unit: 'Count',
    prometheus: {
      name: 'dgm_db_alert_notification_errors_total',
      type: 'counter',
      help: 'Alert notifications that could not be published (retried on the next run).',
    },
    priority: 103,
    series: () => [],
  },
} satisfies Record<string, MetricSpec>;

const ACTIVE_SEVERITIES = ['warning', 'critical'] as const;

function firingBySeverity(doc: AlertDocument): Record<(typeof ACTIVE_SEVERITIES)[number], number> {
  const out = { warning: 0, critical: 0 };
  for (const r of Object.values(doc.alerts)) {
    if (r.status === 'firing' && (r.severity === 'warning' || r.severity === 'critical'))
      out[r.severity] += 1;
  }
  return out;
}

/** One run's CloudWatch datums: alerts notified in this run, firing now, and the path's failures. */
export function alertMetrics(
  target: string,
  doc: AlertDocument | null,
  delivered: ReadonlyArray<{ transition: string; alert: { severity: Severity; name: string } }>,
  storeErrors: number,
  notifyErrors: number,
  at: Date,
): MetricDatum[] {
  const out: MetricDatum[] = [];
  const datum = (spec: MetricSpec, value: number, dims: Record<string, string> = {}): MetricDatum => ({
    name: spec.name,
    value,
    unit: spec.unit,
    dimensions: { DBInstance: target, ...dims },
    timestamp: at,
  });
  const counts = new Map<string, { severity: Severity; type: string; n: number }>();
  for (const i of delivered) {
    if (i.transition === 'resolved') continue;
    const k = `${i.alert.severity}|${i.alert.name}`;
    const c = counts.get(k) ?? { severity: i.alert.severity, type: i.alert.name, n: 0 };
    c.n += 1;
    counts.set(k, c);
  }
  for (const c of counts.values()) {
    out.push(datum(ALERT_METRIC_SPECS.alerts, c.n, { Severity: c.severity, AlertType: c.type }));
  }
  if (doc) {
    const firing = firingBySeverity(doc);
    for (const severity of ACTIVE_SEVERITIES) {
      out.push(datum(ALERT_METRIC_SPECS.active, firing[severity], { Severity: severity }));
    }
  }
  if (storeErrors > 0) out.push(datum(ALERT_METRIC_SPECS.storeErrors, storeErrors));
  if (notifyErrors > 0) out.push(datum(ALERT_METRIC_SPECS.notifyErrors, notifyErrors));
  return out;
}

/** Prometheus points of a target's alert document: the cumulative dgm_db_alerts_total and the active gauge. */
export function alertMetricPoints(target: string, doc: AlertDocument): MetricPoint[] {
  const points: MetricPoint[] = [];
  for (const [key, count] of Object.entries(doc.totals ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const [severity = '', alertType = ''] = key.split('|');
    points.push({
      spec: ALERT_METRIC_SPECS.alerts,
      dimensions: { DBInstance: target, Severity: severity, AlertType: alertType },
      labels: { db_instance: target, severity, alert_type: alertType },
      cloudwatch: null,
      prometheus: count,
    });
  }
  const firing = firingBySeverity(doc);
  for (const severity of ACTIVE_SEVERITIES) {
    points.push({
      spec: ALERT_METRIC_SPECS.active,
      dimensions: { DBInstance: target, Severity: severity },
      labels: { db_instance: target, severity },
      cloudwatch: firing[severity],
      prometheus: firing[severity],
    });
  }
  return points;
}
