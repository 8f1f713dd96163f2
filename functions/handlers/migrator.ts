import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type pg from 'pg';
import { z } from 'zod';
import { targetRegistryFromEnv } from '../adapters/aws/dynamodb-target-registry.ts';
import { lambdaLogger } from '../adapters/aws/powertools-logger.ts';
import { SecretsManagerSecrets } from '../adapters/aws/secrets-manager.ts';
import { AuditTrail } from '../compliance/audit.ts';
import { formatZodError } from '../config.ts';
import { DatabaseUnreachableError, inTransaction } from '../db/connection.ts';
import { BadInputError, errorMessage } from '../errors.ts';
import { type MigrateResult, migrate } from '../jobs/migrate.ts';
import type { Logger, TargetRegistry } from '../ports.ts';
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
 * The migrator Lambda. On deploy, a CloudFormation custom resource (through the CDK Provider framework,
 * which answers CloudFormation) sends Create/Update: the DGM schema is installed or upgraded, and a
 * failure fails the deploy. Delete does nothing: the schema and its data outlive the stack. Invoked
 * directly with {"task":"migrate","target"?,"dryRun"?} it runs the same job ad hoc.
 */

export interface MigratorDeps {
  secrets: SecretsProvider;
  /** DGM_TARGETS and DGM_CONFIG; process.env in the Lambda. */
  env?: Record<string, string | undefined>;
  /** The fleet's target registry (DGM_TARGET_TABLE); absent, the target comes from DGM_TARGETS. */
  registry?: TargetRegistry;
  logger?: Logger;
  /** TLS to the database; the Lambda verifies against the RDS CA bundle (NODE_EXTRA_CA_CERTS). */
  tls?: TargetConnectionOptions['tls'];
  /** Pause between connection attempts while a new database or its network settles. */
  retryDelayMs?: number;
}

/** What the Provider framework passes on from CloudFormation (the fields we read). */
const SchemaPropertiesSchema = z
  .object({
    /** The target whose schema this resource stands for. */
    Target: z.string().min(1).optional(),
    /** Changes whenever a migration file changes, so CloudFormation sends an Update. */
    MigrationsHash: z.string().optional(),
    /** The deployed constitutional hash; a change of it is a constitution change carried by the deploy. */
    ConstitutionalHash: z.string().optional(),
  })
  .loose();
const CustomResourceEventSchema = z.object({
  RequestType: z.enum(['Create', 'Update', 'Delete']),
  PhysicalResourceId: z.string().optional(),
  ResourceProperties: SchemaPropertiesSchema,
  OldResourceProperties: SchemaPropertiesSchema.optional(),
});
type CustomResourceEvent = z.infer<typeof CustomResourceEventSchema>;

export interface CustomResourceResponse {
  PhysicalResourceId: string;
  /** Attributes for Fn::GetAtt; CloudFormation limits the whole response to 4 KB, so keep them short. */
  Data: Record<string, string>;
}

function isCustomResourceEvent(event: unknown): boolean {
  return typeof event === 'object' && event !== null && 'RequestType' in event;
}

const CONNECT_ATTEMPTS = 3;
/** Left to the job for writing its result and closing the connection. */
const SAFETY_MARGIN_MS = 15_000;

/**
 * A deploy that changes the configured constitutional hash changes the constitution: when the database
 * still holds the hash of the previous deploy, it takes the new one (the trigger of migration 007
 * records the governance event, and the next sample starts an optimize run for it) and the change is
 * audited. A database holding any other hash was changed outside the deployment: nothing is touched,
 * and migrate refuses as for any mismatch.
 */
export async function adoptDeployedConstitution(
  client: pg.Client,
  previousHash: string,
  newHash: string,
): Promise<'adopted' | 'already current' | 'not installed' | 'changed outside the deployment'> {
  return inTransaction(client, async () => {
    const installed = await client.query<{ t: string | null }>(
      `SELECT to_regclass('dgm.constitution')::text AS t`,
    );
    if (installed.rows[0]?.t == null) return 'not installed';
    const { rows } = await client.query<{ hash: string }>('SELECT hash FROM dgm.constitution FOR UPDATE');
    const stored = rows[0]?.hash;
    if (stored === newHash) return 'already current';
    if (stored !== previousHash) return 'changed outside the deployment';
    await client.query(
      'UPDATE dgm.constitution SET hash = $1, updated_at = now(), updated_by = current_user',
      [newHash],
    );
    await new AuditTrail(client, 'migrate', newHash).record({
      action: 'constitution_change',
      target: 'dgm.constitution',
      status: 'succeeded',
      details: { old_hash: previousHash, new_hash: newHash, source: 'deploy' },
    });
    return 'adopted';
  });
}

export function createMigratorHandler(deps: MigratorDeps) {
  const env = deps.env ?? process.env;
  const logger: Logger = deps.logger ?? { info() {}, warn() {}, error() {} };

  async function run(
    targetName: string | undefined,
    dryRun: boolean,
    context: Context,
    retries: number,
    previouslyDeployedHash?: string,
  ) {
    const target = await findTarget(targetName, env, deps.registry);
    const config = configForTarget(target, env);
    const remaining = context.getRemainingTimeInMillis?.() ?? 300_000;
    // The whole migration is one transaction: its statements must end before the Lambda does.
    const statementTimeoutMs = Math.max(
      1_000,
      Math.min(config.maintenance.statementTimeoutMs, remaining - SAFETY_MARGIN_MS),
    );
    let client: Awaited<ReturnType<typeof connectTarget>> | undefined;
    for (let attempt = 1; !client; attempt++) {
      try {
        client = await connectTarget(target, deps.secrets, {
          statementTimeoutMs,
          lockTimeoutMs: config.maintenance.lockTimeoutMs,
          applicationName: 'dgm-db-ops-migrator',
          tls: deps.tls,
        });
      } catch (err) {
        // Right after a demo database is created, DNS or security-group rules may lag by seconds.
        if (!(err instanceof DatabaseUnreachableError) || err.isAuthFailure || attempt >= retries) throw err;
        logger.warn('database not reachable yet, retrying', { target: target.name, attempt });
        await new Promise((r) => setTimeout(r, deps.retryDelayMs ?? 5_000));
      }
    }
    try {
      if (previouslyDeployedHash && previouslyDeployedHash !== config.constitutionalHash) {
        const change = await adoptDeployedConstitution(
          client,
          previouslyDeployedHash,
          config.constitutionalHash,
        );
        logger.info(`constitution: ${change}`, { target: target.name });
      }
      const result = await migrate(client, config, { dryRun, logger });
      logger.info(result.message ?? 'migrate done', {
        target: target.name,
        applied: result.applied.map((a) => a.name),
        status: result.status,
      });
      return result;
    } finally {
      await client.end().catch(() => {});
    }
  }

  async function onCustomResource(raw: unknown, context: Context): Promise<CustomResourceResponse> {
    const parsed = CustomResourceEventSchema.safeParse(raw);
    if (!parsed.success) throw new BadInputError(formatZodError('custom resource event: ', parsed.error));
    const event: CustomResourceEvent = parsed.data;
    const target = event.ResourceProperties.Target;
    const physicalId = `dgm-schema-${target ?? 'default'}`;
    if (event.RequestType === 'Delete') {
      logger.info('stack deletes the schema resource: the schema and its data are kept', { target });
      return { PhysicalResourceId: event.PhysicalResourceId ?? physicalId, Data: {} };
    }
    const previous =
      event.RequestType === 'Update' ? event.OldResourceProperties?.ConstitutionalHash : undefined;
    const result: MigrateResult = await run(target, false, context, CONNECT_ATTEMPTS, previous);
    return {
      PhysicalResourceId: physicalId,
      Data: {
        Applied: String(result.applied.length),
        AlreadyApplied: String(result.alreadyApplied),
        Message: (result.message ?? '').slice(0, 200),
      },
    };
  }

  return middy(async (event: unknown, context: Context): Promise<MigrateResult | CustomResourceResponse> => {
    try {
      if (isCustomResourceEvent(event)) return await onCustomResource(event, context);
      const job = parseJobEvent(event, ['migrate'], 'migrate');
      return await run(job.target, job.dryRun ?? false, context, 1);
    } catch (err) {
      // The message reaches CloudFormation's event log (deploys) or the caller; it never holds a secret.
      logger.error('migrate failed', { error: errorMessage(err) });
      throw err;
    }
  }).use(fanOutSummary());
}

export const handler = createMigratorHandler({
  registry: targetRegistryFromEnv(),
  secrets: new SecretsManagerSecrets(),
  logger: lambdaLogger('dgm-migrator'),
});
