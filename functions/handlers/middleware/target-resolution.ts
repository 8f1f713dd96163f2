import type middy from '@middy/core';
import { z } from 'zod';
import type { TargetRegistry } from '../../ports.ts';
import { configForTarget, findTarget } from '../runtime.ts';
import type { HandlerContext } from './context.ts';
import { functionOption, middlewareOptions } from './options.ts';

/**
 * Resolves the event's target and its runtime config before any secret is read: from the fleet's
 * registry when the function has one (DGM_TARGET_TABLE), else from DGM_TARGETS; the config is
 * DGM_CONFIG with the target's overrides, its cross-field rules checked. An unknown target or a bad
 * config is a BadInputError. Sets context.target and context.config.
 *
 * @example
 *   middy(handler).use(eventValidation({ tasks })).use(targetResolution({ env, registry }))
 */
export interface TargetResolutionOptions {
  /** DGM_TARGETS and DGM_CONFIG; default process.env. */
  env?: Record<string, string | undefined>;
  /** The fleet's target registry; absent, the targets come from env DGM_TARGETS. */
  registry?: TargetRegistry;
  /** The target's name in the event; default its `target` field (context.job's when validated). */
  targetName?: (event: unknown, context: HandlerContext) => string | undefined;
}

const OptionsSchema = z
  .object({
    // Kept by reference (process.env is read at each invocation, as the Lambda's environment).
    env: z.custom<Record<string, string | undefined>>((v) => typeof v === 'object' && v !== null, {
      message: 'must be an object of environment variables',
    }),
    registry: z
      .custom<TargetRegistry>(
        (v) => typeof v === 'object' && v !== null && typeof (v as TargetRegistry).get === 'function',
        { message: 'must be a TargetRegistry' },
      )
      .optional(),
    targetName: functionOption<NonNullable<TargetResolutionOptions['targetName']>>(),
  })
  .strict();

const defaults = {
  env: process.env,
  targetName: (event: unknown, context: HandlerContext) => {
    if (context.job) return context.job.target;
    const target = (event as { target?: unknown } | null)?.target;
    return typeof target === 'string' ? target : undefined;
  },
};

export function targetResolution(
  options: TargetResolutionOptions = {},
): middy.MiddlewareObj<unknown, unknown, Error, HandlerContext> {
  const { env, registry, targetName } = middlewareOptions(
    'targetResolution',
    OptionsSchema,
    defaults,
    options,
  );
  const targetResolutionBefore: middy.MiddlewareFn<unknown, unknown, Error, HandlerContext> = async (
    request,
  ) => {
    const target = await findTarget(targetName(request.event, request.context), env, registry);
    request.context.target = target;
    request.context.config = configForTarget(target, env);
  };
  return { before: targetResolutionBefore };
}
