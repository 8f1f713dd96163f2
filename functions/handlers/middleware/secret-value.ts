import type middy from '@middy/core';
import type { Context } from 'aws-lambda';

/**
 * Reads a secret value before the handler (defaults: the context key `secret`) and hands it over with
 * a way to read it again past any cache, for when the value was rotated or revoked. The reader does
 * the caching (adapters/aws/secrets-manager.ts); the value is never logged.
 */

export interface SecretValue {
  /** undefined: none configured (e.g. a local invoke that only renders). */
  value: string | undefined;
  /** Reads the secret again, bypassing the cache. */
  refresh(): Promise<string | undefined>;
}

export interface SecretValueOptions {
  read(options?: { forceRefresh?: boolean }): Promise<string | undefined>;
  /** Where the handler finds it on its context; default 'secret'. */
  contextKey?: string;
}

/** The SecretValue the middleware put on a handler's context. */
export function secretFrom(context: Context, contextKey = 'secret'): SecretValue {
  return (context as unknown as Record<string, SecretValue>)[contextKey]!;
}

/** Middleware: reads the secret before the handler and puts a SecretValue on its context. */
export function secretValue(
  options: SecretValueOptions,
): middy.MiddlewareObj<unknown, unknown, Error, Context> {
  const key = options.contextKey ?? 'secret';
  return {
    before: async (request) => {
      const value: SecretValue = {
        value: await options.read(),
        refresh: () => options.read({ forceRefresh: true }),
      };
      (request.context as unknown as Record<string, SecretValue>)[key] = value;
    },
  };
}
