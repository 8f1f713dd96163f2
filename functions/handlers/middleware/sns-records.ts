import type middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { formatZodError } from '../../config.ts';
import { BadInputError } from '../../errors.ts';

/**
 * Validates an SNS event (at least one record, each with its message) before the handler and anything
 * else runs: a malformed event is bad input (BadInputError) and reads no secret.
 */

const SnsEventSchema = z.object({
  Records: z
    .array(
      z.object({
        Sns: z
          .object({
            MessageId: z.string().default(''),
            Subject: z.string().nullish(),
            Message: z.string(),
            Timestamp: z.string().optional(),
          })
          .loose(),
      }),
    )
    .min(1),
});

/** The event the handler receives after this middleware: the parsed records. */
export type SnsEvent = z.infer<typeof SnsEventSchema>;

/** The SNS event validated; anything else is a BadInputError naming the field. */
export function parseSnsEvent(event: unknown): SnsEvent {
  const parsed = SnsEventSchema.safeParse(event);
  if (!parsed.success) throw new BadInputError(formatZodError('SNS event: ', parsed.error));
  return parsed.data;
}

/**
 * Middleware: request.event becomes the validated SnsEvent (parseSnsEvent). The handlers' generic
 * event validation (middleware/event-validation.ts, when it takes a parser) can use parseSnsEvent too.
 */
export function snsRecords(): middy.MiddlewareObj<unknown, unknown, Error, Context> {
  return {
    before: (request) => {
      request.event = parseSnsEvent(request.event);
    },
  };
}
