import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type pg from 'pg';
import { CloudWatchMetricSink } from '../adapters/aws/cloudwatch.ts';
import { SecretsManagerSecrets } from '../adapters/aws/secrets-manager.ts';
import { errorMessage } from '../errors.ts';
import { runSample, type SampleResult, sampleFailed } from '../jobs/sample.ts';
import type { Logger, MetricSink } from '../ports.ts';
import { parseJobEvent } from './events.ts';
import {
  configForTarget,
  connectTarget,
  loadTargets,
  resolveTarget,
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
  logger?: Logger;
  /** TLS to the database; the Lambda verifies against the RDS CA bundle (NODE_EXTRA_CA_CERTS). */
  tls?: TargetConnectionOptions['tls'];
}

/** Left to the handler after the last statement: metrics, alerts, closing the connection. */
const SAFETY_MARGIN_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;

export function createSamplerHandler(deps: SamplerDeps) {
  const env = deps.env ?? process.env;
  const logger: Logger = deps.logger ?? { info() {}, warn() {}, error() {} };

  return middy(async (event: unknown, context: Context): Promise<SampleResult> => {
    const started = performance.now();
    // A bad event or deployment configuration is an invocation error: nothing to sample.
    const job = parseJobEvent(event, ['sample']);
    const target = resolveTarget(loadTargets(env), job.target);
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
      return sampleFailed(
        config,
        { sink: deps.sink, logger },
        `database ${target.name} unreachable: ${errorMessage(err)}`,
        started,
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
      if (!result.snapshot) return result;

      // ---- Alerting (issue 4) call site: rules over result.snapshot -> AlertStateStore -> Notifier. ----

      // ---- Governance check (issue 6) call site: a recorded constitution change ->
      //      JobLauncher.launch({ task: 'optimize' }). ----

      return result;
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
  });
}

/** Structured JSON logs in CloudWatch through Powertools, behind the Logger port. */
function lambdaLogger(serviceName: string): Logger {
  const log = new PowertoolsLogger({ serviceName });
  return {
    info: (m, f) => (f ? log.info(m, f) : log.info(m)),
    warn: (m, f) => (f ? log.warn(m, f) : log.warn(m)),
    error: (m, f) => (f ? log.error(m, f) : log.error(m)),
  };
}

// Clients are cheap to construct (no network until the first send); the sink does its own retries.
export const handler = createSamplerHandler({
  secrets: new SecretsManagerSecrets(),
  sink: new CloudWatchMetricSink(new CloudWatchClient({ maxAttempts: 1 })),
  logger: lambdaLogger('dgm-sampler'),
});
