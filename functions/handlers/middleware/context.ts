import type { Context } from 'aws-lambda';
import type pg from 'pg';
import type { RuntimeConfig } from '../../config.ts';
import type { JobEvent } from '../events.ts';
import type { DeployedTarget } from '../runtime.ts';

/**
 * What the middlewares put on the Lambda context for the handler (middy's way: values a middleware
 * prepares travel on the context), each set by one middleware:
 *   job            eventValidation       the validated event
 *   target, config targetResolution      the event's target and its runtime config
 *   budget         timeoutBudget         the statement, lock and connect timeouts, the deadline
 *   db, dbError    databaseConnection    the connection (closed in after and onError), or why none
 *   customResource customResource        the CloudFormation request the event came as
 */
export interface HandlerContext extends Context {
  job?: JobEvent;
  target?: DeployedTarget;
  config?: RuntimeConfig;
  budget?: TimeBudget;
  db?: pg.Client;
  dbError?: unknown;
  customResource?: CustomResourceRequest;
}

/** The time a run has, from the Lambda's remaining time less a safety margin (timeoutBudget). */
export interface TimeBudget {
  /** performance.now() when the budget was taken (the run's start, for durations). */
  startedAt: number;
  remainingMs: number;
  /** Epoch ms after which no new action starts. */
  deadline: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  connectTimeoutMs: number;
}

/** A CloudFormation custom resource request, as the CDK Provider framework passes it on. */
export interface CustomResourceRequest {
  requestType: 'Create' | 'Update' | 'Delete';
  physicalResourceId: string;
  properties: Record<string, unknown>;
  oldProperties?: Record<string, unknown>;
}

/**
 * The values the handler needs, checked: a missing one means a middleware is missing from the
 * handler's list (a programming error, not bad input).
 */
export function prepared<K extends keyof HandlerContext>(
  context: HandlerContext,
  ...keys: K[]
): Required<Pick<HandlerContext, K>> {
  for (const key of keys) {
    if (context[key] === undefined)
      throw new Error(`handler context has no ${String(key)}: a middleware is missing`);
  }
  return context as unknown as Required<Pick<HandlerContext, K>>;
}
