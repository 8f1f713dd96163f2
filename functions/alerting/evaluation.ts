import type {
  AlertNotification,
  AlertNotificationItem,
  AlertTransition,
  DatabaseAlert,
  MetricDatum,
  Severity,
} from '../ports.ts';
import type { AlertDocument, AlertRecord, RuleEvaluation, RuleSettings, StateChange } from './lifecycle.ts';

/**
 * What one alert run reports (AlertEvaluation) and how an alert is shown (AlertView): the views of a
 * target's alert document, most urgent first, and the items of a grouped notification. Pure.
 */

export type AlertViewState = 'pending' | 'firing' | 'flapping' | 'resolved' | 'ok';

/**
 * One alert as listed: the design's DatabaseAlert (name, severity, message, metric_value, threshold,
 * timestamp; plus target and resource) and its state. `value` and `since` are kept as aliases of
 * metric_value and of when the alert started pending or firing.
 */
export interface AlertView extends DatabaseAlert {
  state: AlertViewState;
  /** The latest samples had no figure for it: its state is held, not known. */
  unknown: boolean;
  unknownReason?: string;
  /** Alias of metric_value. */
  value: number | null;
  unit: string;
  since: string | null;
  resolvedAt: string | null;
  lastNotified: { transition: AlertTransition; at: string; severity: Severity } | null;
  /** A notification is claimed and in flight. */
  sending: boolean;
}

/** What a run says about the notification it sent (or tried to). */
export interface NotificationSummary {
  id: string;
  published: boolean;
  items: Array<{ transition: AlertTransition; name: string; resource: string; severity: Severity }>;
  heldBack: number;
  error?: string;
  degraded?: string;
}

export interface AlertEvaluation {
  target: string;
  evaluatedAt: string;
  sampleAt: string;
  /** False when the sample came too soon after the previous one (a duplicate delivery): no state moved. */
  newSample: boolean;
  stateStore: 'ok' | 'unavailable';
  rules: Array<{ rule: string; status: RuleEvaluation['status']; reason?: string; observations?: number }>;
  transitions: StateChange[];
  notification: NotificationSummary | null;
  /** Alerts that are pending, firing, flapping, held UNKNOWN, or resolved within the retention. */
  alerts: AlertView[];
  /** The pending, firing and flapping ones (the design's get_monitoring_report()['active_alerts']). */
  active_alerts: AlertView[];
  /** dgm_db_alerts_total{severity,alert_type} and friends, for the MetricSink. */
  metrics: MetricDatum[];
}

/** The fields every evaluation of one run shares. */
export type EvaluationBase = Pick<AlertEvaluation, 'target' | 'evaluatedAt' | 'sampleAt' | 'rules'>;

/** The rules' verdicts as an evaluation lists them. */
export function ruleSummary(evaluations: readonly RuleEvaluation[]): AlertEvaluation['rules'] {
  return evaluations.map((e) =>
    e.status === 'evaluated'
      ? { rule: e.rule, status: e.status, observations: e.observations.length }
      : { rule: e.rule, status: e.status, reason: e.reason },
  );
}

/** A notification as the run's result reports it. */
export function summarizeNotification(
  n: AlertNotification,
  outcome: { error?: string; degraded?: string },
): NotificationSummary {
  return {
    id: n.id,
    published: outcome.error === undefined,
    items: n.items.map((i) => ({
      transition: i.transition,
      name: i.alert.name,
      resource: i.alert.resource,
      severity: i.alert.severity,
    })),
    heldBack: n.heldBack.length,
    ...(outcome.degraded ? { degraded: outcome.degraded } : {}),
    ...(outcome.error ? { error: outcome.error } : {}),
  };
}

/** One notification item for a stored alert. */
export function itemOf(
  record: AlertRecord,
  transition: AlertTransition,
  target: string,
  rules: ReadonlyMap<string, RuleSettings>,
): AlertNotificationItem {
  const s = rules.get(record.rule);
  return {
    transition,
    alert: {
      name: record.rule,
      severity: record.severity,
      message: record.message,
      metric_value: record.value,
      threshold: record.threshold,
      timestamp: record.lastObservedAt,
      target,
      resource: record.resource,
    },
    firingSince: record.firingSince,
    resolvedAt: transition === 'resolved' ? record.resolvedAt : undefined,
    previousSeverity: transition === 'escalated' ? record.notified?.severity : undefined,
    title: s?.title ?? record.rule,
    unit: s?.unit ?? '',
    runbook: record.runbook ?? s?.runbook ?? '',
  };
}

function viewOf(r: AlertRecord, rules: ReadonlyMap<string, RuleSettings>, target: string): AlertView {
  const state: AlertViewState = r.flapping
    ? 'flapping'
    : r.status === 'ok'
      ? r.resolvedAt
        ? 'resolved'
        : 'ok'
      : r.status;
  return {
    name: r.rule,
    resource: r.resource,
    state,
    unknown: !!r.unknownSince,
    ...(r.unknownReason ? { unknownReason: r.unknownReason } : {}),
    severity: r.severity,
    message: r.message,
    metric_value: r.value,
    threshold: r.threshold,
    timestamp: r.lastObservedAt,
    target,
    value: r.value,
    unit: rules.get(r.rule)?.unit ?? '',
    since: r.status === 'pending' ? (r.pendingSince ?? null) : (r.firingSince ?? null),
    resolvedAt: r.status === 'ok' ? (r.resolvedAt ?? null) : null,
    lastNotified: r.notified
      ? { transition: r.notified.transition, at: r.notified.at, severity: r.notified.severity }
      : null,
    sending: !!r.claim,
  };
}

const STATE_ORDER: Record<AlertViewState, number> = {
  firing: 0,
  flapping: 1,
  pending: 2,
  resolved: 3,
  ok: 4,
};
const SEVERITY_ORDER: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

/** The alerts of a document, most urgent first. */
export function alertViews(doc: AlertDocument, rules: ReadonlyMap<string, RuleSettings>): AlertView[] {
  return Object.values(doc.alerts)
    .map((r) => viewOf(r, rules, doc.target))
    .filter((v) => v.state !== 'ok' || v.unknown)
    .sort(
      (a, b) =>
        STATE_ORDER[a.state] - STATE_ORDER[b.state] ||
        SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
        `${a.name}|${a.resource}`.localeCompare(`${b.name}|${b.resource}`),
    );
}

/** The alerts that need someone: pending, firing or flapping (the design's report's active_alerts). */
export function activeAlerts(alerts: readonly AlertView[]): AlertView[] {
  return alerts.filter((a) => a.state === 'firing' || a.state === 'flapping' || a.state === 'pending');
}

/** The alerts and the active ones among them, as an evaluation carries them. */
export const withActive = (alerts: AlertView[]) => ({ alerts, active_alerts: activeAlerts(alerts) });
