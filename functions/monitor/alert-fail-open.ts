import type { Severity } from '../ports.ts';
import { cooldownMs, type LifecyclePolicy, type RuleSettings, SEVERITY_RANK } from './alert-lifecycle.ts';

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
