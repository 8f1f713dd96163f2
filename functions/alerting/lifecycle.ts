import type { AlertTransition, Severity } from '../ports.ts';

/**
 * The alert lifecycle, pure: per (target, rule, resource) OK -> PENDING -> FIRING -> RESOLVED, with
 * hysteresis, per-severity cooldown, escalation, flap detection, the hourly cap and notification claims.
 * The whole state of one target is one document; the job reads it, applies a sample, claims what is due,
 * writes it back with a conditional write, publishes, and records the delivery. Nothing here does I/O.
 */

export type AlertStatus = 'ok' | 'pending' | 'firing';
export type Direction = 'above' | 'below';

/** A rule's thresholds and timing after config overrides (see rules.ts). */
export interface RuleSettings {
  rule: string;
  title: string;
  unit: string;
  /** 'above': high values are bad (utilization); 'below': low values are bad (cache hit ratio). */
  direction: Direction;
  warning?: number;
  critical?: number;
  /** A firing alert clears at this value or better (above: value <= clear; below: value >= clear). */
  clear: number;
  pendingSamples: number;
  clearSamples: number;
  /** Rule-level re-notification interval; otherwise per severity, then the global cooldown. */
  cooldownMinutes?: number;
  runbook: string;
}

/** What one rule saw for one resource in one sample. */
export interface Observation {
  rule: string;
  resource: string;
  /** null: this resource's figure could not be read this time (UNKNOWN for it alone). */
  value: number | null;
  message: string;
  /** What to do about this resource, when more precise than the rule's runbook (names the failed run). */
  runbook?: string;
}

/** A rule's verdict for one sample: figures, no figures (UNKNOWN), or not measured this time (hold). */
export type RuleEvaluation =
  | { rule: string; status: 'evaluated'; observations: Observation[] }
  | { rule: string; status: 'unknown'; reason: string }
  | { rule: string; status: 'skipped'; reason: string };

export interface NotifiedState {
  transition: AlertTransition;
  /** What the receiver now believes: the alert fires, resolved, or flaps. */
  state: 'firing' | 'resolved' | 'flapping';
  severity: Severity;
  at: string;
}

export interface AlertClaim {
  /** The run that claimed the notification. */
  id: string;
  at: string;
  transition: AlertTransition;
  /** The severity the claimed notification announces. */
  severity: Severity;
}

export interface AlertRecord {
  rule: string;
  resource: string;
  status: AlertStatus;
  /** Severity of the current breach; after resolution the last one. */
  severity: Severity;
  value: number | null;
  threshold: number | null;
  message: string;
  /** The observation's own advice (Observation.runbook), used instead of the rule's runbook. */
  runbook?: string;
  /** Consecutive breaching samples. */
  breaches: number;
  /** Consecutive clear samples while firing. */
  clears: number;
  pendingSince?: string;
  /** Set when FIRING is reached; cleared once the resolution has been delivered. */
  firingSince?: string;
  resolvedAt?: string;
  /** The latest samples had no figure for it (UNKNOWN): the state is held, never taken as OK. */
  unknownSince?: string;
  unknownReason?: string;
  /** 1 = firing, 0 = not, one entry per sample, newest last (flap detection). */
  history: number[];
  flapping: boolean;
  lastObservedAt: string;
  notified?: NotifiedState;
  claim?: AlertClaim;
}

export interface AlertDocument {
  schema: 1;
  target: string;
  /** The latest sample applied (ISO). */
  lastSampleAt?: string;
  alerts: Record<string, AlertRecord>;
  /** Items counted against max_alerts_per_hour (epoch ms), tagged with their claim until delivered. */
  sent: Array<{ at: number; claim?: string }>;
  /** Alerts delivered since the document was created, by "severity|alert_type" (dgm_db_alerts_total). */
  totals?: Record<string, number>;
}

export interface LifecyclePolicy {
  alertCooldownMinutes: number;
  cooldownMinutesBySeverity: Partial<Record<Severity, number>>;
  maxAlertsPerHour: number;
  minSampleSpacingSeconds: number;
  flapWindow: number;
  flapStartRatio: number;
  flapStopRatio: number;
  resolvedRetentionHours: number;
  /** A claim older than this is abandoned (its run died): the notification is due again. */
  claimLeaseSeconds: number;
}

/** A state change of one alert in one sample. */
export interface StateChange {
  key: string;
  rule: string;
  resource: string;
  from: AlertStatus;
  to: AlertStatus;
  severity: Severity;
  value: number | null;
}

export interface DueNotification {
  key: string;
  transition: AlertTransition;
  record: AlertRecord;
}

const HOUR_MS = 3_600_000;

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** The key of an alert inside its target's document. */
export function alertKey(rule: string, resource: string): string {
  return `${rule}|${resource}`;
}

export function emptyDocument(target: string): AlertDocument {
  return { schema: 1, target, alerts: {}, sent: [] };
}

/** The severity a value breaches, or null when it breaches nothing. */
export function levelOf(value: number, s: RuleSettings): Severity | null {
  const beyond = (t: number) => (s.direction === 'above' ? value >= t : value <= t);
  if (s.critical !== undefined && beyond(s.critical)) return 'critical';
  if (s.warning !== undefined && beyond(s.warning)) return 'warning';
  return null;
}

/** Whether a firing alert's value is on the good side of its clear threshold. */
export function isClear(value: number, s: RuleSettings): boolean {
  return s.direction === 'above' ? value <= s.clear : value >= s.clear;
}

export function thresholdOf(severity: Severity, s: RuleSettings): number | null {
  if (severity === 'critical') return s.critical ?? s.warning ?? null;
  return s.warning ?? s.critical ?? null;
}

/**
 * Nagios-style flap ratio: the weighted share of state changes over the window, recent changes
 * weighing more (0.8 .. 1.2). A short history counts as unchanged before its first entry, so a young
 * alert that fired once is not flapping.
 */
export function flapRatio(history: readonly number[], window: number): number {
  const h = history.slice(-window);
  const padded = [...Array<number>(Math.max(0, window - h.length)).fill(h[0] ?? 0), ...h];
  let changed = 0;
  let total = 0;
  for (let i = 1; i < padded.length; i++) {
    const weight = 0.8 + (0.4 * (i - 1)) / Math.max(1, padded.length - 2);
    total += weight;
    if (padded[i] !== padded[i - 1]) changed += weight;
  }
  return total === 0 ? 0 : changed / total;
}

function newRecord(rule: string, resource: string, at: string): AlertRecord {
  return {
    rule,
    resource,
    status: 'ok',
    severity: 'warning',
    value: null,
    threshold: null,
    message: '',
    breaches: 0,
    clears: 0,
    history: [],
    flapping: false,
    lastObservedAt: at,
  };
}

type StepInput =
  | { kind: 'value'; value: number; message: string; runbook?: string }
  | { kind: 'absent' }
  | { kind: 'unknown'; reason: string };

/** One sample for one alert: the state machine proper. */
function stepRecord(
  prev: AlertRecord,
  input: StepInput,
  s: RuleSettings,
  at: string,
  policy: LifecyclePolicy,
): AlertRecord {
  const r: AlertRecord = { ...prev, history: [...prev.history] };
  if (input.kind === 'unknown') {
    r.unknownSince ??= at;
    r.unknownReason = input.reason;
    return r;
  }
  delete r.unknownSince;
  delete r.unknownReason;
  r.lastObservedAt = at;
  // A resource the rule no longer reports (the statement stopped being slow, the slot was dropped)
  // is a clear sample with the last figure kept for the message.
  const level = input.kind === 'value' ? levelOf(input.value, s) : null;
  const clear = input.kind === 'value' ? isClear(input.value, s) : true;
  if (input.kind === 'value') {
    r.value = input.value;
    r.message = input.message;
    if (input.runbook) r.runbook = input.runbook;
    else delete r.runbook;
  } else if (!r.message.startsWith('No longer reported')) {
    r.message = `No longer reported (last: ${r.message})`;
  }

  switch (r.status) {
    case 'ok':
    case 'pending':
      if (level) {
        r.breaches += 1;
        r.severity = level;
        r.threshold = thresholdOf(level, s);
        if (r.status === 'ok') r.pendingSince = at;
        if (r.breaches >= s.pendingSamples) {
          r.status = 'firing';
          r.clears = 0;
          r.firingSince ??= at;
          delete r.resolvedAt;
        } else {
          r.status = 'pending';
        }
      } else {
        r.status = 'ok';
        r.breaches = 0;
        delete r.pendingSince;
      }
      break;
    case 'firing':
      if (clear) {
        r.clears += 1;
        if (r.clears >= s.clearSamples) {
          r.status = 'ok';
          r.breaches = 0;
          r.clears = 0;
          r.resolvedAt = at;
          delete r.pendingSince;
        }
      } else {
        r.clears = 0;
        // Inside the hysteresis band the alert keeps firing at warning (or its only severity).
        const severity = level ?? (s.warning !== undefined ? 'warning' : r.severity);
        r.severity = severity;
        r.threshold = thresholdOf(severity, s);
      }
      break;
  }

  r.history.push(r.status === 'firing' ? 1 : 0);
  if (r.history.length > policy.flapWindow) r.history.splice(0, r.history.length - policy.flapWindow);
  const ratio = flapRatio(r.history, policy.flapWindow);
  if (!r.flapping && ratio >= policy.flapStartRatio) r.flapping = true;
  else if (r.flapping && ratio < policy.flapStopRatio) r.flapping = false;
  return r;
}

/** Whether a sample taken at `at` is a new one for this document (not a duplicate delivery). */
export function isNewSample(doc: AlertDocument, at: Date, policy: LifecyclePolicy): boolean {
  if (!doc.lastSampleAt) return true;
  const last = Date.parse(doc.lastSampleAt);
  return at.getTime() - last >= policy.minSampleSpacingSeconds * 1000 && at.getTime() > last;
}

/**
 * Applies one sample's rule evaluations to the document. Rules that were evaluated clear the resources
 * they no longer report; UNKNOWN rules hold their alerts; skipped rules (a figure collected at a lower
 * frequency) leave them untouched. Alerts of rules no longer configured are cleared.
 */
export function applySample(
  doc: AlertDocument,
  at: Date,
  evaluations: readonly RuleEvaluation[],
  rules: ReadonlyMap<string, RuleSettings>,
  policy: LifecyclePolicy,
): { doc: AlertDocument; changes: StateChange[]; applied: boolean } {
  if (!isNewSample(doc, at, policy)) return { doc, changes: [], applied: false };
  const iso = at.toISOString();
  const alerts: Record<string, AlertRecord> = { ...doc.alerts };
  const changes: StateChange[] = [];
  const step = (key: string, prev: AlertRecord, input: StepInput, s: RuleSettings) => {
    const next = stepRecord(prev, input, s, iso, policy);
    alerts[key] = next;
    if (next.status !== prev.status) {
      changes.push({
        key,
        rule: next.rule,
        resource: next.resource,
        from: prev.status,
        to: next.status,
        severity: next.severity,
        value: next.value,
      });
    }
  };
  const seen = new Set<string>();
  for (const ev of evaluations) {
    const s = rules.get(ev.rule);
    if (!s) continue;
    seen.add(ev.rule);
    if (ev.status === 'skipped') continue;
    if (ev.status === 'unknown') {
      for (const [key, r] of Object.entries(alerts)) {
        if (r.rule === ev.rule) step(key, r, { kind: 'unknown', reason: ev.reason }, s);
      }
      continue;
    }
    const observed = new Set<string>();
    for (const o of ev.observations) {
      const key = alertKey(o.rule, o.resource);
      observed.add(key);
      const prev = alerts[key];
      if (o.value === null) {
        if (prev) step(key, prev, { kind: 'unknown', reason: o.message }, s);
        continue;
      }
      // Healthy resources without history are not stored: the document holds only alerts.
      if (!prev && !levelOf(o.value, s)) continue;
      step(
        key,
        prev ?? newRecord(o.rule, o.resource, iso),
        { kind: 'value', value: o.value, message: o.message, ...(o.runbook ? { runbook: o.runbook } : {}) },
        s,
      );
    }
    for (const [key, r] of Object.entries(alerts)) {
      if (r.rule === ev.rule && !observed.has(key)) step(key, r, { kind: 'absent' }, s);
    }
  }
  for (const [key, r] of Object.entries(alerts)) {
    if (seen.has(r.rule)) continue;
    const s = rules.get(r.rule);
    if (!s) {
      // The rule was disabled or removed: its alert resolves, so no one is left waiting for it.
      const disabled: RuleSettings = {
        rule: r.rule,
        title: r.rule,
        unit: '',
        direction: 'above',
        clear: Number.POSITIVE_INFINITY,
        pendingSamples: 1,
        clearSamples: 1,
        runbook: '',
      };
      step(key, r, { kind: 'absent' }, disabled);
      const rec = alerts[key]!;
      rec.message = 'Rule disabled in the configuration';
      rec.flapping = false;
    }
  }
  return { doc: { ...doc, lastSampleAt: iso, alerts }, changes, applied: true };
}

/** The re-notification interval of an alert at a severity. */
export function cooldownMs(severity: Severity, s: RuleSettings | undefined, policy: LifecyclePolicy): number {
  const minutes =
    s?.cooldownMinutes ?? policy.cooldownMinutesBySeverity[severity] ?? policy.alertCooldownMinutes;
  return minutes * 60_000;
}

function claimActive(claim: AlertClaim | undefined, now: Date, policy: LifecyclePolicy): boolean {
  return !!claim && now.getTime() - Date.parse(claim.at) < policy.claimLeaseSeconds * 1000;
}

/** What the receiver should be told about one alert now, or null. */
export function dueTransition(
  r: AlertRecord,
  now: Date,
  s: RuleSettings | undefined,
  policy: LifecyclePolicy,
): AlertTransition | null {
  if (r.flapping) return r.notified?.state === 'flapping' ? null : 'flapping';
  if (r.status === 'firing') {
    if (r.notified?.state !== 'firing') return 'firing';
    // Escalation passes the cooldown: a rise in severity is news.
    if (SEVERITY_RANK[r.severity] > SEVERITY_RANK[r.notified.severity]) return 'escalated';
    // Without fresh figures a reminder would repeat stale ones; database_unreachable speaks instead.
    if (r.unknownSince) return null;
    if (now.getTime() - Date.parse(r.notified.at) >= cooldownMs(r.severity, s, policy)) return 'renotify';
    return null;
  }
  // The episode reached FIRING and its end has not been delivered: RESOLVED goes out, exactly once.
  return r.firingSince ? 'resolved' : null;
}

const TRANSITION_PRIORITY: Record<AlertTransition, number> = {
  resolved: 0,
  escalated: 1,
  firing: 2,
  flapping: 3,
  renotify: 4,
};

/** Due notifications, most important first; alerts claimed by another live run are left to it. */
export function dueNotifications(
  doc: AlertDocument,
  now: Date,
  rules: ReadonlyMap<string, RuleSettings>,
  policy: LifecyclePolicy,
): DueNotification[] {
  const due: DueNotification[] = [];
  for (const [key, record] of Object.entries(doc.alerts)) {
    if (claimActive(record.claim, now, policy)) continue;
    const transition = dueTransition(record, now, rules.get(record.rule), policy);
    if (transition) due.push({ key, transition, record });
  }
  return due.sort(
    (a, b) =>
      TRANSITION_PRIORITY[a.transition] - TRANSITION_PRIORITY[b.transition] ||
      SEVERITY_RANK[b.record.severity] - SEVERITY_RANK[a.record.severity] ||
      a.key.localeCompare(b.key),
  );
}

/** Items sent in the last hour that count against the cap. */
export function sentInLastHour(doc: AlertDocument, now: Date): number {
  return doc.sent.filter((s) => now.getTime() - s.at < HOUR_MS).length;
}

/**
 * Claims due notifications for run `claimId`: within max_alerts_per_hour (resolved notices are exempt,
 * the rest wait for budget), each claimed alert is marked so no other run sends it.
 */
export function claimNotifications(
  doc: AlertDocument,
  due: readonly DueNotification[],
  now: Date,
  claimId: string,
  policy: LifecyclePolicy,
): { doc: AlertDocument; claimed: DueNotification[]; heldBack: DueNotification[] } {
  const alerts = { ...doc.alerts };
  const sent = doc.sent.filter((s) => now.getTime() - s.at < HOUR_MS);
  let budget = Math.max(0, policy.maxAlertsPerHour - sent.length);
  const claimed: DueNotification[] = [];
  const heldBack: DueNotification[] = [];
  const at = now.toISOString();
  for (const d of due) {
    if (d.transition !== 'resolved') {
      if (budget <= 0) {
        heldBack.push(d);
        continue;
      }
      budget -= 1;
      sent.push({ at: now.getTime(), claim: claimId });
    }
    const claim = { id: claimId, at, transition: d.transition, severity: d.record.severity };
    const record = { ...alerts[d.key]!, claim };
    alerts[d.key] = record;
    claimed.push({ ...d, record });
  }
  return { doc: { ...doc, alerts, sent }, claimed, heldBack };
}

/**
 * Ends run `claimId`'s claims: delivered, each alert records what the receiver now knows; not
 * delivered, the claims and their share of the hourly budget are released so the next run retries.
 */
export function completeClaims(
  doc: AlertDocument,
  claimId: string,
  delivered: boolean,
  now: Date,
): AlertDocument {
  const alerts: Record<string, AlertRecord> = {};
  for (const [key, r] of Object.entries(doc.alerts)) {
    if (r.claim?.id !== claimId) {
      alerts[key] = r;
      continue;
    }
    const { claim, ...rest } = r;
    const next: AlertRecord = { ...rest };
    if (delivered) {
      const state =
        claim.transition === 'resolved'
          ? 'resolved'
          : claim.transition === 'flapping'
            ? 'flapping'
            : 'firing';
      next.notified = {
        transition: claim.transition,
        state,
        severity: claim.severity,
        at: now.toISOString(),
      };
      if (claim.transition === 'resolved') delete next.firingSince;
    }
    alerts[key] = next;
  }
  const sent = delivered
    ? doc.sent.map((s) => (s.claim === claimId ? { at: s.at } : s))
    : doc.sent.filter((s) => s.claim !== claimId);
  const totals = { ...(doc.totals ?? {}) };
  if (delivered) {
    for (const r of Object.values(doc.alerts)) {
      if (r.claim?.id !== claimId || r.claim.transition === 'resolved') continue;
      const key = `${r.claim.severity}|${r.rule}`;
      totals[key] = (totals[key] ?? 0) + 1;
    }
  }
  return { ...doc, alerts, sent, totals };
}

/**
 * Drops what no one needs any more: healthy alerts that never fired, resolved ones past the retention,
 * and hourly-cap entries older than an hour. Keeps the document small (DynamoDB items max 400 KB).
 */
export function pruneDocument(doc: AlertDocument, now: Date, policy: LifecyclePolicy): AlertDocument {
  const alerts: Record<string, AlertRecord> = {};
  const retentionMs = policy.resolvedRetentionHours * HOUR_MS;
  for (const [key, r] of Object.entries(doc.alerts)) {
    const idle = r.status === 'ok' && !r.firingSince && !r.claim && !r.flapping && !r.unknownSince;
    if (idle) {
      if (r.notified?.state !== 'resolved' && !r.resolvedAt) continue;
      const since = Date.parse(r.resolvedAt ?? r.notified?.at ?? r.lastObservedAt);
      if (now.getTime() - since > retentionMs) continue;
    }
    alerts[key] = r;
  }
  return { ...doc, alerts, sent: doc.sent.filter((s) => now.getTime() - s.at < HOUR_MS || s.claim) };
}

/** JSON with object keys sorted, so equal documents give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** Structural equality of two documents (to skip a write that would change nothing). */
export function sameDocument(a: AlertDocument, b: AlertDocument): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
