import type pg from 'pg';
import { type ConstitutionalCompliance, complianceOf } from '../compliance/constitution.ts';
import type { RuntimeConfig } from '../config.ts';
import { errorMessage } from '../errors.ts';
import { collect } from '../monitor/collect.ts';
import { type MetricPoint, metricPoints, toDatums, upDatum } from '../monitor/metrics.ts';
import type { Snapshot } from '../monitor/snapshot.ts';
import type { Logger, MetricDatum, MetricSink, MetricSinkResult } from '../ports.ts';
import { elapsedMs, type JobResult } from './result.ts';

/**
 * The sampler's run: snapshot -> deltas -> metric datums -> MetricSink. Read-only for the database
 * except its own bookkeeping (dgm.stat_snapshots, dgm.stat_statement_baseline, dgm.statement_shapes).
 */

export interface SampleOptions {
  /** The costly figures (bloat, pruning): when due (default), now, or never. */
  full?: 'auto' | boolean;
  /** The connection was opened with statement_timeout and lock_timeout set (saves two round trips). */
  timeoutsPreset?: boolean;
  /** Store the sample as the next one's baseline (default true). */
  persist?: boolean;
}

export interface SampleDeps {
  sink: MetricSink;
  logger: Logger;
}

export interface SampleResult extends JobResult {
  job: 'sample';
  collectMs: number;
  roundTrips: number;
  /** The CloudWatch datums sent (the CLI's --json `metrics`). */
  metrics: MetricDatum[];
  /** Series the metric budget (monitoring.maxMetrics) left out. */
  droppedMetrics: string[];
  sink: MetricSinkResult;
  /** Every KPI of the sample; absent when the database could not be sampled. */
  snapshot?: Snapshot;
  /** The points metrics and Prometheus text come from (not serialized). */
  points?: MetricPoint[];
}

/** Takes one sample and sends its metrics; a collection failure sends Up=0 and returns a failed result. */
export async function runSample(
  client: pg.Client,
  config: RuntimeConfig,
  deps: SampleDeps,
  options: SampleOptions = {},
): Promise<SampleResult> {
  const started = performance.now();
  let snapshot: Snapshot;
  try {
    snapshot = await collect(client, {
      target: config.target,
      monitoring: config.monitoring,
      slowQueryThresholdMs: config.slowQueryThresholdMs,
      full: options.full ?? 'auto',
      persist: options.persist ?? true,
      timeoutsPreset: options.timeoutsPreset ?? false,
      logger: deps.logger,
    });
  } catch (err) {
    return sampleFailed(config, deps, `sample failed: ${errorMessage(err)}`, started);
  }
  const { points, dropped } = metricPoints(snapshot, config.monitoring);
  const metrics = toDatums(points, new Date(snapshot.takenAt));
  const sink = await deps.sink.put(metrics);
  if (sink.failed > 0) deps.logger.warn(`metrics: ${sink.failed} datum(s) not sent`, { errors: sink.errors });
  for (const w of snapshot.warnings) deps.logger.warn(w);
  const compliance: ConstitutionalCompliance = complianceOf(
    config.constitutionalHash,
    snapshot.compliance.available
      ? {
          storedHash: snapshot.compliance.constitutionHash,
          archiveScore: snapshot.compliance.archiveScore30d,
        }
      : { storedHash: null, archiveScore: null },
  );
  const allFailed = metrics.length > 0 && sink.sent === 0;
  const result: SampleResult = {
    job: 'sample',
    status: allFailed ? 'failed' : 'succeeded',
    target: config.target,
    durationMs: elapsedMs(started),
    constitutional_compliance: compliance,
    message: allFailed
      ? `sampled in ${snapshot.collectMs} ms, but no metric could be sent: ${sink.errors[0] ?? ''}`
      : `sampled in ${snapshot.collectMs} ms over ${snapshot.roundTrips} round trips; ${sink.sent} metrics sent` +
        (sink.failed > 0 ? `, ${sink.failed} failed` : ''),
    collectMs: snapshot.collectMs,
    roundTrips: snapshot.roundTrips,
    metrics,
    droppedMetrics: dropped,
    sink,
    snapshot,
  };
  Object.defineProperty(result, 'points', { value: points, enumerable: false });
  return result;
}

/**
 * The result when the database cannot be sampled (unreachable, login refused, collection failed):
 * an Up=0 datum is still sent, so an alarm on Up (missing data breaching) sees it, and the result is
 * a structured failure rather than a throw.
 */
export async function sampleFailed(
  config: RuntimeConfig,
  deps: SampleDeps,
  message: string,
  started: number = performance.now(),
): Promise<SampleResult> {
  deps.logger.error(message);
  const metrics = [upDatum(config.target, 0, new Date())];
  const sink = await deps.sink
    .put(metrics)
    .catch((err): MetricSinkResult => ({ sent: 0, failed: 1, calls: 1, errors: [errorMessage(err)] }));
  return {
    job: 'sample',
    status: 'failed',
    target: config.target,
    durationMs: elapsedMs(started),
    constitutional_compliance: complianceOf(config.constitutionalHash, {
      storedHash: null,
      archiveScore: null,
    }),
    message,
    collectMs: 0,
    roundTrips: 0,
    metrics,
    droppedMetrics: [],
    sink,
  };
}
