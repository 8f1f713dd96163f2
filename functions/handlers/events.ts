import { z } from 'zod';
import { findControlCharacter, formatZodError } from '../config.ts';
import { BadInputError } from '../errors.ts';
import { showValue } from '../format/redact.ts';
import { MAINTAIN_TASKS } from '../maintenance/registry.ts';

/**
 * Tasks the maintainer runs: every registered maintenance task and 'all' (functions/maintenance/
 * registry.ts), then optimize and migrate; the sampler's only task is 'sample'.
 */
export const MAINTAINER_TASKS = [...MAINTAIN_TASKS, 'optimize', 'migrate'] as const;

/**
 * The event every Lambda takes, validated with the same schema the CLI's flags go through:
 * { task, target?, dryRun? } plus task-specific options.
 */
export const JobEventSchema = z
  .object({
    task: z.string().min(1),
    /** Target name from DGM_TARGETS; optional when exactly one target is deployed. */
    target: z.string().min(1).max(64).optional(),
    dryRun: z.boolean().optional(),
    /** optimize: create the recommended indexes (still capped by the config). */
    apply: z.boolean().optional(),
    /** Why the run was started (schedule, governance event, ad hoc). */
    reason: z.string().max(200).optional(),
  })
  .strict();

export type JobEvent = z.infer<typeof JobEventSchema>;

/**
 * Parses an event; a one-line BadInputError naming the bad field otherwise. Strings holding control
 * characters (a NUL cannot even be stored in PostgreSQL's text) are refused here, before any effect. A
 * handler with one obvious task (the sampler's sample, the migrator's migrate) passes it as defaultTask:
 * `{}` then runs it.
 */
export function parseJobEvent(
  input: unknown,
  allowedTasks: readonly string[],
  defaultTask?: string,
): JobEvent {
  const withTask =
    defaultTask !== undefined &&
    typeof input === 'object' &&
    input !== null &&
    !Array.isArray(input) &&
    !('task' in input)
      ? { ...input, task: defaultTask }
      : input;
  const result = JobEventSchema.safeParse(withTask);
  if (!result.success) throw new BadInputError(formatZodError('event: ', result.error));
  const control = findControlCharacter(result.data);
  if (control !== undefined) {
    throw new BadInputError(`event: ${control}: control characters (NUL, newline...) are not allowed`);
  }
  if (!allowedTasks.includes(result.data.task)) {
    throw new BadInputError(
      `event: task must be one of ${allowedTasks.join(', ')}, got '${showValue(result.data.task)}'`,
    );
  }
  return result.data;
}
