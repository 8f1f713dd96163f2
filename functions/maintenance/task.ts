import type pg from 'pg';
import type { z } from 'zod';
import type { MaintenanceConfig } from '../config.ts';
import type { Logger } from '../ports.ts';
import type { ActionResult, MaintenanceAction } from './plan.ts';

/**
 * What a maintenance task is: one module exporting one `MaintenanceTaskDefinition`, listed once in
 * registry.ts. Everything else (the job's loop, the Lambda event schema, the runtime config, the CDK
 * schedules, the CLI's --task and its help) reads the registry, so a new task touches only its module and
 * the registry.
 */

/** How often a task's default schedule runs it. */
export type ScheduleKind = 'daily' | 'weekly' | 'monthly';

/** What the job offers a task while it plans. */
export interface TaskContext {
  client: pg.Client;
  /** The whole maintenance section of the runtime config (every task's part and the executor's). */
  settings: MaintenanceConfig;
  /** The target's name (config.target). */
  target: string;
  now: Date;
  dryRun: boolean;
  logger: Logger;
  /**
   * Finishes or drops index builds an interrupted optimize run left, when no optimize run holds its lock
   * (the job does it: it needs the optimizer); [] in a dry run.
   */
  finishInterruptedIndexBuilds(): Promise<ActionResult[]>;
}

/** The one plan shape every task returns. */
export interface TaskPlan<F = unknown> {
  /** What to do, in order; a dry run reports them as planned and stops there. */
  actions: MaintenanceAction[];
  /** What the task found besides its actions (the result's findings.<task>). */
  findings?: F;
  /** The progress line for these actions (default: "<n> action(s)"); '' logs nothing. */
  note?: string;
  /** Actions that planning itself carried out (already audited), reported with the others. */
  done?: ActionResult[];
  /**
   * Work that depends on these actions having run (the rolling indexes after new partitions exist,
   * the index plan again after fresh statistics): planned once they are executed.
   */
  next?: () => Promise<TaskPlan<F>>;
}

export interface MaintenanceTaskDefinition<
  N extends string = string,
  S extends z.ZodRawShape = z.ZodRawShape,
  F = unknown,
> {
  /** The task's name: --task, the event's task, the schedule's id, the audit's task. */
  readonly name: N;
  /** One line for --help and the docs. */
  readonly description: string;
  /** Its default schedule (EventBridge Scheduler expression, deployment time zone). */
  readonly schedule: { readonly kind: ScheduleKind; readonly expression: string };
  /** Its part of the runtime config's maintenance section (fields with defaults). */
  readonly config: S;
  /** Reads the catalog and plans; pure planning functions do the deciding. */
  plan(ctx: TaskContext): Promise<TaskPlan<F>>;
  /** Lines describing its findings in the CLI's readable output. */
  describeFindings?(findings: F): string[];
}

/** A problem found while planning, reported as a failed action (no statements run). */
export function problemAction(task: string, text: string): MaintenanceAction {
  return {
    task,
    kind: 'config_problem',
    target: 'config',
    reason: 'configuration',
    statements: [],
    mode: 'transaction',
    problem: text,
  };
}
