import { createHash } from 'node:crypto';

/**
 * Maintenance plans are data: every task first reads the catalog into facts, turns them into a list of
 * actions (pure functions, unit-tested), and only then executes them (executor.ts). --dry-run prints the
 * actions and stops there. The tasks are listed in registry.ts; task.ts says what a task is.
 */

/** A statement: plain SQL (identifiers quoted, no values) or SQL with bound values. */
export type Statement = string | { text: string; values: unknown[] };

export interface MaintenanceAction {
  /** The task that planned it (a name in registry.ts). */
  task: string;
  /** What it does: partition_create, partition_drop, reindex, analyze, set_autovacuum, vacuum_freeze, ... */
  kind: string;
  /** The object it changes, as a qualified name. */
  target: string;
  reason: string;
  statements: Statement[];
  /**
   * transaction: all statements in one transaction with SET LOCAL lock_timeout, retried whole.
   * autocommit: one statement at a time outside any transaction (CONCURRENTLY builds, VACUUM).
   */
  mode: 'transaction' | 'autocommit';
  /** Actions of one group build on each other: after a failure the rest of the group is skipped. */
  group?: string;
  /** Run after a failed attempt, before any retry: removes what a failed concurrent build left behind. */
  cleanup?: IndexLeftovers;
  /** Counted against the freeze time box (config freezeTimeBoxMs). */
  timeBoxed?: boolean;
  /** A problem found while planning (no statements): reported as a failed action. */
  problem?: string;
  /** Nothing to do, and why (no statements): reported and audited as a skipped action, not a failure. */
  skip?: string;
  details?: Record<string, unknown>;
}

/** INVALID indexes a failed CREATE INDEX CONCURRENTLY (exact names) or REINDEX CONCURRENTLY (ccOf) leaves. */
export interface IndexLeftovers {
  schema: string;
  table: string;
  exact?: string[];
  /** The index whose REINDEX CONCURRENTLY leaves <name>_ccnew[N] / <name>_ccold[N]. */
  ccOf?: string;
}

export type ActionStatus = 'planned' | 'succeeded' | 'failed' | 'skipped';

export interface ActionResult {
  task: string;
  kind: string;
  target: string;
  reason: string;
  /** The statements, joined with ";\n" (bound values are not shown). */
  sql: string;
  status: ActionStatus;
  durationMs: number;
  attempts: number;
  error?: string;
  rowsMoved?: number;
  details?: Record<string, unknown>;
}

/** The text of a statement, for results, logs and the audit. */
export function statementText(s: Statement): string {
  return typeof s === 'string' ? s : s.text;
}

/** An action as it appears in a dry run's result. */
export function plannedResult(action: MaintenanceAction): ActionResult {
  return {
    task: action.task,
    kind: action.kind,
    target: action.target,
    reason: action.reason,
    sql: action.statements.map(statementText).join(';\n'),
    status: action.problem ? 'failed' : action.skip !== undefined ? 'skipped' : 'planned',
    durationMs: 0,
    attempts: 0,
    ...(action.problem ? { error: action.problem } : action.skip !== undefined ? { error: action.skip } : {}),
    ...(action.details ? { details: action.details } : {}),
  };
}

/**
 * A derived name within PostgreSQL's 63-byte identifier limit that stays unique when shortened: the base is
 * cut by whole characters and 6 hex digits of its md5 go before the suffix (as dgm.fit_identifier in SQL).
 */
export function fitIdentifier(base: string, suffix = ''): string {
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
  if (bytes(base + suffix) <= 63) return base + suffix;
  const tag = `_${createHash('md5').update(base, 'utf8').digest('hex').slice(0, 6)}`;
  const chars = Array.from(base);
  while (chars.length > 0 && bytes(chars.join('') + tag + suffix) > 63) chars.pop();
  return chars.join('') + tag + suffix;
}
