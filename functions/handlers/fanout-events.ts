import { z } from 'zod';
import { formatZodError } from '../config.ts';
import { BadInputError } from '../errors.ts';
import type { FleetFunction, TargetOutcome } from '../jobs/fanout.ts';
import { MAINTAINER_TASKS } from './events.ts';

/**
 * The fan-out Lambda's events (handlers/fanout.ts): the state machine's list and report calls, and the
 * local run; and the placements' function names the stack writes (env DGM_PLACEMENTS).
 */

export const FANOUT_TASKS = ['sample', ...MAINTAINER_TASKS] as const;

const OutcomeSchema = z
  .object({
    target: z.string().min(1).max(64),
    status: z.enum(['ok', 'failed', 'error', 'timeout', 'skipped']),
    error: z.string().max(2000).optional(),
    ms: z.number().optional(),
    /** The job's own status, as the Map's item reports it ({"status":"ok","jobStatus":"failed"}). */
    jobStatus: z.string().max(64).optional(),
  })
  .strict();

/** An item whose invocation succeeded but whose job reported failed (or refused) failed its target. */
export function normalizeOutcome(o: z.infer<typeof OutcomeSchema>): TargetOutcome {
  const { jobStatus, ...outcome } = o;
  if (outcome.status === 'ok' && (jobStatus === 'failed' || jobStatus === 'refused')) {
    return { ...outcome, status: 'failed', error: outcome.error ?? `the ${jobStatus} job` };
  }
  return outcome;
}

const FanOutEventSchema = z
  .object({
    action: z.enum(['list', 'report', 'run']).default('run'),
    task: z.enum(FANOUT_TASKS),
    /** report: the map's per-target outcomes. */
    outcomes: z.array(OutcomeSchema).optional(),
    /** report: the targets list() could not place. */
    skipped: z.array(OutcomeSchema).optional(),
    /** run: overrides of the deployed limits. */
    concurrency: z.number().int().min(1).max(1000).optional(),
    targetTimeoutSeconds: z.number().int().min(1).max(900).optional(),
    dryRun: z.boolean().optional(),
    reason: z.string().max(200).optional(),
  })
  .strict();
export type FanOutEvent = z.infer<typeof FanOutEventSchema>;

/** Validates a fan-out event; a one-line BadInputError naming the bad field otherwise. */
export function parseFanOutEvent(input: unknown): FanOutEvent {
  const parsed = FanOutEventSchema.safeParse(input);
  if (!parsed.success) throw new BadInputError(formatZodError('event: ', parsed.error));
  return parsed.data;
}

/** The placements' function names (env DGM_PLACEMENTS, written by the stack). */
const PlacementsSchema = z.record(
  z.string(),
  z.object({ sampler: z.string(), maintainer: z.string(), migrator: z.string() }).partial(),
);

/** The placements of env DGM_PLACEMENTS; a BadInputError when it is not valid. */
export function placementsFromEnv(
  env: Record<string, string | undefined>,
): Record<string, Partial<Record<FleetFunction, string>>> {
  let json: unknown;
  try {
    json = JSON.parse(env.DGM_PLACEMENTS ?? '{}');
  } catch {
    throw new BadInputError('environment DGM_PLACEMENTS is not valid JSON');
  }
  const placements = PlacementsSchema.safeParse(json);
  if (!placements.success) throw new BadInputError(formatZodError('DGM_PLACEMENTS: ', placements.error));
  return placements.data as Record<string, Partial<Record<FleetFunction, string>>>;
}
