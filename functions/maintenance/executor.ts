import type pg from 'pg';
import type { AuditTrail } from '../compliance/audit.ts';
import { quoteQualified } from '../db/identifiers.ts';
import { errorMessage } from '../errors.ts';
import { markOwnStatement } from '../monitor/own-statements.ts';
import type { Logger } from '../ports.ts';
import {
  type ActionResult,
  type IndexLeftovers,
  type MaintenanceAction,
  type Statement,
  statementText,
} from './plan.ts';
import leftoverIndexesSql from './sql/leftover-indexes.sql';

export interface ExecutorSettings {
  lockTimeoutMs: number;
  lockRetries: number;
  retryBackoffMs: number;
  statementTimeoutMs: number;
  freezeTimeBoxMs: number;
}

export interface ExecutorOptions {
  audit: AuditTrail;
  settings: ExecutorSettings;
  logger: Logger;
  /** Epoch ms after which no new action starts (the Lambda's remaining time); statements end before it. */
  deadline?: number;
  /** Why the run was started (schedule, ad hoc, demo), kept in each audit row's details. */
  reason?: string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Lock waits that are worth another try: our lock_timeout expired, or the deadlock detector picked us. */
const RETRYABLE = new Set(['55P03', '40P01']);
/** Time kept back from the deadline, so the run can audit and report before the Lambda is stopped. */
const DEADLINE_MARGIN_MS = 5_000;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The wait before retry `attempt` (1-based): the backoff doubled each time, with up to 20% jitter. */
export function backoffMs(base: number, attempt: number, random: () => number = Math.random): number {
  const plain = base * 2 ** Math.max(0, attempt - 1);
  return Math.round(plain * (1 + 0.2 * random()));
}

function isRetryable(err: unknown): boolean {
  return RETRYABLE.has((err as { code?: string } | undefined)?.code ?? '');
}

/** Runs statements in order, batching plain ones into one round trip; returns each statement's row count. */
async function runStatements(client: pg.Client, statements: Statement[]): Promise<number[]> {
  const counts: number[] = [];
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const res = (await client.query(batch.join(';\n'))) as pg.QueryResult | pg.QueryResult[];
    const list = Array.isArray(res) ? res : [res];
    for (const r of list) counts.push(r.rowCount ?? 0);
    batch = [];
  };
  for (const s of statements) {
    if (typeof s === 'string') {
      // Marked as the tool's own: the sampler and the optimizer never take them for the workload.
      batch.push(markOwnStatement(s, 'maintenance'));
    } else {
      await flush();
      counts.push((await client.query(markOwnStatement(s.text, 'maintenance'), s.values)).rowCount ?? 0);
    }
  }
  await flush();
  return counts;
}

function rowsMovedBy(statements: Statement[], counts: number[]): number | undefined {
  let moved: number | undefined;
  statements.forEach((s, i) => {
    if (statementText(s).startsWith('WITH moved AS')) moved = (moved ?? 0) + (counts[i] ?? 0);
  });
  return moved;
}

/**
 * Executes a plan: every transaction action in its own transaction with lock_timeout and
 * statement_timeout set locally; lock timeouts and deadlocks are retried with backoff, so the run never
 * sits in a lock queue in front of production traffic longer than lock_timeout. Each action is audited
 * (a success in the same transaction as its change). Failed actions do not stop the run, except that
 * later actions of the same group are skipped.
 */
export async function executeActions(
  client: pg.Client,
  actions: MaintenanceAction[],
  options: ExecutorOptions,
): Promise<ActionResult[]> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const { settings, logger, audit } = options;
  const results: ActionResult[] = [];
  const failedGroups = new Set<string>();
  let freezeDeadline: number | undefined;

  for (const [i, action] of actions.entries()) {
    const base: ActionResult = {
      task: action.task,
      kind: action.kind,
      target: action.target,
      reason: action.reason,
      sql: action.statements.map(statementText).join(';\n'),
      status: 'skipped',
      durationMs: 0,
      attempts: 0,
      ...(action.details ? { details: action.details } : {}),
    };
    const progress = `[${i + 1}/${actions.length}] ${action.task} ${action.kind} ${action.target}`;
    const skip = async (why: string) => {
      results.push({ ...base, error: why });
      await audit
        .record({
          action: action.kind,
          target: action.target,
          sql: base.sql,
          status: 'skipped',
          error: why,
          details: { task: action.task, reason: options.reason, ...action.details },
        })
        .catch(() => {});
      logger.info(`${progress}: skipped (${why})`);
    };

    if (action.problem) {
      results.push({ ...base, status: 'failed', error: action.problem });
      await audit
        .record({ action: action.kind, target: action.target, status: 'failed', error: action.problem })
        .catch(() => {});
      logger.warn(`${progress}: ${action.problem}`);
      if (action.group) failedGroups.add(action.group);
      continue;
    }
    if (action.skip !== undefined) {
      await skip(action.skip);
      continue;
    }
    if (action.group && failedGroups.has(action.group)) {
      await skip('an earlier step of the same change failed');
      continue;
    }
    if (options.deadline !== undefined && now() > options.deadline - DEADLINE_MARGIN_MS) {
      await skip('time budget exhausted (the Lambda timeout is near)');
      continue;
    }
    if (action.timeBoxed) {
      freezeDeadline ??= now() + settings.freezeTimeBoxMs;
      if (now() >= freezeDeadline) {
        await skip('freeze time box reached');
        continue;
      }
    }

    const started = performance.now();
    let attempts = 0;
    let outcome: { ok: true; rowsMoved?: number } | { ok: false; error: unknown } = {
      ok: false,
      error: new Error('not run'),
    };
    for (;;) {
      attempts++;
      const statementTimeout = Math.max(
        1_000,
        Math.min(
          settings.statementTimeoutMs,
          options.deadline !== undefined ? options.deadline - DEADLINE_MARGIN_MS - now() : Infinity,
          action.timeBoxed && freezeDeadline !== undefined ? freezeDeadline - now() : Infinity,
        ),
      );
      const limits = { lockTimeoutMs: settings.lockTimeoutMs, statementTimeoutMs: statementTimeout };
      try {
        const rowsMoved =
          action.mode === 'transaction'
            ? await runInTransaction(client, action, limits, audit, started, attempts, options.reason)
            : await runAutocommit(client, action, limits);
        outcome = { ok: true, rowsMoved };
        break;
      } catch (err) {
        outcome = { ok: false, error: err };
        if (action.cleanup) await dropLeftovers(client, action.cleanup, logger);
        const retry = isRetryable(err) && attempts <= settings.lockRetries;
        const wait = backoffMs(settings.retryBackoffMs, attempts);
        if (
          !retry ||
          (options.deadline !== undefined && now() + wait > options.deadline - DEADLINE_MARGIN_MS)
        )
          break;
        logger.info(
          `${progress}: ${errorMessage(err)}; retry ${attempts} of ${settings.lockRetries} in ${wait} ms`,
        );
        await sleep(wait);
      }
    }
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    if (outcome.ok) {
      if (action.mode === 'autocommit') {
        await audit.record({
          action: action.kind,
          target: action.target,
          sql: base.sql,
          status: 'succeeded',
          durationMs,
          details: { task: action.task, reason: options.reason, attempts, ...action.details },
        });
      }
      results.push({
        ...base,
        status: 'succeeded',
        durationMs,
        attempts,
        ...(outcome.rowsMoved !== undefined ? { rowsMoved: outcome.rowsMoved } : {}),
      });
      logger.info(
        `${progress}: done in ${durationMs} ms${attempts > 1 ? ` (${attempts} attempts)` : ''}${
          outcome.rowsMoved ? `, ${outcome.rowsMoved} rows moved` : ''
        }`,
      );
    } else {
      const code = (outcome.error as { code?: string }).code;
      // A VACUUM stopped by the time box keeps what it froze; it is not a failure of the run.
      const boxed =
        action.timeBoxed && code === '57014' && freezeDeadline !== undefined && now() >= freezeDeadline;
      const error = boxed
        ? 'stopped at the freeze time box (pages frozen so far stay frozen)'
        : errorMessage(outcome.error);
      const status = boxed ? 'skipped' : 'failed';
      await audit
        .record({
          action: action.kind,
          target: action.target,
          sql: base.sql,
          status,
          durationMs,
          error,
          details: { task: action.task, reason: options.reason, attempts, code, ...action.details },
        })
        .catch(() => {});
      results.push({ ...base, status, durationMs, attempts, error });
      if (action.group) failedGroups.add(action.group);
      (boxed ? logger.info : logger.warn)(`${progress}: ${status} after ${attempts} attempt(s): ${error}`);
    }
  }
  return results;
}

async function runInTransaction(
  client: pg.Client,
  action: MaintenanceAction,
  limits: { lockTimeoutMs: number; statementTimeoutMs: number },
  audit: AuditTrail,
  started: number,
  attempts: number,
  reason: string | undefined,
): Promise<number | undefined> {
  const prologue = [
    'BEGIN',
    `SET LOCAL lock_timeout = ${Math.trunc(limits.lockTimeoutMs)}`,
    `SET LOCAL statement_timeout = ${Math.trunc(limits.statementTimeoutMs)}`,
  ];
  try {
    const counts = await runStatements(client, [...prologue, ...action.statements]);
    const rowsMoved = rowsMovedBy(action.statements, counts.slice(prologue.length));
    // The audit row commits with the change: it exists exactly when the change does.
    await audit.record({
      action: action.kind,
      target: action.target,
      sql: action.statements.map(statementText).join(';\n'),
      status: 'succeeded',
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      details: {
        task: action.task,
        reason,
        attempts,
        ...(rowsMoved !== undefined ? { rows_moved: rowsMoved } : {}),
        ...action.details,
      },
    });
    await client.query('COMMIT');
    return rowsMoved;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

async function runAutocommit(
  client: pg.Client,
  action: MaintenanceAction,
  limits: { lockTimeoutMs: number; statementTimeoutMs: number },
): Promise<undefined> {
  // Session-level settings (no transaction to scope them), restored afterwards to the run's own.
  const { rows } = await client.query<{ lock: string; stmt: string }>(
    `SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS stmt`,
  );
  await client.query(
    `SET lock_timeout = ${Math.trunc(limits.lockTimeoutMs)}; SET statement_timeout = ${Math.trunc(limits.statementTimeoutMs)}`,
  );
  try {
    // One statement per round trip: CONCURRENTLY and VACUUM refuse to run in a multi-statement query.
    for (const s of action.statements) {
      if (typeof s === 'string') await client.query(markOwnStatement(s, 'maintenance'));
      else await client.query(markOwnStatement(s.text, 'maintenance'), s.values);
    }
  } finally {
    await client
      .query(`SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)`, [
        rows[0]?.lock ?? '0',
        rows[0]?.stmt ?? '0',
      ])
      .catch(() => {});
  }
  return undefined;
}

/** Drops the INVALID indexes a failed concurrent build of ours left (best effort; the next run retries). */
export async function dropLeftovers(
  client: pg.Client,
  leftovers: IndexLeftovers,
  logger: Logger,
): Promise<void> {
  try {
    const { rows } = await client.query<{ schema_name: string; index_name: string }>(leftoverIndexesSql, [
      leftovers.schema,
      leftovers.table,
      leftovers.exact ?? [],
      leftovers.ccOf ?? null,
    ]);
    for (const r of rows) {
      await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteQualified(r.schema_name, r.index_name)}`);
      logger.info(`dropped the invalid index ${r.schema_name}.${r.index_name} a failed build left`);
    }
  } catch (err) {
    logger.warn(`could not drop leftovers of a failed index build: ${errorMessage(err)}`);
  }
}
