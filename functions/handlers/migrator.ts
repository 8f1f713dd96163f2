import middy from '@middy/core';
import { targetRegistryFromEnv } from '../adapters/aws/dynamodb-target-registry.ts';
import { lambdaLogger } from '../adapters/aws/powertools-logger.ts';
import { SecretsManagerSecrets } from '../adapters/aws/secrets-manager.ts';
import { type MigrateResult, migrateDeployment, migrateLogFields } from '../jobs/migrate.ts';
import { silentLogger } from '../ports.ts';
import { type HandlerContext, prepared } from './middleware/context.ts';
import { customResource } from './middleware/custom-resource.ts';
import { databaseConnection } from './middleware/database-connection.ts';
import { eventValidation } from './middleware/event-validation.ts';
import { fanOutSummary } from './middleware/fan-out-summary.ts';
import { jobLogger } from './middleware/job-logger.ts';
import { targetResolution } from './middleware/target-resolution.ts';
import { timeoutBudget } from './middleware/timeout-budget.ts';
import { type CustomResourceResponse, SCHEMA_RESOURCE } from './resource-properties.ts';
import type { DatabaseHandlerDeps } from './runtime.ts';

/**
 * The migrator Lambda. On deploy, a CloudFormation custom resource (through the CDK Provider framework)
 * sends Create/Update: the DGM schema is installed or upgraded (a deploy that changed the constitutional
 * hash first hands the new hash over), and a failure fails the deploy. Delete does nothing: the schema
 * and its data outlive the stack. Invoked directly with {"task":"migrate","target"?,"dryRun"?} it runs
 * the same job ad hoc.
 */

export interface MigratorDeps extends DatabaseHandlerDeps {
  /** Pause between connection attempts while a new database or its network settles. */
  retryDelayMs?: number;
}

export type MigratorResult = MigrateResult | CustomResourceResponse;

/** A deploy may meet a database created seconds ago: its connection is tried this often. */
const CONNECT_ATTEMPTS = 3;

export function createMigratorHandler(deps: MigratorDeps) {
  const logger = deps.logger ?? silentLogger;
  return (
    middy(async (_event: unknown, context: HandlerContext): Promise<MigratorResult> => {
      const { job, config, db } = prepared(context, 'job', 'config', 'db');
      const cfn = context.customResource;
      const previous = cfn?.requestType === 'Update' ? cfn.oldProperties?.ConstitutionalHash : undefined;
      const previousHash = typeof previous === 'string' ? previous : undefined;
      return migrateDeployment(db, config, { dryRun: job.dryRun ?? false, logger, previousHash });
    })
      // After the job, in reverse: the connection closes, the result is logged, then answered as the
      // custom resource's response (or the fan-out's summary).
      .use(fanOutSummary())
      .use(customResource({ ...SCHEMA_RESOURCE, passThrough: true, logger }))
      .use(jobLogger({ logger, done: 'migrate done', failed: 'migrate failed', fields: migrateLogFields }))
      .use(eventValidation({ tasks: ['migrate'], defaultTask: 'migrate' }))
      .use(targetResolution({ env: deps.env, registry: deps.registry }))
      // The whole migration is one transaction: its statements must end before the Lambda does.
      .use(timeoutBudget({ settings: 'maintenance', safetyMarginMs: 15_000, defaultRemainingMs: 300_000 }))
      .use(
        databaseConnection({
          secrets: deps.secrets,
          applicationName: 'dgm-db-ops-migrator',
          tls: deps.tls,
          attempts: (_event, context) => (context.customResource ? CONNECT_ATTEMPTS : 1),
          retryDelayMs: deps.retryDelayMs,
          logger,
        }),
      )
  );
}

export const handler = createMigratorHandler({
  registry: targetRegistryFromEnv(),
  secrets: new SecretsManagerSecrets(),
  logger: lambdaLogger('dgm-migrator'),
});
