import type middy from '@middy/core';
import { z } from 'zod';
import type { HandlerContext, TimeBudget } from './context.ts';
import { middlewareOptions } from './options.ts';

/**
 * The run's time budget, from the Lambda's remaining time: no statement may outlive the Lambda
 * (PostgreSQL would go on working for a client that is gone), and no action starts after the deadline.
 * The statement timeout is the configured one (monitoring or maintenance settings), cut to the
 * remaining time less a safety margin (and, with connectWithinBudget, less the connect timeout too,
 * which then also ends before the margin). Sets context.budget; needs context.config (targetResolution).
 *
 * @example
 *   .use(timeoutBudget({ settings: 'monitoring', safetyMarginMs: 10_000, connectWithinBudget: true }))
 */
export interface TimeoutBudgetOptions {
  /** Whose statement timeout: monitoring (the sampler; lock timeout at most 1 s) or maintenance. */
  settings?: 'monitoring' | 'maintenance';
  /** Kept back from the Lambda's remaining time for the result, the audit and closing. */
  safetyMarginMs?: number;
  /** The remaining time when the context has no clock (tests, local runs). */
  defaultRemainingMs?: number;
  connectTimeoutMs?: number;
  /** The connect timeout is taken from the same budget (a short-lived function: the sampler). */
  connectWithinBudget?: boolean;
  /** No timeout is set below this. */
  minimumMs?: number;
}

const ms = z
  .number()
  .int()
  .min(0)
  .max(24 * 3_600_000);
const OptionsSchema = z
  .object({
    settings: z.enum(['monitoring', 'maintenance']),
    safetyMarginMs: ms,
    defaultRemainingMs: ms.min(1),
    connectTimeoutMs: ms.min(1),
    connectWithinBudget: z.boolean(),
    minimumMs: ms.min(1),
  })
  .strict();

const defaults: Required<TimeoutBudgetOptions> = {
  settings: 'maintenance',
  safetyMarginMs: 60_000,
  defaultRemainingMs: 900_000,
  connectTimeoutMs: 5_000,
  connectWithinBudget: false,
  minimumMs: 1_000,
};

export function timeoutBudget(
  options: TimeoutBudgetOptions = {},
): middy.MiddlewareObj<unknown, unknown, Error, HandlerContext> {
  const o = middlewareOptions('timeoutBudget', OptionsSchema, defaults, options);
  const timeoutBudgetBefore: middy.MiddlewareFn<unknown, unknown, Error, HandlerContext> = (request) => {
    const startedAt = performance.now();
    const { context } = request;
    const config = context.config;
    if (!config) throw new Error('timeoutBudget needs the target config: use targetResolution before it');
    const remainingMs = context.getRemainingTimeInMillis?.() ?? o.defaultRemainingMs;
    const available = remainingMs - o.safetyMarginMs;
    const configured =
      o.settings === 'monitoring'
        ? config.monitoring.statementTimeoutMs
        : config.maintenance.statementTimeoutMs;
    const statementTimeoutMs = Math.max(
      o.minimumMs,
      Math.min(configured, available - (o.connectWithinBudget ? o.connectTimeoutMs : 0)),
    );
    const budget: TimeBudget = {
      startedAt,
      remainingMs,
      deadline: Date.now() + available,
      statementTimeoutMs,
      lockTimeoutMs:
        o.settings === 'monitoring' ? Math.min(1_000, statementTimeoutMs) : config.maintenance.lockTimeoutMs,
      connectTimeoutMs: o.connectWithinBudget
        ? Math.min(o.connectTimeoutMs, Math.max(o.minimumMs, available))
        : o.connectTimeoutMs,
    };
    context.budget = budget;
  };
  return { before: timeoutBudgetBefore };
}
