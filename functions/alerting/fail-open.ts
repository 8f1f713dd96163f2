import { errorMessage } from '../errors.ts';
import type { AlertNotification, AlertNotificationItem, Logger, Notifier, Severity } from '../ports.ts';
import {
  type AlertEvaluation,
  type EvaluationBase,
  summarizeNotification,
  withActive,
} from './evaluation.ts';
import {
  alertKey,
  cooldownMs,
  type LifecyclePolicy,
  levelOf,
  type RuleEvaluation,
  type RuleSettings,
  SEVERITY_RANK,
  thresholdOf,
} from './lifecycle.ts';
import { alertMetrics } from './metrics.ts';

/**
 * When the alert state store cannot be reached, alerts still go out (fail open): every breaching figure
 * is sent at once, without the pending count, and only this process's memory stops a storm. It keeps
 * the cooldown per alert and severity and max_alerts_per_hour per target for as long as the process
 * lives (a warm Lambda container serves many invocations).
 */

export interface FailOpenCandidate {
  key: string;
  rule: string;
  severity: Severity;
}

const HOUR_MS = 3_600_000;

export class FailOpenLimiter {
  private readonly lastSent = new Map<string, { at: number; severity: Severity }>();
  private readonly sentByTarget = new Map<string, number[]>();

  /** Splits candidates into those that may be sent now and those the in-memory limits hold back. */
  admit<T extends FailOpenCandidate>(
    target: string,
    candidates: readonly T[],
    now: Date,
    rules: ReadonlyMap<string, RuleSettings>,
    policy: LifecyclePolicy,
  ): { admitted: T[]; heldBack: T[] } {
    const t = now.getTime();
    const sent = (this.sentByTarget.get(target) ?? []).filter((at) => t - at < HOUR_MS);
    let budget = Math.max(0, policy.maxAlertsPerHour - sent.length);
    const admitted: T[] = [];
    const heldBack: T[] = [];
    const ordered = [...candidates].sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]);
    for (const c of ordered) {
      const last = this.lastSent.get(`${target}|${c.key}`);
      const escalated = last && SEVERITY_RANK[c.severity] > SEVERITY_RANK[last.severity];
      const cooled = !last || t - last.at >= cooldownMs(c.severity, rules.get(c.rule), policy);
      if (!escalated && !cooled) continue;
      if (budget <= 0) {
        heldBack.push(c);
        continue;
      }
      budget -= 1;
      admitted.push(c);
    }
    return { admitted, heldBack };
  }

  /** Records what was delivered (call after a successful publish only). */
  record(target: string, delivered: readonly FailOpenCandidate[], now: Date): void {
    const t = now.getTime();
    const sent = (this.sentByTarget.get(target) ?? []).filter((at) => t - at < HOUR_MS);
    for (const c of delivered) {
      this.lastSent.set(`${target}|${c.key}`, { at: t, severity: c.severity });
      sent.push(t);
    }
    this.sentByTarget.set(target, sent);
  }
}

/** One limiter per process: handlers pass it to every invocation so the limits span warm invocations. */
export const processFailOpenLimiter = new FailOpenLimiter();

export interface FailOpenRun {
  notifier: Notifier;
  limiter: FailOpenLimiter;
  logger: Logger;
  now: Date;
  target: string;
  evaluations: readonly RuleEvaluation[];
  /** When the sample was taken; now by default. */
  sampleAt?: Date;
  rules: ReadonlyMap<string, RuleSettings>;
  policy: LifecyclePolicy;
  runId: string;
  /** Why the store could not be used. */
  storeError: string;
  base: EvaluationBase;
}

/** The store is unreachable: send what breaches now, limited only by this process's memory. */
export async function alertFailOpen(run: FailOpenRun): Promise<AlertEvaluation> {
  const { logger, limiter, now, target, rules } = run;
  logger.error('alert state store unavailable: alerting without it (fail open)', {
    target,
    error: run.storeError,
  });
  const candidates: Array<{ key: string; rule: string; severity: Severity; item: AlertNotificationItem }> =
    [];
  for (const ev of run.evaluations) {
    if (ev.status !== 'evaluated') continue;
    const s = rules.get(ev.rule);
    if (!s) continue;
    for (const o of ev.observations) {
      if (o.value === null) continue;
      const severity = levelOf(o.value, s);
      if (!severity) continue;
      const at = (run.sampleAt ?? now).toISOString();
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
  const { admitted, heldBack } = limiter.admit(target, candidates, now, rules, run.policy);
  const degraded = `Alert state store unavailable (${run.storeError}): sent without pending counts or deduplication.`;
  let notification: AlertEvaluation['notification'] = null;
  let notifyErrors = 0;
  let delivered: AlertNotificationItem[] = [];
  if (admitted.length > 0) {
    const n: AlertNotification = {
      id: run.runId,
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
      await run.notifier.publish(n);
      limiter.record(target, admitted, now);
      delivered = n.items;
    } catch (err) {
      error = errorMessage(err);
      notifyErrors = 1;
      logger.error('alert notification failed (fail-open path)', { target, error });
    }
    notification = summarizeNotification(n, { error, degraded });
  }
  return {
    ...run.base,
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
