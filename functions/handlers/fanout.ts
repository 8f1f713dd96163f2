import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import middy from '@middy/core';
import { CloudWatchMetricSink } from '../adapters/aws/cloudwatch.ts';
import { targetRegistryFromEnv } from '../adapters/aws/dynamodb-target-registry.ts';
import { lambdaLogger } from '../adapters/aws/powertools-logger.ts';
import { BadInputError } from '../errors.ts';
import {
  type FanOutListResult,
  type FanOutReport,
  planFanOut,
  reportFanOut,
  runFanOutLocally,
} from '../jobs/fanout.ts';
import { type Logger, type MetricSink, silentLogger, type TargetRegistry } from '../ports.ts';
import { type FanOutEvent, normalizeOutcome, parseFanOutEvent, placementsFromEnv } from './fanout-events.ts';
import { eventValidation } from './middleware/event-validation.ts';
import { jobLogger } from './middleware/job-logger.ts';
import { envRegistry } from './runtime.ts';

export type { FanOutListResult, FanOutReport } from '../jobs/fanout.ts';
export { FANOUT_TASKS, type FanOutEvent, parseFanOutEvent } from './fanout-events.ts';

/**
 * The fleet's fan-out Lambda, outside any VPC (it never connects to a database). The state machine
 * (lib/fleet.ts) calls it twice per run:
 *   {"action":"list","task":"sample"}    -> the Distributed Map's items: each enabled target of the
 *                                           registry with its placement's function
 *   {"action":"report","task", outcomes}  -> per-target outcomes of the map -> metrics, log lines
 * Locally (`dgm-db-ops invoke fanout`, the fleet test) {"task":"sample"} (action run) does the map itself
 * with the same per-target timeout and concurrency limit, calling the job's handler for each target.
 */

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

export function createFanOutHandler(deps: FanOutDeps) {
  const env = deps.env ?? process.env;
  const logger = deps.logger ?? silentLogger;
  const registry = deps.registry ?? envRegistry(env);
  const reportDeps = { sink: deps.sink, logger, now: deps.now ?? (() => new Date()) };

  return middy(async (raw: unknown): Promise<FanOutListResult | FanOutReport> => {
    const event = raw as FanOutEvent; // eventValidation parsed it
    if (event.action === 'report') {
      const outcomes = [...(event.skipped ?? []), ...(event.outcomes ?? [])].map(normalizeOutcome);
      return reportFanOut(event.task, outcomes, reportDeps);
    }
    const targets = await registry.list();
    if (event.action === 'list') {
      const plan = planFanOut(targets, event.task, placementsFromEnv(env));
      logger.info('fan-out planned', {
        task: event.task,
        items: plan.items.length,
        skipped: plan.skipped.length,
      });
      return { task: event.task, ...plan };
    }
    if (!deps.runTarget) {
      throw new BadInputError(
        'event: action "run" runs only locally; in AWS the state machine fans out (start an execution with {"task":...})',
      );
    }
    const limits = {
      concurrency: event.concurrency ?? deps.concurrency ?? 10,
      targetTimeoutMs: (event.targetTimeoutSeconds ?? deps.targetTimeoutSeconds ?? 60) * 1000,
    };
    return runFanOutLocally(event, targets, deps.runTarget, limits, reportDeps);
  })
    .use(jobLogger({ logger, failed: 'fan-out failed' }))
    .use(eventValidation({ parse: parseFanOutEvent }));
}

export const handler = createFanOutHandler({
  registry: targetRegistryFromEnv(),
  sink: new CloudWatchMetricSink(new CloudWatchClient({ maxAttempts: 2 })),
  logger: lambdaLogger('dgm-fanout'),
});
