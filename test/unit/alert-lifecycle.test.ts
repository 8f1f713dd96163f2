import { describe, expect, it } from 'vitest';
import {
  type AlertDocument,
  applySample,
  claimNotifications,
  completeClaims,
  dueNotifications,
  emptyDocument,
  flapRatio,
  type LifecyclePolicy,
  pruneDocument,
  type RuleEvaluation,
  type RuleSettings,
} from '../../functions/alerting/lifecycle.ts';

const POLICY: LifecyclePolicy = {
  alertCooldownMinutes: 15,
  cooldownMinutesBySeverity: {},
  maxAlertsPerHour: 10,
  minSampleSpacingSeconds: 20,
  flapWindow: 21,
  flapStartRatio: 0.3,
  flapStopRatio: 0.15,
  resolvedRetentionHours: 24,
  claimLeaseSeconds: 120,
};

const CONN: RuleSettings = {
  rule: 'connection_utilization',
  title: 'Connection utilization',
  unit: 'ratio',
  direction: 'above',
  warning: 0.8,
  critical: 0.95,
  clear: 0.75,
  pendingSamples: 2,
  clearSamples: 2,
  runbook: 'find who holds the connections',
};

const CACHE: RuleSettings = {
  rule: 'cache_hit_ratio',
  title: 'Cache hit ratio',
  unit: 'ratio',
  direction: 'below',
  warning: 0.9,
  critical: 0.8,
  clear: 0.92,
  pendingSamples: 1,
  clearSamples: 1,
  runbook: 'add memory',
};

const RULES = new Map([
  [CONN.rule, CONN],
  [CACHE.rule, CACHE],
]);

const T0 = Date.parse('2026-11-28T08:00:00Z');
const minute = (n: number) => new Date(T0 + n * 60_000);

const conn = (value: number, resource = 'database'): RuleEvaluation => ({
  rule: 'connection_utilization',
  status: 'evaluated',
  observations: [{ rule: 'connection_utilization', resource, value, message: `utilization ${value}` }],
});

/** One run as the job does it, with immediate successful delivery; returns the notified transitions. */
function run(
  doc: AlertDocument,
  at: Date,
  evaluations: RuleEvaluation[],
  options: { deliver?: boolean; policy?: LifecyclePolicy; rules?: Map<string, RuleSettings> } = {},
) {
  const policy = options.policy ?? POLICY;
  const rules = options.rules ?? RULES;
  const applied = applySample(doc, at, evaluations, rules, policy);
  const due = dueNotifications(applied.doc, at, rules, policy);
  const claim = claimNotifications(applied.doc, due, at, `run-${at.getTime()}`, policy);
  const done = completeClaims(claim.doc, `run-${at.getTime()}`, options.deliver ?? true, at);
  return {
    doc: pruneDocument(done, at, policy),
    sent: claim.claimed.map((c) => `${c.transition}:${c.record.severity}`),
    heldBack: claim.heldBack.length,
    changes: applied.changes,
  };
}

describe('alert lifecycle', () => {
  it('goes OK -> PENDING -> FIRING after N consecutive breaches and notifies once', () => {
    let doc = emptyDocument('t');
    let r = run(doc, minute(0), [conn(0.85)]);
    expect(r.doc.alerts['connection_utilization|database']?.status).toBe('pending');
    expect(r.sent).toEqual([]);
    doc = r.doc;
    r = run(doc, minute(1), [conn(0.86)]);
    expect(r.doc.alerts['connection_utilization|database']?.status).toBe('firing');
    expect(r.sent).toEqual(['firing:warning']);
    expect(r.changes).toMatchObject([{ from: 'pending', to: 'firing', severity: 'warning' }]);
    r = run(r.doc, minute(2), [conn(0.86)]);
    expect(r.sent).toEqual([]);
  });

  it('a pending alert that clears goes back to OK silently and is forgotten', () => {
    let r = run(emptyDocument('t'), minute(0), [conn(0.9)]);
    r = run(r.doc, minute(1), [conn(0.5)]);
    expect(r.sent).toEqual([]);
    expect(r.doc.alerts).toEqual({});
  });

  it('holds a firing alert inside the hysteresis band and resolves below the clear threshold, once', () => {
    let r = run(emptyDocument('t'), minute(0), [conn(0.9)]);
    r = run(r.doc, minute(1), [conn(0.9)]);
    expect(r.sent).toEqual(['firing:warning']);
    // 0.78 is below the warning threshold (0.8) but above clear (0.75): still firing.
    r = run(r.doc, minute(2), [conn(0.78)]);
    r = run(r.doc, minute(3), [conn(0.78)]);
    expect(r.doc.alerts['connection_utilization|database']?.status).toBe('firing');
    expect(r.sent).toEqual([]);
    r = run(r.doc, minute(4), [conn(0.7)]);
    expect(r.doc.alerts['connection_utilization|database']?.status).toBe('firing');
    r = run(r.doc, minute(5), [conn(0.7)]);
    expect(r.sent).toEqual(['resolved:warning']);
    r = run(r.doc, minute(6), [conn(0.7)]);
    r = run(r.doc, minute(7), [conn(0.7)]);
    expect(r.sent).toEqual([]);
    // Kept for the `alerts` listing until the retention passes.
    expect(r.doc.alerts['connection_utilization|database']?.resolvedAt).toBe(minute(5).toISOString());
    r = run(r.doc, new Date(T0 + 25 * 3_600_000), [conn(0.7)]);
    expect(r.doc.alerts).toEqual({});
  });

  it('sends an escalation at once, inside the cooldown, and re-notifies only after it', () => {
    let r = run(emptyDocument('t'), minute(0), [conn(0.85)]);
    r = run(r.doc, minute(1), [conn(0.85)]);
    expect(r.sent).toEqual(['firing:warning']);
    r = run(r.doc, minute(2), [conn(0.97)]);
    expect(r.sent).toEqual(['escalated:critical']);
    r = run(r.doc, minute(10), [conn(0.97)]);
    expect(r.sent).toEqual([]);
    r = run(r.doc, minute(17), [conn(0.97)]);
    expect(r.sent).toEqual(['renotify:critical']);
    // A drop back to warning is not news; the reminder comes at warning after the cooldown.
    r = run(r.doc, minute(18), [conn(0.85)]);
    expect(r.sent).toEqual([]);
    r = run(r.doc, minute(33), [conn(0.85)]);
    expect(r.sent).toEqual(['renotify:warning']);
    r = run(r.doc, minute(34), [conn(0.99)]);
    expect(r.sent).toEqual(['escalated:critical']);
  });

  it('uses the per-severity cooldown', () => {
    const policy = { ...POLICY, cooldownMinutesBySeverity: { warning: 240, critical: 5 } };
    let r = run(emptyDocument('t'), minute(0), [conn(0.85)], { policy });
    r = run(r.doc, minute(1), [conn(0.85)], { policy });
    r = run(r.doc, minute(60), [conn(0.85)], { policy });
    expect(r.sent).toEqual([]);
    r = run(r.doc, minute(241), [conn(0.85)], { policy });
    expect(r.sent).toEqual(['renotify:warning']);
    r = run(r.doc, minute(242), [conn(0.99)], { policy });
    expect(r.sent).toEqual(['escalated:critical']);
    r = run(r.doc, minute(247), [conn(0.99)], { policy });
    expect(r.sent).toEqual(['renotify:critical']);
  });

  it('caps notifications per hour; resolved notices are exempt and held-back alerts go out later', () => {
    const policy = { ...POLICY, maxAlertsPerHour: 3 };
    const many = (v: number): RuleEvaluation => ({
      rule: 'connection_utilization',
      status: 'evaluated',
      observations: ['a', 'b', 'c', 'd', 'e'].map((resource) => ({
        rule: 'connection_utilization',
        resource,
        value: v,
        message: 'm',
      })),
    });
    let r = run(emptyDocument('t'), minute(0), [many(0.9)], { policy });
    r = run(r.doc, minute(1), [many(0.9)], { policy });
    expect(r.sent).toHaveLength(3);
    expect(r.heldBack).toBe(2);
    r = run(r.doc, minute(2), [many(0.9)], { policy });
    expect(r.sent).toHaveLength(0);
    // Resolutions pass the cap.
    r = run(r.doc, minute(3), [many(0.1)], { policy });
    r = run(r.doc, minute(4), [many(0.1)], { policy });
    expect(r.sent).toEqual([
      'resolved:warning',
      'resolved:warning',
      'resolved:warning',
      'resolved:warning',
      'resolved:warning',
    ]);
    // An hour after the first three, budget is back.
    r = run(r.doc, minute(62), [many(0.9)], { policy });
    r = run(r.doc, minute(63), [many(0.9)], { policy });
    expect(r.sent).toHaveLength(3);
  });

  it('collapses flapping into one notice, then reports the settled state once', () => {
    let doc = emptyDocument('t');
    const sent: string[] = [];
    // Fire and clear every two samples: 2 breaches fire, 2 clears resolve.
    for (let i = 0; i < 24; i++) {
      const r = run(doc, minute(i), [conn(Math.floor(i / 2) % 2 === 0 ? 0.9 : 0.1)]);
      sent.push(...r.sent);
      doc = r.doc;
    }
    // Three fire/resolve cycles make it flap: one notice instead of the 7 more fire/resolve messages.
    expect(sent).toEqual([
      'firing:warning',
      'resolved:warning',
      'firing:warning',
      'resolved:warning',
      'firing:warning',
      'flapping:warning',
    ]);
    expect(doc.alerts['connection_utilization|database']?.flapping).toBe(true);
    const after: string[] = [];
    for (let i = 24; i < 60; i++) {
      const r = run(doc, minute(i), [conn(0.1)]);
      after.push(...r.sent);
      doc = r.doc;
    }
    expect(after).toEqual(['resolved:warning']);
    expect(doc.alerts['connection_utilization|database']?.flapping).toBe(false);
  });

  it('holds an alert whose figures are UNKNOWN: no resolution, no reminder', () => {
    let r = run(emptyDocument('t'), minute(0), [conn(0.9)]);
    r = run(r.doc, minute(1), [conn(0.9)]);
    const unknown: RuleEvaluation = {
      rule: 'connection_utilization',
      status: 'unknown',
      reason: 'collection failed',
    };
    for (let i = 2; i < 40; i++) {
      r = run(r.doc, minute(i), [unknown]);
      expect(r.sent).toEqual([]);
    }
    const rec = r.doc.alerts['connection_utilization|database']!;
    expect(rec.status).toBe('firing');
    expect(rec.unknownSince).toBe(minute(2).toISOString());
    r = run(r.doc, minute(40), [conn(0.9)]);
    expect(r.doc.alerts['connection_utilization|database']?.unknownSince).toBeUndefined();
    expect(r.sent).toEqual(['renotify:warning']);
  });

  it('a skipped rule (not measured this sample) leaves its alerts untouched', () => {
    let r = run(emptyDocument('t'), minute(0), [conn(0.9)]);
    r = run(r.doc, minute(1), [{ rule: 'connection_utilization', status: 'skipped', reason: 'later' }]);
    expect(r.doc.alerts['connection_utilization|database']).toMatchObject({ status: 'pending', breaches: 1 });
  });

  it('treats a resource the rule no longer reports as clear', () => {
    let r = run(emptyDocument('t'), minute(0), [conn(0.9, 'x')]);
    r = run(r.doc, minute(1), [conn(0.9, 'x')]);
    expect(r.sent).toEqual(['firing:warning']);
    const none: RuleEvaluation = { rule: 'connection_utilization', status: 'evaluated', observations: [] };
    r = run(r.doc, minute(2), [none]);
    r = run(r.doc, minute(3), [none]);
    expect(r.sent).toEqual(['resolved:warning']);
    expect(r.doc.alerts['connection_utilization|x']?.message).toMatch(/^No longer reported/);
  });

  it('resolves the alerts of a rule that was disabled', () => {
    let r = run(emptyDocument('t'), minute(0), [conn(0.9)]);
    r = run(r.doc, minute(1), [conn(0.9)]);
    const rules = new Map([[CACHE.rule, CACHE]]);
    r = run(r.doc, minute(2), [], { rules });
    expect(r.sent).toEqual(['resolved:warning']);
  });

  it('counts a sample delivered twice (within the spacing) once', () => {
    let r = run(emptyDocument('t'), minute(0), [conn(0.9)]);
    const again = applySample(r.doc, new Date(T0 + 5_000), [conn(0.9)], RULES, POLICY);
    expect(again.applied).toBe(false);
    expect(again.doc.alerts['connection_utilization|database']?.breaches).toBe(1);
    r = run(r.doc, minute(1), [conn(0.9)]);
    expect(r.sent).toEqual(['firing:warning']);
  });

  it('a failed delivery releases the claim and its budget; the next run sends the same alert', () => {
    let r = run(emptyDocument('t'), minute(0), [conn(0.9)]);
    r = run(r.doc, minute(1), [conn(0.9)], { deliver: false });
    expect(r.sent).toEqual(['firing:warning']);
    expect(r.doc.alerts['connection_utilization|database']?.notified).toBeUndefined();
    expect(r.doc.sent).toEqual([]);
    r = run(r.doc, minute(2), [conn(0.9)]);
    expect(r.sent).toEqual(['firing:warning']);
  });

  it('an alert that fired and resolved while delivery failed still gets its RESOLVED notice', () => {
    let r = run(emptyDocument('t'), minute(0), [conn(0.9)]);
    r = run(r.doc, minute(1), [conn(0.9)], { deliver: false });
    r = run(r.doc, minute(2), [conn(0.1)], { deliver: false });
    r = run(r.doc, minute(3), [conn(0.1)]);
    expect(r.sent).toEqual(['resolved:warning']);
  });

  it('leaves an alert claimed by a live run alone and takes it over after the lease', () => {
    let r = run(emptyDocument('t'), minute(0), [conn(0.9)]);
    const applied = applySample(r.doc, minute(1), [conn(0.9)], RULES, POLICY);
    const first = claimNotifications(
      applied.doc,
      dueNotifications(applied.doc, minute(1), RULES, POLICY),
      minute(1),
      'a',
      POLICY,
    );
    expect(first.claimed).toHaveLength(1);
    expect(dueNotifications(first.doc, minute(1), RULES, POLICY)).toEqual([]);
    const later = new Date(minute(1).getTime() + 121_000);
    expect(dueNotifications(first.doc, later, RULES, POLICY).map((d) => d.transition)).toEqual(['firing']);
    r = { ...r, doc: completeClaims(first.doc, 'a', true, minute(1)) };
    expect(dueNotifications(r.doc, later, RULES, POLICY)).toEqual([]);
  });

  it('below-direction rules fire on low values', () => {
    const low = (v: number): RuleEvaluation => ({
      rule: 'cache_hit_ratio',
      status: 'evaluated',
      observations: [{ rule: 'cache_hit_ratio', resource: 'database', value: v, message: 'm' }],
    });
    let r = run(emptyDocument('t'), minute(0), [low(0.85)]);
    expect(r.sent).toEqual(['firing:warning']);
    r = run(r.doc, minute(1), [low(0.91)]);
    expect(r.sent).toEqual([]);
    r = run(r.doc, minute(2), [low(0.7)]);
    expect(r.sent).toEqual(['escalated:critical']);
    r = run(r.doc, minute(3), [low(0.95)]);
    expect(r.sent).toEqual(['resolved:critical']);
  });

  it('flap ratio weighs a full window, so a young alert that fired once is not flapping', () => {
    expect(flapRatio([0, 1, 1], 21)).toBeLessThan(0.1);
    expect(flapRatio([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], 21)).toBeCloseTo(1);
    expect(flapRatio(Array(21).fill(1), 21)).toBe(0);
  });
});
