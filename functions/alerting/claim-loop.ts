import { randomUUID } from 'node:crypto';
import type { RuntimeConfig } from '../config.ts';
import { errorMessage } from '../errors.ts';
import {
  type AlertNotification,
  type AlertStateStore,
  type Clock,
  type Logger,
  type Notifier,
  silentLogger,
  systemClock,
} from '../ports.ts';
import {
  type AlertEvaluation,
  alertViews,
  type EvaluationBase,
  itemOf,
  ruleSummary,
  summarizeNotification,
  withActive,
} from './evaluation.ts';
import { alertFailOpen, type FailOpenLimiter, processFailOpenLimiter } from './fail-open.ts';
import {
  type AlertDocument,
  applySample,
  claimNotifications,
  completeClaims,
  type DueNotification,
  dueNotifications,
  emptyDocument,
  type LifecyclePolicy,
  pruneDocument,
  type RuleEvaluation,
  type RuleSettings,
  type StateChange,
  sameDocument,
} from './lifecycle.ts';
import { alertMetrics } from './metrics.ts';
import { resolveRules } from './rules.ts';

/**
 * The claim loop of one alert run, over the state store and the notifier ports: read the target's
 * alert document, apply the sample, claim what is due, write it back conditionally (a lost race
 * re-reads and re-decides, so concurrent invocations never send one notification twice), publish one
 * grouped notification, record the delivery (a failed publish releases the claims: the next run sends
 * it). An unreachable store fails open (fail-open.ts).
 */

export interface AlertLifecycleDeps {
  store: AlertStateStore;
  notifier: Notifier;
  clock?: Clock;
  logger?: Logger;
  /** In-memory limits for the fail-open path; keep one per process (the default is). */
  failOpen?: FailOpenLimiter;
  /** Claim and notification ids; random by default. */
  newId?: () => string;
}

/** The store key of a target's alert document. */
export const alertDocumentKey = (target: string) => `alerts#${target}`;

/** The document is refreshed on every write; a target that stops sampling is forgotten after this. */
const DOCUMENT_TTL_SECONDS = 14 * 24 * 3600;
const MAX_ATTEMPTS = 12;

/** The lifecycle's timing and limits from the runtime config (claims expire after 120 s). */
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

/** A target's alert document as stored (empty when there is none yet). */
export async function readAlertDocument(
  store: AlertStateStore,
  target: string,
  logger: Logger = silentLogger,
): Promise<AlertDocument> {
  const stored = await store.get(alertDocumentKey(target));
  return parseDocument(stored?.data, target, logger);
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
  deps: AlertLifecycleDeps,
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
  const base: EvaluationBase = {
    target,
    evaluatedAt: now.toISOString(),
    sampleAt: sampleAt.toISOString(),
    rules: ruleSummary(options.evaluations),
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
    return alertFailOpen({
      notifier: deps.notifier,
      limiter: deps.failOpen ?? processFailOpenLimiter,
      logger,
      now,
      target,
      evaluations: options.evaluations,
      sampleAt: options.sampleAt,
      rules,
      policy,
      runId,
      storeError: err.message,
      base,
    });
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
    notification: summarizeNotification(notification, { error: publishError }),
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
