import type middy from '@middy/core';
import { z } from 'zod';
import { formatZodError } from '../../config.ts';
import { BadInputError } from '../../errors.ts';
import { type Logger, silentLogger } from '../../ports.ts';
import type { CustomResourceRequest, HandlerContext } from './context.ts';
import { functionOption, middlewareOptions } from './options.ts';

/**
 * A CloudFormation custom resource behind the CDK Provider framework (which answers CloudFormation):
 * the request is validated (a bad one is a one-line BadInputError), Delete answers at once without
 * running the handler (what the resource stands for outlives the stack), and Create/Update reach the
 * handler as the event toEvent makes of it, with the request in context.customResource. The handler's
 * result comes back as {PhysicalResourceId, Data} (CloudFormation limits the response to 4 KB: keep
 * Data short). With passThrough, other events reach the handler untouched (an ad hoc invoke).
 *
 * @example
 *   .use(customResource({ physicalResourceId: (p) => `dgm-fleet-${p.Kind}`, toData: (r) => ({ ... }) }))
 */
export interface CustomResourceOptions {
  /** The resource's stable id, from its properties. */
  physicalResourceId: (properties: Record<string, unknown>) => string;
  /** The schema of ResourceProperties (and OldResourceProperties); default any object. */
  properties?: z.ZodType<Record<string, unknown>>;
  /** The handler's event for a Create or Update; default the request's properties. */
  toEvent?: (request: CustomResourceRequest) => unknown;
  /** The response's Data from the handler's result; default the result's own Data, or none. */
  toData?: (response: unknown) => Record<string, string>;
  /** Events that are not custom resource requests reach the handler untouched (default false). */
  passThrough?: boolean;
  logger?: Logger;
  /** The log line of a Delete. */
  deleteMessage?: string;
}

const OptionsSchema = z
  .object({
    physicalResourceId: functionOption<CustomResourceOptions['physicalResourceId']>(),
    properties: z.custom<z.ZodType<Record<string, unknown>>>((v) => v instanceof z.ZodType),
    toEvent: functionOption<NonNullable<CustomResourceOptions['toEvent']>>(),
    toData: functionOption<NonNullable<CustomResourceOptions['toData']>>(),
    passThrough: z.boolean(),
    logger: z.custom<Logger>((v) => typeof (v as Logger | null)?.info === 'function'),
    deleteMessage: z.string().min(1),
  })
  .strict();

const defaults = {
  properties: z.record(z.string(), z.unknown()),
  toEvent: (request: CustomResourceRequest) => request.properties,
  toData: (response: unknown) => (response as { Data?: Record<string, string> } | null)?.Data ?? {},
  passThrough: false,
  logger: silentLogger,
  deleteMessage: 'stack deletes the resource: what it stands for is kept',
};

const isRequest = (event: unknown) => typeof event === 'object' && event !== null && 'RequestType' in event;

export function customResource(
  options: CustomResourceOptions,
): middy.MiddlewareObj<unknown, unknown, Error, HandlerContext> {
  const o = middlewareOptions('customResource', OptionsSchema, defaults, options);
  const RequestSchema = z.object({
    RequestType: z.enum(['Create', 'Update', 'Delete']),
    PhysicalResourceId: z.string().optional(),
    ResourceProperties: o.properties,
    OldResourceProperties: o.properties.optional(),
  });

  const customResourceBefore: middy.MiddlewareFn<unknown, unknown, Error, HandlerContext> = (request) => {
    if (o.passThrough && !isRequest(request.event)) return;
    const parsed = RequestSchema.safeParse(request.event);
    if (!parsed.success) throw new BadInputError(formatZodError('custom resource event: ', parsed.error));
    const e = parsed.data;
    const physicalResourceId = o.physicalResourceId(e.ResourceProperties);
    if (e.RequestType === 'Delete') {
      o.logger.info(o.deleteMessage, { physicalResourceId });
      return { PhysicalResourceId: e.PhysicalResourceId ?? physicalResourceId, Data: {} };
    }
    const cfn: CustomResourceRequest = {
      requestType: e.RequestType,
      physicalResourceId,
      properties: e.ResourceProperties,
      ...(e.OldResourceProperties ? { oldProperties: e.OldResourceProperties } : {}),
    };
    request.context.customResource = cfn;
    request.event = o.toEvent(cfn);
  };

  const customResourceAfter: middy.MiddlewareFn<unknown, unknown, Error, HandlerContext> = (request) => {
    const cfn = request.context.customResource;
    if (!cfn) return;
    request.response = { PhysicalResourceId: cfn.physicalResourceId, Data: o.toData(request.response) };
  };

  return { before: customResourceBefore, after: customResourceAfter };
}
