import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { RuntimeConfig } from '../config.ts';
import { BadInputError, errorMessage } from '../errors.ts';
import { type FailOpenLimiter, processFailOpenLimiter } from '../monitor/alert-fail-open.ts';
import { collectAlertInputs } from '../monitor/alert-inputs.ts';
import {
  type AlertDocument,
  type AlertRecord,
  alertKey,
  applySample,
  claimNotifications,
  completeClaims,
  type DueNotification,
  dueNotifications,
  emptyDocument,
  type LifecyclePolicy,
  levelOf,
  pruneDocument,
  type RuleEvaluation,
  type RuleSettings,
  type StateChange,
  sameDocument,
  thresholdOf,
} from '../monitor/alert-lifecycle.ts';
import { alertMetrics } from '../monitor/alert-metrics.ts';
import { evaluateRules, type RuleInput, resolveRules } from '../monitor/rules.ts';
import type { Snapshot } from '../monitor/snapshot.ts';
import {
  type AlertNotification,
  type AlertNotificationItem,
  type AlertStateStore,
  type AlertTransition,
  type Clock,
  type DatabaseAlert,
  type Logger,
  type MetricDatum,
  type MetricSink,
  type Notifier,
  type Severity,
  silentLogger,
  systemClock,
} from '../ports.ts';

/**
 * The alert half of a sampler run: rules over the sample -> the target's alert document in the state
 * store (read, apply, claim, conditional write) -> one grouped notification -> delivery recorded. A lost
 * write race re-reads and re-decides, so concurrent invocations never send one notification twice; a
 * failed publish releases the claims, so the next run sends it; an unreachable store fails open.
 */

export interface AlertJobDeps {
  store: AlertStateStore;
  notifier: Notifier;
  clock?: Clock;
  logger?: Logger;
  /** In-memory limits for the fail-open path; keep one per process (the default is). */
  failOpen?: FailOpenLimiter;
  /** Claim and notification ids; random by default. */
  newId?: () => string;
}

export type AlertViewState = 'pending' | 'firing' | 'flapping' | 'resolved' | 'ok';

/** One alert as the CLI and results show it. */
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

export interface AlertEvaluation {
  target: string;
  evaluatedAt: string;
  sampleAt: string;
  /** False when the sample came too soon after the previous one (a duplicate delivery): no state moved. */
  newSample: boolean;
  stateStore: 'ok' | 'unavailable';
  rules: Array<{ rule: string; status: RuleEvaluation['status']; reason?: string; observations?: number }>;
  transitions: StateChange[];
  notification: {
    id: string;
    published: boolean;
    items: Array<{ transition: AlertTransition; name: string; resource: string; severity: Severity }>;
    heldBack: number;
    error?: string;
    degraded?: string;
  } | null;
  /** Alerts that are pending, firing, flapping, held UNKNOWN, or resolved within the retention. */
  alerts: AlertView[];
  /** The pending, firing and flapping ones (the design's get_monitoring_report()['active_alerts']). */
  active_alerts: AlertView[];
  /** dgm_db_alerts_total{severity,alert_type} and friends, for the MetricSink. */
  metrics: MetricDatum[];
}

/** The store key of a target's alert document. */
export const alertDocumentKey = (target: string) => `alerts#${target}`;

/** The document is refreshed on every write; a target that stops sampling is forgotten after this. */
const DOCUMENT_TTL_SECONDS = 14 * 24 * 3600;
const MAX_ATTEMPTS = 12;

export function lifecyclePolicy(config: RuntimeConfig): LifecyclePolicy {
  const a = config.alerting;
  return {
    alertCooldownMinutes: a.alertCooldownMinutes,
    cooldownMinutesBySeverity: a.cooldownMinutesBySeverity,
    maxAlertsPerHour: a.maxAlertsPerHour,
    minSampleSpacingSeconds: a.minSampleSpacingSeconds,
    flapWindow: a.flapWindow,
    flapStartRatio: a.flapStartRatio,
    flapStopRatio: a.flapStopRatio,
    resolvedRetentionHours: a.resolvedRetentionHours,
    claimLeaseSeconds: 120,
  };
}

function parseDocument(
  data: Record<string, unknown> | undefined,
  target: string,
  logger: Logger,
): AlertDocument {
  if (!data) return emptyDocument(target);
  const doc = data as unknown as AlertDocument;
  if (doc.schema !== 1 || typeof doc.alerts !== 'object' || !Array.isArray(doc.sent)) {
    logger.warn('alert state document has an unknown shape; starting afresh', { target });
    return emptyDocument(target);
  }
  return doc;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A store call that failed for another reason than a lost race. */
class StoreUnavailable extends Error {}

async function storeCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new StoreUnavailable(errorMessage(err));
  }
}

function settingsFor(rule: string, rules: ReadonlyMap<string, RuleSettings>): RuleSettings | undefined {
  return rules.get(rule);
}

function itemOf(
  record: AlertRecord,
  transition: AlertTransition,
  target: string,
  rules: ReadonlyMap<string, RuleSettings>,
): AlertNotificationItem {
  const s = settingsFor(record.rule, rules);
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

const withActive = (alerts: AlertView[]) => ({ alerts, active_alerts: activeAlerts(alerts) });

/** The alerts that need someone: pending, firing or flapping (the design's report's active_alerts). */
export function activeAlerts(alerts: readonly AlertView[]): AlertView[] {
  return alerts.filter((a) => a.state === 'firing' || a.state === 'flapping' || a.state === 'pending');
}

export interface AlertListing {
  target: string;
  lastSampleAt: string | null;
  alerts: AlertView[];
  /** The design's get_monitoring_report()['active_alerts']. */
  active_alerts: AlertView[];
  /** Alerts notified since the state was created, per severity and alert type (dgm_db_alerts_total). */
  totals: Array<{ severity: Severity; alertType: string; count: number }>;
}

/** A target's alert document as stored (empty when there is none yet). */
export async function readAlertDocument(
  store: AlertStateStore,
  target: string,
  logger: Logger = silentLogger,
): Promise<AlertDocument> {
  const stored = await store.get(alertDocumentKey(target));
  return parseDocument(stored?.data, target, logger);
}

/** Reads a target's alerts from the store (the `alerts` command). */
export async function listAlerts(
  store: AlertStateStore,
  config: RuntimeConfig,
  logger: Logger = silentLogger,
): Promise<AlertListing> {
  const doc = await readAlertDocument(store, config.target, logger);
  const alerts = alertViews(doc, resolveRules(config));
  return {
    target: config.target,
    lastSampleAt: doc.lastSampleAt ?? null,
    alerts,
    active_alerts: activeAlerts(alerts),
    totals: Object.entries(doc.totals ?? {})
      .map(([k, count]) => {
        const [severity, alertType] = k.split('|') as [Severity, string];
        return { severity, alertType, count };
      })
      .sort((x, y) => x.alertType.localeCompare(y.alertType) || x.severity.localeCompare(y.severity)),
  };
}

export interface LifecycleRunOptions {
  config: RuntimeConfig;
  evaluations: RuleEvaluation[];
  /** When the sample was taken; the clock's now by default. */
  sampleAt?: Date;
  rules?: ReadonlyMap<string, RuleSettings>;
}

/** Runs the lifecycle for already evaluated rules (evaluateAlerts evaluates them from a sample first). */
export async function runAlertLifecycle(
  deps: AlertJobDeps,
  options: LifecycleRunOptions,
): Promise<AlertEvaluation> {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? silentLogger;
  const config = options.config;
  const target = config.target;
  const rules = options.rules ?? resolveRules(config);
  const policy = lifecyclePolicy(config);
  const now = clock.now();
  const sampleAt = options.sampleAt ?? now;
  const runId = (deps.newId ?? randomUUID)();
  const key = alertDocumentKey(target);
  const ruleSummary = options.evaluations.map((e) =>
    e.status === 'evaluated'
      ? { rule: e.rule, status: e.status, observations: e.observations.length }
      : { rule: e.rule, status: e.status, reason: e.reason },
  );
  const base = {
    target,
    evaluatedAt: now.toISOString(),
    sampleAt: sampleAt.toISOString(),
    rules: ruleSummary,
  };

  let doc: AlertDocument | null = null;
  let changes: StateChange[] = [];
  let newSample = false;
  let claimed: DueNotification[] = [];
  let heldBack: DueNotification[] = [];
  try {
    let settled = false;
    for (let attempt = 0; attempt < MAX_ATTEMPTS && !settled; attempt++) {
      if (attempt > 0) await sleep(5 + Math.random() * 20 * attempt);
      const stored = await storeCall(() => deps.store.get(key));
      const current = parseDocument(stored?.data, target, logger);
      const applied = applySample(current, sampleAt, options.evaluations, rules, policy);
      const due = dueNotifications(applied.doc, now, rules, policy);
      const claim = claimNotifications(applied.doc, due, now, runId, policy);
      const next = pruneDocument(claim.doc, now, policy);
      if (sameDocument(next, current)) {
        // Nothing moved and nothing is due (or another run holds the claims): no write needed.
        ({ changes, claimed, heldBack } = {
          changes: applied.changes,
          claimed: [],
          heldBack: claim.heldBack,
        });
        newSample = applied.applied;
        doc = current;
        settled = true;
        break;
      }
      const won = await storeCall(() =>
        deps.store.compareAndSet(
          key,
          stored?.version ?? 0,
          next as unknown as Record<string, unknown>,
          DOCUMENT_TTL_SECONDS,
        ),
      );
      if (won) {
        ({ changes, claimed, heldBack } = {
          changes: applied.changes,
          claimed: claim.claimed,
          heldBack: claim.heldBack,
        });
        newSample = applied.applied;
        doc = next;
        settled = true;
      }
    }
    if (!settled) {
      logger.warn('alert state: too many concurrent writers; leaving this sample to the other runs', {
        target,
      });
      return {
        ...base,
        newSample: false,
        stateStore: 'ok',
        transitions: [],
        notification: null,
        alerts: [],
        active_alerts: [],
        metrics: alertMetrics(target, null, [], 0, 0, now),
      };
    }
  } catch (err) {
    if (!(err instanceof StoreUnavailable)) throw err;
    return failOpen(deps, options, rules, policy, runId, err.message, base);
  }

  const finalDoc = doc!;
  if (claimed.length === 0) {
    return {
      ...base,
      newSample,
      stateStore: 'ok',
      transitions: changes,
      notification: null,
      ...withActive(alertViews(finalDoc, rules)),
      metrics: alertMetrics(target, finalDoc, [], 0, 0, now),
    };
  }

  const notification: AlertNotification = {
    id: runId,
    target,
    generatedAt: now.toISOString(),
    items: claimed.map((d) => itemOf(d.record, d.transition, target, rules)),
    heldBack: heldBack.map((h) => ({
      name: h.record.rule,
      resource: h.record.resource,
      severity: h.record.severity,
    })),
  };
  let publishError: string | undefined;
  try {
    await deps.notifier.publish(notification);
  } catch (err) {
    publishError = errorMessage(err);
    logger.error('alert notification failed; the next run retries it', { target, error: publishError });
  }
  const delivered = publishError === undefined;

  // Record the outcome; a lost race re-reads (other runs may have applied later samples meanwhile).
  let storeErrors = 0;
  let completed: AlertDocument = finalDoc;
  let recorded = false;
  for (let attempt = 0; attempt < MAX_ATTEMPTS && !recorded; attempt++) {
    if (attempt > 0) await sleep(5 + Math.random() * 20 * attempt);
    try {
      const stored = await deps.store.get(key);
      const current = parseDocument(stored?.data, target, logger);
      completed = completeClaims(current, runId, delivered, now);
      recorded = await deps.store.compareAndSet(
        key,
        stored?.version ?? 0,
        completed as unknown as Record<string, unknown>,
        DOCUMENT_TTL_SECONDS,
      );
    } catch (err) {
      storeErrors += 1;
      logger.error('alert state: could not record the notification outcome', {
        target,
        error: errorMessage(err),
      });
      break;
    }
  }
  if (!recorded) {
    // The claims expire after their lease: a delivered message may then be sent once more, an
    // undelivered one is retried. Either way nothing is lost.
    logger.warn('alert state: notification outcome not recorded; claims expire after their lease', {
      target,
    });
  }

  return {
    ...base,
    newSample,
    stateStore: storeErrors > 0 ? 'unavailable' : 'ok',
    transitions: changes,
    notification: {
      id: runId,
      published: delivered,
      items: notification.items.map((i) => ({
        transition: i.transition,
        name: i.alert.name,
        resource: i.alert.resource,
        severity: i.alert.severity,
      })),
      heldBack: notification.heldBack.length,
      ...(publishError ? { error: publishError } : {}),
    },
    ...withActive(alertViews(completed, rules)),
    metrics: alertMetrics(
      target,
      completed,
      delivered ? notification.items : [],
      storeErrors,
      delivered ? 0 : 1,
      now,
    ),
  };
}

/** The store is unreachable: send what breaches now, limited only by this process's memory. */
async function failOpen(
  deps: AlertJobDeps,
  options: LifecycleRunOptions,
  rules: ReadonlyMap<string, RuleSettings>,
  policy: LifecyclePolicy,
  runId: string,
  storeError: string,
  base: Pick<AlertEvaluation, 'target' | 'evaluatedAt' | 'sampleAt' | 'rules'>,
): Promise<AlertEvaluation> {
  const logger = deps.logger ?? silentLogger;
  const limiter = deps.failOpen ?? processFailOpenLimiter;
  const now = (deps.clock ?? systemClock).now();
  const target = options.config.target;
  logger.error('alert state store unavailable: alerting without it (fail open)', {
    target,
    error: storeError,
  });
  const candidates: Array<{ key: string; rule: string; severity: Severity; item: AlertNotificationItem }> =
    [];
  for (const ev of options.evaluations) {
    if (ev.status !== 'evaluated') continue;
    const s = rules.get(ev.rule);
    if (!s) continue;
    for (const o of ev.observations) {
      if (o.value === null) continue;
      const severity = levelOf(o.value, s);
      if (!severity) continue;
      const at = (options.sampleAt ?? now).toISOString();
      candidates.push({
        key: alertKey(o.rule, o.resource),
        rule: o.rule,
        severity,
        item: {
          transition: 'firing',
          alert: {
            name: o.rule,
            severity,
            message: o.message,
            metric_value: o.value,
            threshold: thresholdOf(severity, s),
            timestamp: at,
            target,
            resource: o.resource,
          },
          title: s.title,
          unit: s.unit,
          runbook: o.runbook ?? s.runbook,
        },
      });
    }
  }
  const { admitted, heldBack } = limiter.admit(target, candidates, now, rules, policy);
  const degraded = `Alert state store unavailable (${storeError}): sent without pending counts or deduplication.`;
  let notification: AlertEvaluation['notification'] = null;
  let notifyErrors = 0;
  let delivered: AlertNotificationItem[] = [];
  if (admitted.length > 0) {
    const n: AlertNotification = {
      id: runId,
      target,
      generatedAt: now.toISOString(),
      items: admitted.map((c) => c.item),
      heldBack: heldBack.map((c) => ({
        name: c.rule,
        resource: c.item.alert.resource,
        severity: c.severity,
      })),
      degraded,
    };
    let error: string | undefined;
    try {
      await deps.notifier.publish(n);
      limiter.record(target, admitted, now);
      delivered = n.items;
    } catch (err) {
      error = errorMessage(err);
      notifyErrors = 1;
      logger.error('alert notification failed (fail-open path)', { target, error });
    }
    notification = {
      id: runId,
      published: error === undefined,
      items: n.items.map((i) => ({
        transition: i.transition,
        name: i.alert.name,
        resource: i.alert.resource,
        severity: i.alert.severity,
      })),
      heldBack: n.heldBack.length,
      degraded,
      ...(error ? { error } : {}),
    };
  }
  return {
    ...base,
    newSample: true,
    stateStore: 'unavailable',
    transitions: [],
    notification,
    ...withActive(
      candidates.map((c) => ({
        ...c.item.alert,
        name: c.rule,
        state: 'firing' as const,
        unknown: false,
        severity: c.severity,
        value: c.item.alert.metric_value,
        unit: c.item.unit,
        since: null,
        resolvedAt: null,
        lastNotified: null,
        sending: false,
      })),
    ),
    metrics: alertMetrics(target, null, delivered, 1, notifyErrors, now),
  };
}

export interface EvaluateAlertsOptions {
  config: RuntimeConfig;
  /** The sample (and the audit-trail figures), or why it could not be taken. */
  input: RuleInput;
  sampleAt?: Date;
}

/** evaluateAlerts: the rules over one sample, then the lifecycle, state store and one notification. */
export async function evaluateAlerts(
  deps: AlertJobDeps,
  options: EvaluateAlertsOptions,
): Promise<AlertEvaluation> {
  const rules = resolveRules(options.config);
  const evaluations = evaluateRules(options.input, rules, options.config);
  return runAlertLifecycle(deps, { config: options.config, evaluations, sampleAt: options.sampleAt, rules });
}

/** The alert step's outcome inside a sample result: the evaluation, or why alerting itself failed. */
export type SampleAlertOutcome = AlertEvaluation | { target: string; error: string };

/**
 * The sampler's alert step, for the Lambda and the CLI alike: the audit-trail figures, the rules over
 * the sample (or over its failure: database_unreachable), the lifecycle, and the alert metrics to the
 * sink. It throws only for contradictory thresholds (bad configuration); any other failure is logged
 * and returned, and the sample stands.
 */
export async function alertAfterSample(
  deps: AlertJobDeps & { sink?: MetricSink },
  args: { config: RuntimeConfig; client?: pg.Client; snapshot?: Snapshot; error?: string },
): Promise<SampleAlertOutcome> {
  const logger = deps.logger ?? silentLogger;
  try {
    const input: RuleInput = args.snapshot
      ? {
          ok: true,
          snapshot: args.snapshot,
          inputs: args.client ? await collectAlertInputs(args.client) : undefined,
        }
      : { ok: false, error: args.error ?? 'the sample could not be taken' };
    const evaluation = await evaluateAlerts(deps, { config: args.config, input });
    if (deps.sink && evaluation.metrics.length > 0) {
      const sent = await deps.sink
        .put(evaluation.metrics)
        .catch((err) => ({ failed: 1, errors: [errorMessage(err)] }));
      if (sent.failed > 0) logger.warn('alert metrics not sent', { errors: sent.errors });
    }
    return evaluation;
  } catch (err) {
    // Thresholds that contradict each other are a configuration error, not a passing failure.
    if (err instanceof BadInputError) throw err;
    const error = errorMessage(err);
    logger.error('alert evaluation failed', { target: args.config.target, error });
    return { target: args.config.target, error };
  }
}
