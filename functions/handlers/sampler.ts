import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import middy from '@middy/core';
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
import type { AlertJobDeps } from '../jobs/alert.ts';
import { createInlineOptimizeLauncher } from '../jobs/governance.ts';
import { runSampleCycle, type SampleCycleResult, sampleLogFields } from '../jobs/sample-cycle.ts';
import { type JobLauncher, type MetricSink, silentLogger } from '../ports.ts';
import { type HandlerContext, prepared } from './middleware/context.ts';
import { databaseConnection } from './middleware/database-connection.ts';
import { eventValidation } from './middleware/event-validation.ts';
import { fanOutSummary } from './middleware/fan-out-summary.ts';
import { jobLogger } from './middleware/job-logger.ts';
import { targetResolution } from './middleware/target-resolution.ts';
import { timeoutBudget } from './middleware/timeout-budget.ts';
import type { DatabaseHandlerDeps } from './runtime.ts';

/**
 * The sampler Lambda (every minute): {"task":"sample","target"?} -> the sampling cycle (jobs/sample-cycle:
 * the sample and its metrics to CloudWatch, the alert rules, the governance check) on one connection,
 * closed on every path. An unreachable database gives an Up=0 datum and a failed result, not a throw.
 */

export interface SamplerDeps extends DatabaseHandlerDeps {
  sink: MetricSink;
  /** Alerting: state store and notifier (DGM_ALERT_TABLE, DGM_ALERT_TOPIC_ARN); absent, no alerts. */
  alerts?: Omit<AlertJobDeps, 'logger'>;
  /** Governance: who starts the optimize a constitution change calls for (in AWS an async invoke of the
   * maintainer); absent, it runs inline on this connection (a local invocation); undefined: no step. */
  launcher?: (ctx: { config: RuntimeConfig; client: pg.Client }) => JobLauncher | undefined;
}

export type SamplerResult = SampleCycleResult;

export function createSamplerHandler(deps: SamplerDeps) {
  const logger = deps.logger ?? silentLogger;
  return middy(async (_event: unknown, context: HandlerContext): Promise<SamplerResult> => {
    const { config, budget } = prepared(context, 'config', 'budget');
    const launcher = (client: pg.Client) =>
      deps.launcher
        ? deps.launcher({ config, client })
        : createInlineOptimizeLauncher(client, config, logger);
    const alerts = deps.alerts && { ...deps.alerts, sink: deps.sink };
    const db = context.db ? { client: context.db } : { unreachable: context.dbError };
    const options = { timeoutsPreset: true, startedAt: budget.startedAt };
    return runSampleCycle(db, config, { sink: deps.sink, logger, alerts, launcher }, options);
  })
    .use(fanOutSummary())
    .use(jobLogger({ logger, done: 'sample done', failed: 'sample failed', fields: sampleLogFields }))
    .use(eventValidation({ tasks: ['sample'], defaultTask: 'sample' }))
    .use(targetResolution({ env: deps.env, registry: deps.registry }))
    .use(
      timeoutBudget({
        settings: 'monitoring',
        safetyMarginMs: 10_000,
        defaultRemainingMs: 60_000,
        connectWithinBudget: true,
      }),
    )
    .use(
      databaseConnection({
        secrets: deps.secrets,
        applicationName: 'dgm-db-ops-sampler',
        tls: deps.tls,
        onUnreachable: 'continue',
      }),
    );
}

const env = process.env;
const maintainer = env.DGM_MAINTAINER_FUNCTION
  ? new LambdaJobLauncher(env.DGM_MAINTAINER_FUNCTION)
  : undefined;
// Clients are cheap to construct (no network until the first send); the sink does its own retries.
export const handler = createSamplerHandler({
  registry: targetRegistryFromEnv(),
  secrets: new SecretsManagerSecrets(),
  sink: new CloudWatchMetricSink(new CloudWatchClient({ maxAttempts: 1 })),
  // The stack sets both; the clients are created on first use.
  alerts:
    env.DGM_ALERT_TABLE && env.DGM_ALERT_TOPIC_ARN
      ? {
          store: new DynamoDbAlertStateStore(env.DGM_ALERT_TABLE),
          notifier: new SnsNotifier(env.DGM_ALERT_TOPIC_ARN),
          failOpen: processFailOpenLimiter,
        }
      : undefined,
  logger: lambdaLogger('dgm-sampler'),
  // A constitution change starts optimize in the maintainer Lambda (async invoke), never inline here.
  launcher: () => maintainer,
});
