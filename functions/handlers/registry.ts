import { readFile } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import middy from '@middy/core';
import { z } from 'zod';
import { seedRegistry } from '../adapters/aws/dynamodb-target-registry.ts';
import { lambdaLogger } from '../adapters/aws/powertools-logger.ts';
import { formatZodError } from '../config.ts';
import { BadInputError } from '../errors.ts';
import type { Logger, RegisteredTarget } from '../ports.ts';
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

const PropertiesSchema = z
  .object({
    Kind: z.enum(['targets', 'schema']),
    Version: z.string().optional(),
    /** Targets whose attributes the template resolves (the demo database), as JSON text. */
    Targets: z.string().optional(),
  })
  .loose();
const EventSchema = z.object({
  RequestType: z.enum(['Create', 'Update', 'Delete']),
  PhysicalResourceId: z.string().optional(),
  ResourceProperties: PropertiesSchema,
});

export interface RegistryDeps {
  /** cdk.json's targets as bundled. */
  seedTargets: () => Promise<unknown>;
  seed: (targets: RegisteredTarget[]) => Promise<{ put: number; removed: string[]; conflicts: string[] }>;
  startMigration: () => Promise<string>;
  logger?: Logger;
}

export function createRegistryHandler(deps: RegistryDeps) {
  const logger: Logger = deps.logger ?? { info() {}, warn() {}, error() {} };
  return middy(async (raw: unknown) => {
    const parsed = EventSchema.safeParse(raw);
    if (!parsed.success) throw new BadInputError(formatZodError('custom resource event: ', parsed.error));
    const event = parsed.data;
    const kind = event.ResourceProperties.Kind;
    const physicalId = `dgm-fleet-${kind}`;
    if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId ?? physicalId };
    if (kind === 'targets') {
      let fromTemplate: unknown[];
      try {
        fromTemplate = JSON.parse(event.ResourceProperties.Targets ?? '[]') as unknown[];
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
      if (result.conflicts.length > 0) {
        // An operator's entry with the same name wins; the deploy says which names collided.
        logger.warn('names registered by an operator were left as they are', { names: result.conflicts });
      }
      return {
        PhysicalResourceId: physicalId,
        Data: {
          Put: String(result.put),
          Removed: String(result.removed.length),
          Conflicts: result.conflicts.join(',').slice(0, 500),
        },
      };
    }
    const execution = await deps.startMigration();
    logger.info('schema migration fan-out started', { execution });
    return { PhysicalResourceId: physicalId, Data: { Execution: execution } };
  });
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
