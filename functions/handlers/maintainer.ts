import { RDSClient } from '@aws-sdk/client-rds';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { targetRegistryFromEnv } from '../adapters/aws/dynamodb-target-registry.ts';
import { lambdaLogger } from '../adapters/aws/powertools-logger.ts';
import { RdsLogSource } from '../adapters/aws/rds-log-source.ts';
import { SecretsManagerSecrets } from '../adapters/aws/secrets-manager.ts';
import type { RuntimeConfig } from '../config.ts';
import { errorMessage, JobFailedError } from '../errors.ts';
import { type MaintainResult, type MaintainTask, maintain } from '../jobs/maintain.ts';
import { type MigrateResult, migrate } from '../jobs/migrate.ts';
import { type OptimizeResult, optimizeDatabase } from '../jobs/optimize.ts';
import type { Clock, Logger, LogSource, MetricSink, TargetRegistry } from '../ports.ts';
import { MAINTAINER_TASKS, parseJobEvent } from './events.ts';
import { fanOutSummary } from './middleware/fan-out-summary.ts';
import {
  configForTarget,
  connectTarget,
  findTarget,
  type SecretsProvider,
  type TargetConnectionOptions,
} from './runtime.ts';

/**
 * The maintainer Lambda: {task: partitions|indexes|statistics|vacuum|all, target?, dryRun?} from the
 * schedules (daily partitions, weekly indexes and vacuum, monthly statistics) or ad hoc; 'migrate' runs
 * the schema migration as a one-off. Thin: validate the event, connect with the target's secret, run the
 * job, return its result (the same JSON the CLI prints with --json).
 */

export interface MaintainerDeps {
  secrets: SecretsProvider;
  /** DGM_TARGETS and DGM_CONFIG; process.env in the Lambda. */
  env?: Record<string, string | undefined>;
  /** The fleet's target registry (DGM_TARGET_TABLE); absent, the target comes from DGM_TARGETS. */
  registry?: TargetRegistry;
  logger?: Logger;
  /** The run's figures (CloudWatch DGM/Database in AWS); per target config. */
  metrics?: (config: RuntimeConfig) => MetricSink | undefined;
  clock?: Clock;
  /** TLS to the database; the Lambda verifies against the RDS CA bundle (NODE_EXTRA_CA_CERTS). */
  tls?: TargetConnectionOptions['tls'];
  /** Waits between lock retries (tests make them instant). */
  sleep?: (ms: number) => Promise<void>;
  /** The server log of an RDS instance, read by optimize for literal statements. */
  logSource?: (rdsInstanceId: string) => LogSource;
}

export type MaintainerResult = MaintainResult | MigrateResult | OptimizeResult;

/** Kept back from the Lambda timeout: the last statement ends this long before it, to audit and report. */
const SAFETY_MARGIN_MS = 60_000;

export function createMaintainerHandler(deps: MaintainerDeps) {
  const env = deps.env ?? process.env;
  const logger: Logger = deps.logger ?? { info() {}, warn() {}, error() {} };

  return middy(async (event: unknown, context: Context): Promise<MaintainerResult> => {
    const job = parseJobEvent(event, MAINTAINER_TASKS);
    const target = await findTarget(job.target, env, deps.registry);
    const config = configForTarget(target, env);
    const remaining = context.getRemainingTimeInMillis?.() ?? 900_000;
    const deadline = Date.now() + remaining - SAFETY_MARGIN_MS;
    // No statement may outlive the Lambda: PostgreSQL would go on working for a client that is gone.
    const statementTimeoutMs = Math.max(
      1_000,
      Math.min(config.maintenance.statementTimeoutMs, remaining - SAFETY_MARGIN_MS),
    );
    const client = await connectTarget(target, deps.secrets, {
      statementTimeoutMs,
      lockTimeoutMs: config.maintenance.lockTimeoutMs,
      applicationName: `dgm-db-ops-maintainer-${job.task}`,
      tls: deps.tls,
    });
    try {
      if (job.task === 'migrate') return await migrate(client, config, { dryRun: job.dryRun, logger });
      // Monthly, ad hoc, or launched by the sampler's governance check (reason governance:<event>).
      if (job.task === 'optimize') {
        return await optimizeDatabase(client, config, {
          apply: job.apply,
          dryRun: job.dryRun,
          reason: job.reason,
          logger,
          deadline,
          logSource: target.rdsInstanceId ? deps.logSource?.(target.rdsInstanceId) : undefined,
        });
      }
      const result = await maintain(client, config, {
        task: job.task as MaintainTask,
        dryRun: job.dryRun,
        logger,
        clock: deps.clock,
        metrics: deps.metrics?.(config),
        deadline,
        reason: job.reason,
        sleep: deps.sleep,
      });
      logger.info(result.message ?? 'maintenance done', {
        target: target.name,
        task: job.task,
        status: result.status,
        summary: result.summary,
      });
      // A failed action fails the invocation: the Lambda's Errors metric and failure destination count
      // it; the result rides along for `invoke` and the logs. The alert is the sampler's: its
      // maintenance_failed rule reads the audited run at the next sample and notifies once, through the
      // alert lifecycle (cooldown, RESOLVED when a later run succeeds).
      if (result.status === 'failed')
        throw new JobFailedError(result.message ?? 'maintenance failed', result);
      return result;
    } catch (err) {
      logger.error('maintenance failed', { target: target.name, task: job.task, error: errorMessage(err) });
      throw err;
    } finally {
      await client.end().catch(() => {});
    }
  }).use(fanOutSummary());
}

// AWS clients are created on first use, so module init stays cheap.
export const handler = createMaintainerHandler({
  registry: targetRegistryFromEnv(),
  secrets: new SecretsManagerSecrets(),
  logger: lambdaLogger('dgm-maintainer'),
  logSource: (id) => new RdsLogSource(rdsClient(), id),
});

let rds: RDSClient | undefined;
function rdsClient(): RDSClient {
  rds ??= new RDSClient({});
  return rds;
}
