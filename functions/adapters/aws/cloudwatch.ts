import {
  type CloudWatchClient,
  type MetricDatum as CwDatum,
  PutMetricDataCommand,
} from '@aws-sdk/client-cloudwatch';
import { errorMessage } from '../../errors.ts';
import { METRIC_NAMESPACE } from '../../monitor/metrics.ts';
import type { MetricDatum, MetricSink, MetricSinkResult } from '../../ports.ts';

/**
 * PutMetricData, batched to the API's limits (1,000 datums and 1 MB per request), retried with
 * exponential backoff and full jitter when CloudWatch throttles or fails on its side. A batch that still
 * fails is reported in the result (sent, failed, errors) and the other batches go on: a metrics outage
 * never fails the sample. Give the client maxAttempts: 1 so the SDK does not retry underneath.
 */

export interface CloudWatchSinkOptions {
  namespace?: string;
  /** Attempts per batch, the first included. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxDatumsPerCall?: number;
  /** Request body budget; the API's limit is 1 MB, this leaves room for the envelope. */
  maxBytesPerCall?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** PutMetricData's limits. */
export const PUT_METRIC_DATA_LIMITS = { datums: 1000, bytes: 1_000_000, dimensions: 30 } as const;

const RETRYABLE = new Set([
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalServiceFault',
  'InternalServiceError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

// CloudWatch rejects values outside this magnitude range (other than 0), and NaN or infinities.
const MIN_MAGNITUDE = 8.51592e-109;
const MAX_MAGNITUDE = 1.174271e108;

export class CloudWatchMetricSink implements MetricSink {
  private readonly namespace: string;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxDatums: number;
  private readonly maxBytes: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  private readonly client: CloudWatchClient;

  constructor(client: CloudWatchClient, options: CloudWatchSinkOptions = {}) {
    this.client = client;
    this.namespace = options.namespace ?? METRIC_NAMESPACE;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.baseDelayMs = options.baseDelayMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 5_000;
    this.maxDatums = Math.min(
      PUT_METRIC_DATA_LIMITS.datums,
      options.maxDatumsPerCall ?? PUT_METRIC_DATA_LIMITS.datums,
    );
    this.maxBytes = Math.min(PUT_METRIC_DATA_LIMITS.bytes - 4_096, options.maxBytesPerCall ?? 900_000);
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = options.random ?? Math.random;
  }

  async put(datums: MetricDatum[]): Promise<MetricSinkResult> {
    const result: MetricSinkResult = { sent: 0, failed: 0, calls: 0, errors: [] };
    const valid: CwDatum[] = [];
    for (const d of datums) {
      const problem = invalidReason(d);
      if (problem) {
        result.failed++;
        result.errors.push(`${d.name}: ${problem}`);
      } else {
        valid.push(toCloudWatch(d));
      }
    }
    for (const batch of this.batches(valid)) {
      const outcome = await this.send(batch);
      result.calls += outcome.calls;
      if (outcome.error) {
        result.failed += batch.length;
        result.errors.push(outcome.error);
      } else {
        result.sent += batch.length;
      }
    }
    return result;
  }

  /** Splits the datums so each request stays within the datum count and the body size. */
  batches(datums: readonly CwDatum[]): CwDatum[][] {
    const envelope = JSON.stringify({ Namespace: this.namespace, MetricData: [] }).length;
    const out: CwDatum[][] = [];
    let current: CwDatum[] = [];
    let bytes = envelope;
    for (const d of datums) {
      const size = JSON.stringify(d).length + 1;
      if (current.length > 0 && (current.length >= this.maxDatums || bytes + size > this.maxBytes)) {
        out.push(current);
        current = [];
        bytes = envelope;
      }
      current.push(d);
      bytes += size;
    }
    if (current.length > 0) out.push(current);
    return out;
  }

  private async send(batch: CwDatum[]): Promise<{ calls: number; error?: string }> {
    let calls = 0;
    for (let attempt = 1; ; attempt++) {
      calls++;
      try {
        await this.client.send(new PutMetricDataCommand({ Namespace: this.namespace, MetricData: batch }));
        return { calls };
      } catch (err) {
        const name = (err as { name?: string }).name ?? '';
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        const retryable = RETRYABLE.has(name) || status === 429 || (status !== undefined && status >= 500);
        if (!retryable || attempt >= this.maxAttempts) {
          return {
            calls,
            error: `PutMetricData of ${batch.length} datums failed after ${attempt} attempt(s): ${name ? `${name}: ` : ''}${errorMessage(err)}`,
          };
        }
        const cap = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        await this.sleep(Math.round(this.random() * cap));
      }
    }
  }
}

function invalidReason(d: MetricDatum): string | undefined {
  if (!Number.isFinite(d.value)) return `value ${d.value} is not a finite number`;
  const abs = Math.abs(d.value);
  if (abs !== 0 && (abs < MIN_MAGNITUDE || abs > MAX_MAGNITUDE))
    return `value ${d.value} is out of CloudWatch's range`;
  const dims = Object.entries(d.dimensions);
  if (dims.length > PUT_METRIC_DATA_LIMITS.dimensions)
    return `more than ${PUT_METRIC_DATA_LIMITS.dimensions} dimensions`;
  for (const [k, v] of dims) {
    if (!k || k.length > 255) return `dimension name '${k}' must be 1 to 255 characters`;
    if (!v || v.length > 1024) return `dimension ${k} value must be 1 to 1024 characters`;
  }
  if (!d.name || d.name.length > 255) return 'metric name must be 1 to 255 characters';
  return undefined;
}

function toCloudWatch(d: MetricDatum): CwDatum {
  return {
    MetricName: d.name,
    Value: d.value,
    Unit: d.unit,
    Dimensions: Object.entries(d.dimensions).map(([Name, Value]) => ({ Name, Value })),
    ...(d.timestamp ? { Timestamp: d.timestamp } : {}),
  };
}
