import { readFile } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import middy from '@middy/core';
import { z } from 'zod';
import { seedRegistry } from '../adapters/aws/dynamodb-target-registry.ts';
import { lambdaLogger } from '../adapters/aws/powertools-logger.ts';
import { formatZodError } from '../config.ts';
import { BadInputError } from '../errors.ts';
import { type Logger, type RegisteredTarget, silentLogger } from '../ports.ts';
import { customResource } from './middleware/custom-resource.ts';
import { jobLogger } from './middleware/job-logger.ts';
import { FleetResourceProperties } from './resource-properties.ts';
import { DeployedTargetSchema } from './runtime.ts';

/**
 * The fleet's deploy-time custom resources (behind the CDK Provider framework):
 *   Kind "targets": cdk.json's targets (bundled next to this handler as dgm-targets.json, so the
 *                   template does not grow with the fleet) are written into the target registry, and
 *                   targets an earlier deploy wrote but cdk.json no longer lists are removed.
 *   Kind "schema":  starts the maintenance fan-out with {"task":"migrate"}, so every registered
 *                   database gets its schema installed or upgraded; each target's outcome is reported
 *                   by the fan-out (metrics, alarm), the deploy does not wait for the fleet.
 * Delete does nothing: the registry (operators' entries too) and the schemas outlive the stack.
 */

export const SEED_FILE = 'dgm-targets.json';

export interface RegistryDeps {
  /** cdk.json's targets as bundled. */
  seedTargets: () => Promise<unknown>;
  seed: (targets: RegisteredTarget[]) => Promise<{ put: number; removed: string[]; conflicts: string[] }>;
  startMigration: () => Promise<string>;
  logger?: Logger;
}

export function createRegistryHandler(deps: RegistryDeps) {
  const logger = deps.logger ?? silentLogger;

  async function seedTargets(properties: FleetResourceProperties): Promise<Record<string, string>> {
    let fromTemplate: unknown[];
    try {
      fromTemplate = JSON.parse(properties.Targets ?? '[]') as unknown[];
    } catch {
      throw new BadInputError('custom resource event: Targets is not valid JSON');
    }
    const bundled = (await deps.seedTargets()) as unknown[];
    const targets = z
      .array(DeployedTargetSchema)
      .safeParse([...(Array.isArray(bundled) ? bundled : []), ...fromTemplate]);
    if (!targets.success) throw new BadInputError(formatZodError(`${SEED_FILE}: `, targets.error));
    const result = await deps.seed(targets.data as RegisteredTarget[]);
    logger.info('registry seeded from cdk.json', { ...result, removed: result.removed.length });
    // An operator's entry with the same name wins; the deploy says which names collided.
    if (result.conflicts.length > 0) {
      logger.warn('names registered by an operator were left as they are', { names: result.conflicts });
    }
    const conflicts = result.conflicts.join(',').slice(0, 500);
    return { Put: String(result.put), Removed: String(result.removed.length), Conflicts: conflicts };
  }

  return middy(async (event: unknown): Promise<Record<string, string>> => {
    const properties = event as FleetResourceProperties; // customResource validated the request
    if (properties.Kind === 'targets') return seedTargets(properties);
    const execution = await deps.startMigration();
    logger.info('schema migration fan-out started', { execution });
    return { Execution: execution };
  })
    .use(jobLogger({ logger, failed: 'registry custom resource failed' }))
    .use(
      customResource({
        properties: FleetResourceProperties,
        physicalResourceId: (p) => `dgm-fleet-${String(p.Kind)}`,
        toData: (data) => data as Record<string, string>,
        logger,
        deleteMessage: 'stack deletes the registry resource: the registry and the schemas are kept',
      }),
    );
}

const env = process.env;
export const handler = createRegistryHandler({
  seedTargets: async () =>
    JSON.parse(await readFile(new URL(`./${SEED_FILE}`, import.meta.url), 'utf8')) as unknown,
  seed: (targets) => seedRegistry(new DynamoDBClient({}), env.DGM_TARGET_TABLE ?? '', targets),
  startMigration: async () => {
    const out = await new SFNClient({}).send(
      new StartExecutionCommand({
        stateMachineArn: env.DGM_MAINTENANCE_STATE_MACHINE,
        input: JSON.stringify({ task: 'migrate' }),
      }),
    );
    return out.executionArn ?? '';
  },
  logger: lambdaLogger('dgm-registry'),
});
