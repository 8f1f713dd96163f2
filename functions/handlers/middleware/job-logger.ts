import type middy from '@middy/core';
import { z } from 'zod';
import { errorMessage } from '../../errors.ts';
import { type Logger, silentLogger } from '../../ports.ts';
import type { HandlerContext } from './context.ts';
import { functionOption, middlewareOptions } from './options.ts';

/**
 * One log line per invocation: the result's message with its figures after the job (info), or what
 * failed (error) on any path, each with the target and task. Messages and fields pass through the
 * logger's redaction (lambdaLogger: format/redact.ts) and errorMessage's, so no secret reaches the log.
 * Use it early in the list: its after then sees the job's full result, before fanOutSummary trims it.
 *
 * @example
 *   .use(jobLogger({ logger, failed: 'maintenance failed', fields: (r) => ({ status: r.status }) }))
 */
export interface JobLoggerOptions {
  logger?: Logger;
  /** The info line when the result has no message; absent, no info line. */
  done?: string;
  /** The error line's message. */
  failed?: string;
  /** The result's figures for the info line. */
  fields?: (response: Record<string, unknown>) => Record<string, unknown>;
}

const OptionsSchema = z
  .object({
    logger: z.custom<Logger>((v) => typeof (v as Logger | null)?.error === 'function', {
      message: 'must be a Logger',
    }),
    done: z.string().min(1).optional(),
    failed: z.string().min(1),
    fields: functionOption<NonNullable<JobLoggerOptions['fields']>>(),
  })
  .strict();

const defaults = { logger: silentLogger, failed: 'invocation failed', fields: () => ({}) };

const where = (context: HandlerContext) => ({
  ...(context.target ? { target: context.target.name } : {}),
  ...(context.job ? { task: context.job.task } : {}),
});

export function jobLogger(
  options: JobLoggerOptions = {},
): middy.MiddlewareObj<unknown, unknown, Error, HandlerContext> {
  const { logger, done, failed, fields } = middlewareOptions('jobLogger', OptionsSchema, defaults, options);
  const jobLoggerAfter: middy.MiddlewareFn<unknown, unknown, Error, HandlerContext> = (request) => {
    const response = request.response;
    if (done === undefined || typeof response !== 'object' || response === null) return;
    const r = response as Record<string, unknown>;
    logger.info(typeof r.message === 'string' ? r.message : done, {
      ...where(request.context),
      ...fields(r),
    });
  };
  const jobLoggerOnError: middy.MiddlewareFn<unknown, unknown, Error, HandlerContext> = (request) => {
    logger.error(failed, { ...where(request.context), error: errorMessage(request.error) });
  };
  return { after: jobLoggerAfter, onError: jobLoggerOnError };
}
