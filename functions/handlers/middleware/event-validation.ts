import type middy from '@middy/core';
import { z } from 'zod';
import { parseJobEvent } from '../events.ts';
import type { HandlerContext } from './context.ts';
import { functionOption, middlewareOptions } from './options.ts';

/**
 * Validates the event before anything else runs: the job event schema ({task, target?, dryRun?, ...},
 * the same the CLI's flags go through) with the tasks this function runs, or the handler's own parser.
 * A bad event is a BadInputError with one line naming the field; nothing was read or connected. The
 * validated event replaces request.event and, for job events, is context.job too.
 *
 * @example
 *   middy(handler).use(eventValidation({ tasks: ['sample'], defaultTask: 'sample' }))
 */
export interface EventValidationOptions {
  /** The tasks this function runs (job events). */
  tasks?: readonly string[];
  /** The task of an event that names none (the sampler's sample); default: the task is required. */
  defaultTask?: string;
  /** A parser of the handler's own event shape instead of the job event (it throws BadInputError). */
  parse?: (event: unknown) => unknown;
}

const OptionsSchema = z
  .object({
    tasks: z.array(z.string().min(1)).min(1).readonly().optional(),
    defaultTask: z.string().min(1).optional(),
    parse: functionOption<(event: unknown) => unknown>().optional(),
  })
  .strict()
  .refine((o) => (o.tasks === undefined) !== (o.parse === undefined), {
    message: 'give either tasks (a job event) or parse (an event of its own)',
  })
  .refine((o) => o.defaultTask === undefined || (o.tasks ?? []).includes(o.defaultTask), {
    message: 'defaultTask must be one of tasks',
  });

const defaults: EventValidationOptions = {};

export function eventValidation(
  options: EventValidationOptions,
): middy.MiddlewareObj<unknown, unknown, Error, HandlerContext> {
  const { tasks, defaultTask, parse } = middlewareOptions(
    'eventValidation',
    OptionsSchema,
    defaults,
    options,
  );
  const eventValidationBefore: middy.MiddlewareFn<unknown, unknown, Error, HandlerContext> = (request) => {
    if (parse) {
      request.event = parse(request.event);
      return;
    }
    const job = parseJobEvent(request.event, tasks ?? [], defaultTask);
    request.event = job;
    request.context.job = job;
  };
  return { before: eventValidationBefore };
}
