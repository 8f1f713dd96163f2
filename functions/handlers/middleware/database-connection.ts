import type middy from '@middy/core';
import { z } from 'zod';
import { DatabaseUnreachableError, type TlsMode } from '../../db/connection.ts';
import { type Logger, type SecretsProvider, silentLogger } from '../../ports.ts';
import { connectTarget } from '../runtime.ts';
import type { HandlerContext } from './context.ts';
import { functionOption, middlewareOptions } from './options.ts';

/**
 * One connection per invocation to the target, with its secret (read again once after an
 * authentication failure: rotation), TLS, and the budget's statement, lock and connect timeouts set at
 * connect. Closed in after and in onError, so no path leaves it open. An unreachable database throws,
 * or with onUnreachable 'continue' leaves context.db unset and the reason in context.dbError (the
 * sampler reports it as a failed sample with Up=0). Needs context.target and context.budget.
 *
 * @example
 *   .use(databaseConnection({ secrets, applicationName: 'dgm-db-ops-sampler', onUnreachable: 'continue' }))
 */
export interface DatabaseConnectionOptions {
  secrets: SecretsProvider;
  /** The connection's application_name (pg_stat_activity), fixed or per event. */
  applicationName: string | ((event: unknown, context: HandlerContext) => string);
  /** TLS to the database; default 'verify' (the Lambda verifies against the RDS CA bundle). */
  tls?: TlsMode;
  /** Connection attempts while a database or its network settles (not after a refused login). */
  attempts?: number | ((event: unknown, context: HandlerContext) => number);
  retryDelayMs?: number;
  onUnreachable?: 'throw' | 'continue';
  logger?: Logger;
}

const OptionsSchema = z
  .object({
    secrets: z.custom<SecretsProvider>(
      (v) => typeof (v as SecretsProvider | null)?.getDatabaseSecret === 'function',
      { message: 'must be a SecretsProvider' },
    ),
    applicationName: z.union([
      z.string().min(1).max(63),
      functionOption<(e: unknown, c: HandlerContext) => string>(),
    ]),
    tls: z.custom<TlsMode>((v) => typeof v === 'string').optional(),
    attempts: z.union([
      z.number().int().min(1).max(10),
      functionOption<(e: unknown, c: HandlerContext) => number>(),
    ]),
    retryDelayMs: z.number().int().min(0).max(60_000),
    onUnreachable: z.enum(['throw', 'continue']),
    logger: z.custom<Logger>((v) => typeof (v as Logger | null)?.warn === 'function'),
  })
  .strict();

const defaults = { attempts: 1, retryDelayMs: 5_000, onUnreachable: 'throw' as const, logger: silentLogger };

export function databaseConnection(
  options: DatabaseConnectionOptions,
): middy.MiddlewareObj<unknown, unknown, Error, HandlerContext> {
  const o = middlewareOptions('databaseConnection', OptionsSchema, defaults, options);

  const databaseConnectionBefore: middy.MiddlewareFn<unknown, unknown, Error, HandlerContext> = async (
    request,
  ) => {
    const { context } = request;
    const { target, budget } = context;
    if (!target || !budget) {
      throw new Error(
        'databaseConnection needs the target and budget: use targetResolution and timeoutBudget first',
      );
    }
    const attempts = typeof o.attempts === 'function' ? o.attempts(request.event, context) : o.attempts;
    const applicationName =
      typeof o.applicationName === 'function' ? o.applicationName(request.event, context) : o.applicationName;
    for (let attempt = 1; ; attempt++) {
      try {
        context.db = await connectTarget(target, o.secrets, {
          statementTimeoutMs: budget.statementTimeoutMs,
          lockTimeoutMs: budget.lockTimeoutMs,
          connectTimeoutMs: budget.connectTimeoutMs,
          applicationName,
          tls: o.tls,
        });
        return;
      } catch (err) {
        // Right after a database is created, DNS or security-group rules may lag by seconds.
        const retry = err instanceof DatabaseUnreachableError && !err.isAuthFailure && attempt < attempts;
        if (retry) {
          o.logger.warn('database not reachable yet, retrying', { target: target.name, attempt });
          await new Promise((r) => setTimeout(r, o.retryDelayMs));
          continue;
        }
        if (o.onUnreachable === 'throw') throw err;
        context.dbError = err;
        return;
      }
    }
  };

  const close: middy.MiddlewareFn<unknown, unknown, Error, HandlerContext> = async (request) => {
    const client = request.context.db;
    request.context.db = undefined;
    await client?.end().catch(() => {});
  };

  return { before: databaseConnectionBefore, after: close, onError: close };
}
