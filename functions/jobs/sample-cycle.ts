import type pg from 'pg';
import type { RuntimeConfig } from '../config.ts';
import { errorMessage } from '../errors.ts';
import type { JobLauncher, MetricSink } from '../ports.ts';
import { type AlertJobDeps, type AlertView, alertAfterSample, type SampleAlertOutcome } from './alert.ts';
import { type GovernanceAfterSample, governanceAfterSample } from './governance.ts';
import { runSample, type SampleDeps, type SampleOptions, type SampleResult, sampleFailed } from './sample.ts';

/**
 * The sampling cycle, one implementation for the sampler Lambda and the CLI's `sample`: the sample
 * (snapshot, deltas, metrics to the sink), then the alert rules over it (issue 4), then the governance
 * check (issue 6). The caller only chooses the adapters: CloudWatch, DynamoDB, SNS and an async invoke
 * of the maintainer in AWS; the console, the file store and the inline optimize run locally.
 */

export interface SampleCycleDeps extends SampleDeps {
  /** Alerting: state store and notifier (and a sink for the alert metrics); absent, no alert step. */
  alerts?: Omit<AlertJobDeps, 'logger'> & { sink?: MetricSink };
  /**
   * Who starts the optimize run a constitution change calls for, on the sample's connection; absent,
   * or returning undefined, no governance step.
   */
  launcher?: (client: pg.Client) => JobLauncher | undefined;
}

/** The database of one cycle: a connection, or the error that kept it from being opened. */
export type SampleCycleDatabase = { client: pg.Client } | { unreachable: unknown };

/** The sample's result with the alert step's outcome (when alerting is configured). */
export type SampleCycleResult = SampleResult & {
  alerts?: SampleAlertOutcome;
  /** The design's get_monitoring_report()['active_alerts'] (DatabaseAlert fields), when alerts ran. */
  active_alerts?: AlertView[];
  /** Reported only when an event was seen (or the check failed): a quiet minute's result is the sample's. */
  governance?: GovernanceAfterSample;
};

/**
 * Runs one cycle. An unreachable database or a failed step gives a failed result with an Up=0 datum
 * (and a database_unreachable alert), not a throw; the connection is the caller's to close.
 */
export async function runSampleCycle(
  database: SampleCycleDatabase,
  config: RuntimeConfig,
  deps: SampleCycleDeps,
  options: SampleOptions & { startedAt?: number } = {},
): Promise<SampleCycleResult> {
  const started = options.startedAt ?? performance.now();
  const alert = async (result: SampleResult, client?: pg.Client): Promise<SampleCycleResult> => {
    if (!deps.alerts) return result;
    const alerts = await alertAfterSample(
      { ...deps.alerts, logger: deps.logger },
      { config, client, snapshot: result.snapshot, error: result.message },
    );
    return {
      ...result,
      alerts,
      ...('active_alerts' in alerts ? { active_alerts: alerts.active_alerts } : {}),
    };
  };

  if (!('client' in database)) {
    const message = `database ${config.target} unreachable: ${errorMessage(database.unreachable)}`;
    return alert(await sampleFailed(config, deps, message, started));
  }
  const { client } = database;
  try {
    const result = await runSample(client, config, deps, options);
    if (!result.snapshot) return alert(result);
    const withAlerts = await alert(result, client);
    // Governance: a recorded constitution change -> JobLauncher.launch({ task: 'optimize' }).
    const launcher = deps.launcher?.(client);
    if (!launcher) return withAlerts;
    const governance = await governanceAfterSample(client, config, launcher, deps.logger);
    return governance.events.length > 0 || governance.error ? { ...withAlerts, governance } : withAlerts;
  } catch (err) {
    return sampleFailed(config, deps, `sample failed: ${errorMessage(err)}`, started);
  }
}

/** The figures of a cycle's log line (the sampler's, after each run). */
export function sampleLogFields(result: Record<string, unknown>): Record<string, unknown> {
  const r = result as Partial<SampleCycleResult>;
  return { status: r.status, collectMs: r.collectMs, roundTrips: r.roundTrips, metrics: r.metrics?.length };
}
