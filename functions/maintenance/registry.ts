import { indexesTask } from './indexes.ts';
import { partitionsTask } from './partitions.ts';
import { sequencesTask } from './sequences.ts';
import { statisticsTask } from './statistics.ts';
import type { MaintenanceTaskDefinition, ScheduleKind, TaskPlan } from './task.ts';
import { vacuumTask } from './vacuum.ts';

/**
 * THE list of maintenance tasks, in the order `--task all` runs them (partitions first: new partitions
 * need their settings and statistics; then the heavier passes). Every other list derives from it: the
 * maintainer's event tasks (handlers/events.ts), the runtime config's maintenance section (config.ts),
 * the deployment's schedules (deployment.ts, hence the CDK schedules in lib/fleet.ts), the CLI's --task
 * and its help, and the job's loop (jobs/maintain.ts). A new task is a module exporting a
 * `MaintenanceTaskDefinition` (task.ts) and one line here.
 */
export const MAINTENANCE_TASK_REGISTRY = [
  partitionsTask,
  indexesTask,
  statisticsTask,
  vacuumTask,
  sequencesTask,
] as const;

type Registered = (typeof MAINTENANCE_TASK_REGISTRY)[number];
export type MaintenanceTaskName = Registered['name'];

/** The task names, in run order. */
export const MAINTENANCE_TASKS = MAINTENANCE_TASK_REGISTRY.map((t) => t.name) as MaintenanceTaskName[];

/** What `maintain --task` and the maintainer's event accept: each task, or all of them in order. */
export const MAINTAIN_TASKS = [...MAINTENANCE_TASKS, 'all'] as const;
export type MaintainTask = MaintenanceTaskName | 'all';

/** The findings of a run, keyed by task (each task's own findings type). */
export type MaintenanceFindings = {
  [T in Registered as T['name']]?: T extends { plan(ctx: never): Promise<TaskPlan<infer F>> } ? F : never;
};

/** Every task's part of the runtime config's maintenance section, merged (config.ts adds the executor's). */
export const MAINTENANCE_TASK_CONFIG = Object.assign(
  {},
  ...MAINTENANCE_TASK_REGISTRY.map((t) => t.config),
) as UnionToIntersection<Registered['config']>;

/** The default schedule of each task (EventBridge Scheduler expressions; deployment.ts adds sample, optimize). */
export const MAINTENANCE_SCHEDULES = Object.fromEntries(
  MAINTENANCE_TASK_REGISTRY.map((t) => [t.name, t.schedule]),
) as Record<MaintenanceTaskName, { kind: ScheduleKind; expression: string }>;

/** The tasks a run of `task` covers, in run order. */
export function tasksOf(task: MaintainTask): readonly MaintenanceTaskDefinition[] {
  const all = MAINTENANCE_TASK_REGISTRY as readonly MaintenanceTaskDefinition[];
  return task === 'all' ? all : all.filter((t) => t.name === task);
}

/** Whether a string names a registered task or 'all'. */
export function isMaintainTask(value: string): value is MaintainTask {
  return (MAINTAIN_TASKS as readonly string[]).includes(value);
}

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (u: infer I) => void
  ? I
  : never;
