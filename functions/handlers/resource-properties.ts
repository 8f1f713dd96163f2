import { z } from 'zod';
import type { MigrateResult } from '../jobs/migrate.ts';
import type { CustomResourceOptions } from './middleware/custom-resource.ts';

/**
 * The ResourceProperties of the stack's custom resources, as the CDK Provider framework passes them on
 * from CloudFormation (the fields the handlers read; others are allowed).
 */

/** The migrator's schema resource (lib/: one per target). */
export const SchemaResourceProperties = z
  .object({
    /** The target whose schema this resource stands for. */
    Target: z.string().min(1).optional(),
    /** Changes whenever a migration file changes, so CloudFormation sends an Update. */
    MigrationsHash: z.string().optional(),
    /** The deployed constitutional hash; a change of it is a constitution change carried by the deploy. */
    ConstitutionalHash: z.string().optional(),
  })
  .loose();

/** The schema resource for the customResource middleware: its id, its event, its response's Data. */
export const SCHEMA_RESOURCE = {
  properties: SchemaResourceProperties,
  physicalResourceId: (p) => `dgm-schema-${typeof p.Target === 'string' ? p.Target : 'default'}`,
  // The migrator's job event: migrate the resource's target.
  toEvent: (r) => ({
    task: 'migrate',
    ...(typeof r.properties.Target === 'string' ? { target: r.properties.Target } : {}),
  }),
  toData: (response) => {
    const result = response as MigrateResult;
    return {
      Applied: String(result.applied.length),
      AlreadyApplied: String(result.alreadyApplied),
      Message: (result.message ?? '').slice(0, 200),
    };
  },
  deleteMessage: 'stack deletes the schema resource: the schema and its data are kept',
} satisfies CustomResourceOptions;

/** The registry's fleet resources: the targets seed, and the schema fan-out. */
export const FleetResourceProperties = z
  .object({
    Kind: z.enum(['targets', 'schema']),
    Version: z.string().optional(),
    /** Targets whose attributes the template resolves (the demo database), as JSON text. */
    Targets: z.string().optional(),
  })
  .loose();
export type FleetResourceProperties = z.infer<typeof FleetResourceProperties>;

/** What a custom resource answers; CloudFormation limits the whole response to 4 KB. */
export interface CustomResourceResponse {
  PhysicalResourceId: string;
  /** Attributes for Fn::GetAtt: keep them short. */
  Data: Record<string, string>;
}
