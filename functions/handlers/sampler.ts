import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type pg from 'pg';
import { CloudWatchMetricSink } from '../adapters/aws/cloudwatch.ts';
import { DynamoDbAlertStateStore } from '../adapters/aws/dynamodb-alert-store.ts';
import { targetRegistryFromEnv } from '../adapters/aws/dynamodb-target-registry.ts';
import { LambdaJobLauncher } from '../adapters/aws/lambda-launcher.ts';
import { lambdaLogger } from '../adapters/aws/powertools-logger.ts';
import { SecretsManagerSecrets } from '../adapters/aws/secrets-manager.ts';
import { SnsNotifier } from '../adapters/aws/sns-notifier.ts';
import { processFailOpenLimiter } from '../alerting/fail-open.ts';
import type { RuntimeConfig } from '../config.ts';
import { errorMessage } from '../errors.ts';
import {
  type AlertJobDeps,
  type AlertView,
  alertAfterSample,
  type SampleAlertOutcome,
} from '../jobs/alert.ts';
import {
  createInlineOptimizeLauncher,
  type GovernanceAfterSample,
  governanceAfterSample,
} from '../jobs/governance.ts';
import { runSample, type SampleResult, sampleFailed } from '../jobs/sample.ts';
import type { JobLauncher, Logger, MetricSink, TargetRegistry } from '../ports.ts';
import { parseJobEvent } from './events.ts';
import { fanOutSummary } from './middleware/fan-out-summary.ts';
import {
  configForTarget,
  connectTarget,
  findTarget,
  type SecretsProvider,
  type TargetConnectionOptions,
} from './runtime.ts';

/**
 * The sampler Lambda (every minute): {"task":"sample","target"?} -> one connection -> jobs/sample
 * (snapshot, deltas, metrics to CloudWatch) -> alert rules (issue 4) -> governance check (issue 6).
 * The connection is closed on every path. An unreachable database gives an Up=0 datum and a failed
 * result, not a throw.
 */

export interface SamplerDeps {
  secrets: SecretsProvider;
  sink: MetricSink;
  /** DGM_TARGETS and DGM_CONFIG; process.env in the Lambda. */
  env?: Record<string, string | undefined>;
  /** The fleet's target registry (DGM_TARGET_TABLE); absent, the target comes from DGM_TARGETS. */
  registry?: TargetRegistry;
  logger?: Logger;
  /** TLS to the database; the Lambda verifies against the RDS CA bundle (NODE_EXTRA_CA_CERTS). */
  tls?: TargetConnectionOptions['tls'];
  /** Alerting: state store and notifier (DGM_ALERT_TABLE, DGM_ALERT_TOPIC_ARN); absent, no alerts. */
  alerts?: Omit<AlertJobDeps, 'logger'>;
  /**
   * Governance (issue 6): who starts the optimize run a constitution change calls for. In AWS an async
   * invoke of the maintainer (DGM_MAINTAINER_FUNCTION); absent, the run is inline on this connection
   * (the CLI's local invocation). Return undefined to skip the governance step.
   */
  launcher?: (ctx: { config: RuntimeConfig; client: pg.Client }) => JobLauncher | undefined;
}

/** The sample's result with the alert step's outcome (when alerting is configured). */
export type SamplerResult = SampleResult & {
  alerts?: SampleAlertOutcome;
  /** The design's get_monitoring_report()['active_alerts'] (DatabaseAlert fields), when alerts ran. */
  active_alerts?: AlertView[];
  governance?: GovernanceAfterSample;
};

/** Left to the handler after the last statement: metrics, alerts, closing the connection. */
const SAFETY_MARGIN_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;

export function createSamplerHandler(deps: SamplerDeps) {
  const env = deps.env ?? process.env;
  const logger: Logger = deps.logger ?? { info() {}, warn() {}, error() {} };

  const alert = async (
    config: RuntimeConfig,
    result: SampleResult,
    client?: pg.Client,
  ): Promise<SamplerResult> => {
    if (!deps.alerts) return result;
    const alerts = await alertAfterSample(
      { ...deps.alerts, logger, sink: deps.sink },
      { config, client, snapshot: result.snapshot, error: result.message },
    );
    return {
      ...result,
      alerts,
      ...('active_alerts' in alerts ? { active_alerts: alerts.active_alerts } : {}),
    };
  };

  return middy(async (event: unknown, context: Context): Promise<SamplerResult> => {
    const started = performance.now();
    // A bad event or deployment configuration is an invocation error: nothing to sample.
    const job = parseJobEvent(event, ['sample'], 'sample');
    const target = await findTarget(job.target, env, deps.registry);
    const config = configForTarget(target, env);
    const remaining = context?.getRemainingTimeInMillis?.() ?? 60_000;
    const statementTimeoutMs = Math.max(
      1_000,
      Math.min(config.monitoring.statementTimeoutMs, remaining - SAFETY_MARGIN_MS - CONNECT_TIMEOUT_MS),
    );
    let client: pg.Client;
    try {
      client = await connectTarget(target, deps.secrets, {
        statementTimeoutMs,
        lockTimeoutMs: Math.min(1_000, statementTimeoutMs),
        connectTimeoutMs: Math.min(CONNECT_TIMEOUT_MS, Math.max(1_000, remaining - SAFETY_MARGIN_MS)),
        applicationName: 'dgm-db-ops-sampler',
        tls: deps.tls,
      });
    } catch (err) {
      return alert(
        config,
        await sampleFailed(
          config,
          { sink: deps.sink, logger },
          `database ${target.name} unreachable: ${errorMessage(err)}`,
          started,
        ),
      );
    }
    try {
      const result = await runSample(client, config, { sink: deps.sink, logger }, { timeoutsPreset: true });
      logger.info(result.message ?? 'sample done', {
        target: target.name,
        status: result.status,
        collectMs: result.collectMs,
        roundTrips: result.roundTrips,
        metrics: result.metrics.length,
      });
      if (!result.snapshot) return alert(config, result);

      // Alerting: rules over the snapshot -> AlertStateStore -> Notifier (one grouped message).
      const withAlerts = await alert(config, result, client);

      // Governance (issue 6): a recorded constitution change -> JobLauncher.launch({ task: 'optimize' }).
      const launcher = deps.launcher
        ? deps.launcher({ config, client })
        : createInlineOptimizeLauncher(client, config, logger);
      if (!launcher) return withAlerts;
      const governance = await governanceAfterSample(client, config, launcher, logger);
      // Reported only when an event was seen, so a quiet minute's result stays as it was.
      return governance.events.length > 0 || governance.error ? { ...withAlerts, governance } : withAlerts;
    } catch (err) {
      return sampleFailed(
        config,
        { sink: deps.sink, logger },
        `sample failed: ${errorMessage(err)}`,
        started,
      );
    } finally {
      await client.end().catch(() => {});
    }
  }).use(fanOutSummary());
}

// Clients are cheap to construct (no network until the first send); the sink does its own retries.
export const handler = createSamplerHandler({
  registry: targetRegistryFromEnv(),
  secrets: new SecretsManagerSecrets(),
  sink: new CloudWatchMetricSink(new CloudWatchClient({ maxAttempts: 1 })),
  // The stack sets both; the clients are created on first use.
  alerts:
    process.env.DGM_ALERT_TABLE && process.env.DGM_ALERT_TOPIC_ARN
      ? {
          store: new DynamoDbAlertStateStore(process.env.DGM_ALERT_TABLE),
          notifier: new SnsNotifier(process.env.DGM_ALERT_TOPIC_ARN),
          failOpen: processFailOpenLimiter,
        }
      : undefined,
  logger: lambdaLogger('dgm-sampler'),
  // A constitution change starts optimize in the maintainer Lambda (async invoke), never inline here.
  launcher: process.env.DGM_MAINTAINER_FUNCTION
    ? (() => {
        const launcher = new LambdaJobLauncher(process.env.DGM_MAINTAINER_FUNCTION);
        return () => launcher;
      })()
    : () => undefined,
});
