import type middy from '@middy/core';
import type { Context } from 'aws-lambda';

/**
 * The fan-out's invocations carry `"fanOut": true`: the marker is taken off the event before the
 * handler validates it, and the job's result goes back as {job, status, message} only. Step Functions
 * limits a task's result to 256 KB, and a sample's full result (the snapshot, every datum) may not fit;
 * the fan-out needs the status alone, and the full result is in the function's log.
 */
export const FAN_OUT_MARKER = 'fanOut';

export interface FanOutSummary {
  job?: string;
  status?: string;
  message?: string;
}

export function fanOutSummary(): middy.MiddlewareObj<unknown, unknown, Error, Context> {
  return {
    before: (request) => {
      const event = request.event;
      if (typeof event !== 'object' || event === null || Array.isArray(event)) return;
      const { [FAN_OUT_MARKER]: marker, ...rest } = event as Record<string, unknown>;
      if (marker !== true) return;
      request.event = rest;
      (request.internal as Record<string, unknown>).fanOutSummary = true;
    },
    after: (request) => {
      if ((request.internal as Record<string, unknown>).fanOutSummary !== true) return;
      const r = (request.response ?? {}) as Record<string, unknown>;
      const summary: FanOutSummary = {
        job: typeof r.job === 'string' ? r.job : undefined,
        status: typeof r.status === 'string' ? r.status : undefined,
        message: typeof r.message === 'string' ? r.message.slice(0, 500) : undefined,
      };
      request.response = summary;
    },
  };
}
