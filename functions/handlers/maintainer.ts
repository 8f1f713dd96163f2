import { RDSClient } from '@aws-sdk/client-rds';
import middy from '@middy/core';
import { targetRegistryFromEnv } from '../adapters/aws/dynamodb-target-registry.ts';
import { lambdaLogger } from '../adapters/aws/powertools-logger.ts';
import { RdsLogSource } from '../adapters/aws/rds-log-source.ts';
import { SecretsManagerSecrets } from '../adapters/aws/secrets-manager.ts';
import type { RuntimeConfig } from '../config.ts';
import { JobFailedError } from '../errors.ts';
import { type MaintainResult, type MaintainTask, maintain } from '../jobs/maintain.ts';
import { type MigrateResult, migrate } from '../jobs/migrate.ts';
import { type OptimizeResult, optimizeDatabase } from '../jobs/optimize.ts';
import type { Clock, LogSource, MetricSink } from '../ports.ts';
import { silentLogger } from '../ports.ts';
import { MAINTAINER_TASKS } from './events.ts';
import { type HandlerContext, prepared } from './middleware/context.ts';
import { databaseConnection } from './middleware/database-connection.ts';
import { eventValidation } from './middleware/event-validation.ts';
import { fanOutSummary } from './middleware/fan-out-summary.ts';
import { jobLogger } from './middleware/job-logger.ts';
import { targetResolution } from './middleware/target-resolution.ts';
import { timeoutBudget } from './middleware/timeout-budget.ts';
import type { DatabaseHandlerDeps } from './runtime.ts';

/**
 * The maintainer Lambda: {task: a registered maintenance task (functions/maintenance/registry.ts) or
 * all, target?, dryRun?} from each task's schedule or ad hoc; 'optimize'
 * monthly or launched by the sampler's governance check; 'migrate' as a one-off. Returns the job's
 * result (the same JSON the CLI prints with --json); a failed maintenance run fails the invocation.
 */

export interface MaintainerDeps extends DatabaseHandlerDeps {
  /** The run's figures (CloudWatch DGM/Database in AWS); per target config. */
  metrics?: (config: RuntimeConfig) => MetricSink | undefined;
  clock?: Clock;
  /** Waits between lock retries (tests make them instant). */
  sleep?: (ms: number) => Promise<void>;
  /** The server log of an RDS instance, read by optimize for literal statements. */
  logSource?: (rdsInstanceId: string) => LogSource;
}

export type MaintainerResult = MaintainResult | MigrateResult | OptimizeResult;

export function createMaintainerHandler(deps: MaintainerDeps) {
  const logger = deps.logger ?? silentLogger;
  return middy(async (_event: unknown, context: HandlerContext): Promise<MaintainerResult> => {
    const { job, config, target, budget, db } = prepared(context, 'job', 'config', 'target', 'budget', 'db');
    const options = { dryRun: job.dryRun, reason: job.reason, logger, deadline: budget.deadline };
    if (job.task === 'migrate') return migrate(db, config, options);
    if (job.task === 'optimize') {
      const logSource = target.rdsInstanceId ? deps.logSource?.(target.rdsInstanceId) : undefined;
      return optimizeDatabase(db, config, { ...options, apply: job.apply, logSource });
    }
    const result = await maintain(db, config, {
      ...options,
      task: job.task as MaintainTask,
      clock: deps.clock,
      metrics: deps.metrics?.(config),
      sleep: deps.sleep,
    });
    // A failed action fails the invocation: the Lambda's Errors metric and failure destination count it;
    // the result rides along for `invoke`. The alert is the sampler's: its maintenance_failed rule reads
    // the audited run at the next sample and notifies once, through the alert lifecycle.
    if (result.status === 'failed') throw new JobFailedError(result.message ?? 'maintenance failed', result);
    return result;
  })
    .use(fanOutSummary())
    .use(
      jobLogger({
        logger,
        done: 'maintenance done',
        failed: 'maintenance failed',
        fields: (r) => ({ status: r.status, summary: r.summary }),
      }),
    )
    .use(eventValidation({ tasks: MAINTAINER_TASKS }))
    .use(targetResolution({ env: deps.env, registry: deps.registry }))
    .use(timeoutBudget({ settings: 'maintenance', safetyMarginMs: 60_000, defaultRemainingMs: 900_000 }))
    .use(
      databaseConnection({
        secrets: deps.secrets,
        applicationName: (_event, context) => `dgm-db-ops-maintainer-${context.job?.task}`,
        tls: deps.tls,
      }),
    );
}

// AWS clients are created on first use, so module init stays cheap.
let rds: RDSClient | undefined;
export const handler = createMaintainerHandler({
  registry: targetRegistryFromEnv(),
  secrets: new SecretsManagerSecrets(),
  logger: lambdaLogger('dgm-maintainer'),
  logSource: (id) => {
    rds ??= new RDSClient({});
    return new RdsLogSource(rds, id);
  },
});
