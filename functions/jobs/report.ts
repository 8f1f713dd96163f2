import type pg from 'pg';
import { readOnlyCompliance } from '../compliance/guard.ts';
import type { RuntimeConfig } from '../config.ts';
import { type PerformanceReport, readPerformanceReport } from '../optimizer/report.ts';
import { elapsedMs, type JobResult } from './result.ts';

/** The report job's result: the report (optimizer/report.ts) with the job's fields. */
export interface ReportJobResult extends JobResult, PerformanceReport {
  job: 'report';
}

/**
 * The report as a job: the read-only compliance check, then the report (optimizer/report.ts
 * readPerformanceReport) for the configured target.
 */
export async function getPerformanceReport(
  client: pg.Client,
  config: RuntimeConfig,
  options: { topQueries?: number } = {},
): Promise<ReportJobResult> {
  const started = performance.now();
  const compliance = await readOnlyCompliance(client, config.constitutionalHash);
  const report = await readPerformanceReport(
    client,
    {
      target: config.target,
      slowQueryThresholdMs: config.slowQueryThresholdMs,
      storage: config.optimization.storage,
      topQueries: options.topQueries,
    },
    compliance,
  );
  const { target, constitutional_compliance, ...content } = report;
  return {
    // The job's fields first, as every job's result prints them.
    job: 'report',
    status: 'succeeded',
    target,
    durationMs: elapsedMs(started),
    constitutional_compliance,
    ...content,
    message: `${report.slow_queries.length} slow statement(s), ${report.recommendations.length} recommendation(s)`,
  };
}
