import type pg from 'pg';
import type { AuditTrail } from '../compliance/audit.ts';
import type { ConstitutionalCompliance } from '../compliance/constitution.ts';
import { beginMutatingRun, readOnlyCompliance } from '../compliance/guard.ts';
import type { RuntimeConfig } from '../config.ts';
import { ADVISORY_LOCKS, describeHolder, withAdvisoryLock } from '../db/locks.ts';
import { errorMessage } from '../errors.ts';
import { executeActions } from '../maintenance/executor.ts';
import { type ActionResult, type MaintenanceAction, plannedResult } from '../maintenance/plan.ts';
import {
  MAINTAIN_TASKS,
  type MaintainTask,
  type MaintenanceFindings,
  tasksOf,
} from '../maintenance/registry.ts';
import type { TaskContext } from '../maintenance/task.ts';
import { ddlOptions } from '../optimizer/apply.ts';
import { reconcileInterruptedBuilds } from '../optimizer/reconcile.ts';
import {
  type Clock,
  type Logger,
  type MetricDatum,
  type MetricSink,
  silentLogger,
  systemClock,
} from '../ports.ts';
import { elapsedMs, type JobResult } from './result.ts';

/** The tasks --task and the maintainer's event accept (functions/maintenance/registry.ts). */
export { MAINTAIN_TASKS, type MaintainTask };

export interface MaintainOptions {
  task: MaintainTask;
  dryRun?: boolean;
  logger?: Logger;
  clock?: Clock;
  /** Where the run's figures go (CloudWatch in the Lambda); none in a plain CLI run. */
  metrics?: MetricSink;
  /** Epoch ms by which the run must be done (the Lambda's deadline): no new action starts after it. */
  deadline?: number;
  /** Why the run was started (schedule, ad hoc), for the audit. */
  reason?: string;
  /**
   * How long to wait for another run's maintenance lock before skipping (default 0: skip at once). A
   * killed run's session is ended by the server within about a second, so a rerun right after a crash
   * can wait a few seconds instead of skipping.
   */
  lockWaitMs?: number;
  /** Waits between lock retries (tests make it instant). */
  sleep?: (ms: number) => Promise<void>;
}

export interface MaintainSummary {
  planned: number;
  succeeded: number;
  failed: number;
  skipped: number;
  rowsMoved: number;
  partitionsCreated: number;
  partitionsDropped: number;
  partitionsDetached: number;
}

export interface MaintainResult extends JobResult {
  job: 'maintain';
  task: MaintainTask;
  dryRun: boolean;
  runId?: string;
  /** Every action with its sql, status and durationMs (status 'planned' in a dry run). */
  actions: ActionResult[];
  /** Each task's findings under its name (indexes: index health; vacuum: wraparound; statistics). */
  findings: MaintenanceFindings;
  summary: MaintainSummary;
}

const SKIP_LOCKED = 'skipped: another run holds the lock';
const SKIP_REPLICA = 'skipped: this server is a replica (pg_is_in_recovery)';

function summarize(actions: ActionResult[]): MaintainSummary {
  const count = (f: (a: ActionResult) => boolean) => actions.filter(f).length;
  const done = (kind: string) =>
    actions
      .filter((a) => a.kind === kind && a.status === 'succeeded')
      .reduce((n, a) => n + (Array.isArray(a.details?.partitions) ? a.details.partitions.length : 1), 0);
  return {
    planned: count((a) => a.status === 'planned'),
    succeeded: count((a) => a.status === 'succeeded'),
    failed: count((a) => a.status === 'failed'),
    skipped: count((a) => a.status === 'skipped'),
    rowsMoved: actions.reduce((n, a) => n + (a.rowsMoved ?? 0), 0),
    partitionsCreated: done('partition_create'),
    partitionsDropped: done('partition_drop'),
    partitionsDetached: done('partition_detach'),
  };
}

function messageOf(dryRun: boolean, s: MaintainSummary): string {
  if (dryRun)
    return `${s.planned} action(s) planned${s.skipped ? `, ${s.skipped} skipped` : ''}${s.failed ? `, ${s.failed} problem(s)` : ''}`;
  if (s.succeeded + s.failed + s.skipped === 0) return 'nothing to do';
  const parts = [`${s.succeeded} action(s) done`];
  if (s.partitionsCreated) parts.push(`${s.partitionsCreated} partition(s) created`);
  if (s.partitionsDropped) parts.push(`${s.partitionsDropped} dropped`);
  if (s.partitionsDetached) parts.push(`${s.partitionsDetached} detached`);
  if (s.rowsMoved) parts.push(`${s.rowsMoved} row(s) moved out of default partitions`);
  if (s.skipped) parts.push(`${s.skipped} skipped`);
  if (s.failed) parts.push(`${s.failed} failed`);
  return parts.join(', ');
}

/**
 * One maintenance run: one registered task (functions/maintenance/registry.ts), or all of them in order.
 * Skips on a replica and when another run holds the maintenance lock; refuses on a constitutional hash
 * mismatch. Each task reads the catalog, plans (a dry run stops there and changes nothing), then executes
 * its actions under lock_timeout with retries, each audited in dgm.optimization_audit.
 */
export async function maintain(
  client: pg.Client,
  config: RuntimeConfig,
  options: MaintainOptions,
): Promise<MaintainResult> {
  const started = performance.now();
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const dryRun = options.dryRun ?? false;
  const base = (compliance: ConstitutionalCompliance) => ({
    job: 'maintain' as const,
    task: options.task,
    target: config.target,
    dryRun,
    constitutional_compliance: compliance,
  });
  const skipped = (compliance: ConstitutionalCompliance, message: string): MaintainResult => ({
    ...base(compliance),
    status: 'skipped',
    durationMs: elapsedMs(started),
    message,
    actions: [],
    findings: {},
    summary: summarize([]),
  });

  const { rows: recovery } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
  if (recovery[0]?.r) {
    logger.info(SKIP_REPLICA);
    return skipped(await readOnlyCompliance(client, config.constitutionalHash), SKIP_REPLICA);
  }

  let compliance: ConstitutionalCompliance;
  let audit: AuditTrail | undefined;
  if (dryRun) {
    compliance = await readOnlyCompliance(client, config.constitutionalHash);
  } else {
    const run = await beginMutatingRun(client, 'maintain', config.constitutionalHash);
    compliance = run.compliance;
    audit = run.audit;
  }

  const work = async (): Promise<MaintainResult> => {
    const { rows: tz } = await client.query<{ tz: string }>(`SELECT current_setting('TimeZone') AS tz`);
    // Partition boundaries and rolling cutoffs are computed in UTC whatever the session's TimeZone.
    await client.query(`SET TimeZone = 'UTC'`);
    try {
      return await runTasks(client, config, options, {
        logger,
        clock,
        dryRun,
        audit,
        compliance,
        started,
        base,
      });
    } finally {
      await client.query(`SELECT set_config('TimeZone', $1, false)`, [tz[0]?.tz ?? 'UTC']).catch(() => {});
    }
  };

  if (dryRun) return work();
  const locked = await withAdvisoryLock(client, ADVISORY_LOCKS.maintain, work, {
    waitMs: options.lockWaitMs,
  });
  if (!locked.acquired) {
    // Not audited: a skipped run changed nothing, and as the latest "run" in the audit it would hide
    // the failures of the run before it from the maintenance_failed alert. The message names the
    // holder, so a person can tell a run in progress from one that is stuck.
    const message = `${SKIP_LOCKED}${describeHolder(locked.holder)}`;
    logger.info(message);
    return skipped(compliance, message);
  }
  const result = locked.value;
  await report(result, options, logger);
  return result;
}

async function runTasks(
  client: pg.Client,
  config: RuntimeConfig,
  options: MaintainOptions,
  ctx: {
    logger: Logger;
    clock: Clock;
    dryRun: boolean;
    audit: AuditTrail | undefined;
    compliance: ConstitutionalCompliance;
    started: number;
    base: (
      c: ConstitutionalCompliance,
    ) => Omit<MaintainResult, 'status' | 'durationMs' | 'actions' | 'findings' | 'summary'>;
  },
): Promise<MaintainResult> {
  const m = config.maintenance;
  const { logger, dryRun, audit } = ctx;
  const now = ctx.clock.now();
  const results: ActionResult[] = [];
  const findings: MaintainResult['findings'] = {};
  const execute = async (actions: MaintenanceAction[]) => {
    if (dryRun || !audit) {
      results.push(...actions.map(plannedResult));
      return;
    }
    results.push(
      ...(await executeActions(client, actions, {
        audit,
        settings: m,
        logger,
        deadline: options.deadline,
        reason: options.reason,
        now: () => Date.now(),
        sleep: options.sleep,
      })),
    );
  };

  const taskContext: TaskContext = {
    client,
    settings: m,
    target: config.target,
    now,
    dryRun,
    logger,
    finishInterruptedIndexBuilds: async () =>
      !dryRun && audit ? reconcileOptimizerBuilds(client, config, audit, logger) : [],
  };
  for (const task of tasksOf(options.task)) {
    const t0 = performance.now();
    logger.info(`maintain ${task.name}: planning${dryRun ? ' (dry run)' : ''}`);
    try {
      let plan = await task.plan(taskContext);
      for (;;) {
        results.push(...(plan.done ?? []));
        if (plan.findings !== undefined) (findings as Record<string, unknown>)[task.name] = plan.findings;
        const note = plan.note ?? `${plan.actions.length} action(s)`;
        if (note !== '') logger.info(`maintain ${task.name}: ${note}`);
        await execute(plan.actions);
        if (!plan.next) break;
        plan = await plan.next();
      }
    } catch (err) {
      // A task that could not even be planned is one failed action; the other tasks still run.
      const error = errorMessage(err);
      logger.error(`maintain ${task.name}: ${error}`);
      results.push({
        task: task.name,
        kind: 'plan',
        target: task.name,
        reason: 'reading the catalog and planning',
        sql: '',
        status: 'failed',
        durationMs: elapsedMs(t0),
        attempts: 1,
        error,
      });
      await audit?.record({ action: 'plan', target: task.name, status: 'failed', error }).catch(() => {});
    }
  }

  const summary = summarize(results);
  const status = summary.failed > 0 ? 'failed' : dryRun ? 'planned' : 'succeeded';
  return {
    ...ctx.base(ctx.compliance),
    status,
    durationMs: elapsedMs(ctx.started),
    message: messageOf(dryRun, summary),
    ...(audit ? { runId: audit.runId } : {}),
    actions: results,
    findings,
    summary,
  };
}

/**
 * Optimizer builds an interrupted run left (registered 'building'): when no optimize run holds its
 * lock, none of them is in progress, and they are finished or dropped here as the optimizer's next run
 * would, so no partitioned index stays INVALID waiting for it. Under a running optimize: left to it.
 */
async function reconcileOptimizerBuilds(
  client: pg.Client,
  config: RuntimeConfig,
  audit: AuditTrail,
  logger: Logger,
): Promise<ActionResult[]> {
  const t0 = performance.now();
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM dgm.auto_indexes WHERE target = $1 AND status = 'building'`,
    [config.target],
  );
  if ((rows[0]?.n ?? 0) === 0) return [];
  const locked = await withAdvisoryLock(client, ADVISORY_LOCKS.optimize, () =>
    reconcileInterruptedBuilds(client, config.target, { audit, ddl: ddlOptions(config.maintenance), logger }),
  );
  if (!locked.acquired) {
    logger.info('maintain indexes: optimizer builds in progress are left to the optimize run');
    return [];
  }
  return locked.value.map((r) => ({
    task: 'indexes',
    kind: r.outcome === 'finished' ? 'finish_interrupted_index' : 'drop_interrupted_index',
    target: r.index,
    reason: r.detail,
    sql: r.sql.join(';\n'),
    status: r.outcome === 'failed' ? ('failed' as const) : ('succeeded' as const),
    durationMs: elapsedMs(t0),
    attempts: 1,
    ...(r.outcome === 'failed' ? { error: r.detail } : {}),
  }));
}

/** The run's figures for the MetricSink (namespace DGM/Database, dimension DBInstance). */
export function maintenanceDatums(result: MaintainResult, at: Date): MetricDatum[] {
  const dims = { DBInstance: result.target, Task: result.task };
  const d = (name: string, value: number, unit: MetricDatum['unit'], dimensions = dims): MetricDatum => ({
    name,
    value,
    unit,
    dimensions,
    timestamp: at,
  });
  const s = result.summary;
  return [
    d('MaintenanceRunSeconds', result.durationMs / 1000, 'Seconds'),
    d('MaintenanceActionsSucceeded', s.succeeded, 'Count'),
    d('MaintenanceActionsFailed', s.failed, 'Count'),
    d('MaintenanceActionsSkipped', s.skipped, 'Count'),
    d('PartitionsCreated', s.partitionsCreated, 'Count'),
    d('PartitionsDropped', s.partitionsDropped + s.partitionsDetached, 'Count'),
    d('DefaultPartitionRowsMoved', s.rowsMoved, 'Count'),
  ];
}

async function report(result: MaintainResult, options: MaintainOptions, logger: Logger): Promise<void> {
  const at = (options.clock ?? systemClock).now();
  if (options.metrics) {
    try {
      const sent = await options.metrics.put(maintenanceDatums(result, at));
      if (sent.failed > 0)
        logger.warn(`maintenance metrics: ${sent.failed} not sent (${sent.errors[0] ?? ''})`);
    } catch (err) {
      logger.warn(`maintenance metrics not sent: ${errorMessage(err)}`);
    }
  }
}
