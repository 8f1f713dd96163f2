import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import middy from '@middy/core';
import { z } from 'zod';
import { CloudWatchMetricSink } from '../adapters/aws/cloudwatch.ts';
import { targetRegistryFromEnv } from '../adapters/aws/dynamodb-target-registry.ts';
import { lambdaLogger } from '../adapters/aws/powertools-logger.ts';
import { formatZodError } from '../config.ts';
import { BadInputError } from '../errors.ts';
import {
  type FanOutItem,
  type FleetFunction,
  fanOutMetrics,
  outcomeOfResult,
  planFanOut,
  runFanOut,
  type TargetOutcome,
} from '../jobs/fanout.ts';
import type { Logger, MetricSink, RegisteredTarget, TargetRegistry } from '../ports.ts';
import { MAINTAINER_TASKS } from './events.ts';
import { loadTargets } from './runtime.ts';

/**
 * The fleet's fan-out Lambda, outside any VPC (it never connects to a database). The state machine
 * (lib/fleet.ts) calls it twice per run:
 *   {"action":"list","task":"sample"}    -> the Distributed Map's items: each enabled target of the
 *                                           registry with its placement's function
 *   {"action":"report","task", outcomes}  -> per-target outcomes of the map -> metrics, log lines
 * Locally (`dgm-db-ops invoke fanout`, the fleet test) {"task":"sample"} (action run) does the map itself
 * with the same per-target timeout and concurrency limit, calling the job's handler for each target.
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
function normalize(o: z.infer<typeof OutcomeSchema>): TargetOutcome {
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

export interface FanOutDeps {
  /** The fleet's targets: DynamoDB in AWS, DGM_TARGETS locally. */
  registry?: TargetRegistry;
  sink: MetricSink;
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** run: one target's job (the job's handler with the target's event); absent, run is refused. */
  runTarget?: (event: Record<string, unknown>, signal: AbortSignal) => Promise<unknown>;
  /** run: limits when the event gives none (the deployed Map's defaults). */
  concurrency?: number;
  targetTimeoutSeconds?: number;
  now?: () => Date;
}

export interface FanOutListResult {
  task: string;
  items: FanOutItem[];
  skipped: TargetOutcome[];
}

export interface FanOutReport {
  task: string;
  status: 'succeeded' | 'failed';
  targets: number;
  succeeded: number;
  failed: number;
  /** Only the targets that did not succeed, each with its reason. */
  failures: TargetOutcome[];
  durationMs?: number;
  message: string;
}

/** The registry the env describes: DGM_TARGETS (the local stand-in for the DynamoDB table). */
export function envRegistry(env: Record<string, string | undefined>): TargetRegistry {
  const targets = () => loadTargets(env) as RegisteredTarget[];
  return {
    list: async () => targets(),
    get: async (name) => targets().find((t) => t.name === name),
  };
}

export function createFanOutHandler(deps: FanOutDeps) {
  const env = deps.env ?? process.env;
  const logger: Logger = deps.logger ?? { info() {}, warn() {}, error() {} };
  const registry = deps.registry ?? envRegistry(env);
  const now = deps.now ?? (() => new Date());

  const report = async (
    task: string,
    outcomes: TargetOutcome[],
    durationMs?: number,
  ): Promise<FanOutReport> => {
    const failures = outcomes.filter((o) => o.status !== 'ok');
    for (const f of failures) {
      // One line per failed target: the target, why, and nothing from its secret.
      logger.warn('target failed', { task, target: f.target, status: f.status, error: f.error });
    }
    const put = await deps.sink.put(fanOutMetrics(task, outcomes, now()));
    if (put.failed > 0) logger.warn('fan-out metrics not all sent', { errors: put.errors });
    const result: FanOutReport = {
      task,
      status: failures.length > 0 ? 'failed' : 'succeeded',
      targets: outcomes.length,
      succeeded: outcomes.length - failures.length,
      failed: failures.length,
      failures,
      durationMs,
      message:
        failures.length > 0
          ? `${task}: ${failures.length} of ${outcomes.length} target(s) failed: ${failures
              .slice(0, 10)
              .map((f) => `${f.target} (${f.status})`)
              .join(', ')}${failures.length > 10 ? ', ...' : ''}`
          : `${task}: ${outcomes.length} target(s) succeeded`,
    };
    logger.info(result.message, { task, targets: result.targets, failed: result.failed });
    return result;
  };

  return middy(async (raw: unknown): Promise<FanOutListResult | FanOutReport> => {
    const event = parseFanOutEvent(raw);

    if (event.action === 'report') {
      return report(event.task, [...(event.skipped ?? []), ...(event.outcomes ?? [])].map(normalize));
    }

    const targets = await registry.list();
    if (event.action === 'list') {
      let placementsJson: unknown;
      try {
        placementsJson = JSON.parse(env.DGM_PLACEMENTS ?? '{}');
      } catch {
        throw new BadInputError('environment DGM_PLACEMENTS is not valid JSON');
      }
      const placements = PlacementsSchema.safeParse(placementsJson);
      if (!placements.success) throw new BadInputError(formatZodError('DGM_PLACEMENTS: ', placements.error));
      const plan = planFanOut(
        targets,
        event.task,
        placements.data as Record<string, Partial<Record<FleetFunction, string>>>,
      );
      logger.info('fan-out planned', {
        task: event.task,
        items: plan.items.length,
        skipped: plan.skipped.length,
      });
      return { task: event.task, ...plan };
    }

    // run: the map in-process (local invocation).
    if (!deps.runTarget) {
      throw new BadInputError(
        'event: action "run" runs only locally; in AWS the state machine fans out (start an execution with {"task":...})',
      );
    }
    const runTarget = deps.runTarget;
    const enabled = targets.filter((t) => t.enabled !== false).map((t) => t.name);
    const run = await runFanOut(
      event.task,
      enabled,
      async (target, signal) => {
        const result = await runTarget(
          {
            task: event.task,
            target,
            ...(event.dryRun !== undefined ? { dryRun: event.dryRun } : {}),
            reason: event.reason ?? 'fan-out',
            // As the state machine invokes: the job's result comes back as its status and message.
            fanOut: true,
          },
          signal,
        );
        return outcomeOfResult(target, result);
      },
      {
        concurrency: event.concurrency ?? deps.concurrency ?? 10,
        targetTimeoutMs: (event.targetTimeoutSeconds ?? deps.targetTimeoutSeconds ?? 60) * 1000,
      },
    );
    const result = await report(event.task, run.outcomes, run.durationMs);
    // Timed-out work goes on in the background; the local run waits for it so nothing outlives it.
    await run.settled();
    return result;
  });
}

export const handler = createFanOutHandler({
  registry: targetRegistryFromEnv(),
  sink: new CloudWatchMetricSink(new CloudWatchClient({ maxAttempts: 2 })),
  logger: lambdaLogger('dgm-fanout'),
});
