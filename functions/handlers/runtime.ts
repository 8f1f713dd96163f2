import type pg from 'pg';
import { z } from 'zod';
import { validateAlertRules } from '../alerting/rules.ts';
import { formatZodError, mergeConfigLayers, parseConfig, type RuntimeConfig } from '../config.ts';
import { connect, DatabaseUnreachableError, type TlsMode } from '../db/connection.ts';
import { BadInputError } from '../errors.ts';
import type { Logger, RegisteredTarget, SecretsProvider, TargetRegistry } from '../ports.ts';

/**
 * What every Lambda shares: the deployed targets (env DGM_TARGETS, written by the stack), the base
 * config (env DGM_CONFIG), and a database connection made from a Secrets Manager secret.
 */

export const DeployedTargetSchema = z
  .object({
    name: z.string().min(1).max(64),
    host: z.string().min(1),
    port: z.number().int().positive().default(5432),
    database: z.string().min(1).default('postgres'),
    /** Secret in the RDS format: {"username","password",...}. */
    secretArn: z.string().min(1),
    /** Per-target overrides of the runtime config (thresholds etc.). */
    config: z.record(z.string(), z.unknown()).default({}),
    /** The RDS DBInstanceIdentifier, when the target is an RDS instance: its server log is read. */
    rdsInstanceId: z.string().min(1).max(63).optional(),
    /** The network placement whose functions reach this database (the fleet's registry sets it). */
    placement: z.string().min(1).max(64).optional(),
    /** false: registered, but no fan-out runs it. */
    enabled: z.boolean().optional(),
  })
  .strict();
export type DeployedTarget = z.infer<typeof DeployedTargetSchema>;

function parseJsonEnv(env: Record<string, string | undefined>, name: string): unknown {
  const raw = env[name];
  if (!raw) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new BadInputError(`environment ${name} is not valid JSON`);
  }
}

/** The deployed targets from env DGM_TARGETS (a JSON array). */
export function loadTargets(env: Record<string, string | undefined> = process.env): DeployedTarget[] {
  const parsed = z
    .array(DeployedTargetSchema)
    .min(1)
    .safeParse(parseJsonEnv(env, 'DGM_TARGETS') ?? []);
  if (!parsed.success) throw new BadInputError(formatZodError('DGM_TARGETS: ', parsed.error));
  return parsed.data;
}

/** Picks the event's target; with one deployed target the name may be omitted. */
export function resolveTarget(targets: DeployedTarget[], name: string | undefined): DeployedTarget {
  if (!name) {
    if (targets.length === 1) return targets[0]!;
    throw new BadInputError(`event: target is required (one of ${targets.map((t) => t.name).join(', ')})`);
  }
  const target = targets.find((t) => t.name === name);
  if (!target)
    throw new BadInputError(
      `event: unknown target '${name}' (one of ${targets.map((t) => t.name).join(', ')})`,
    );
  return target;
}

/**
 * The event's target: from the fleet's registry when the function has one (DGM_TARGET_TABLE in AWS),
 * else from DGM_TARGETS. With a registry the name is required: a fleet has no default target.
 */
export async function findTarget(
  name: string | undefined,
  env: Record<string, string | undefined>,
  registry?: TargetRegistry,
): Promise<DeployedTarget> {
  if (!registry) return resolveTarget(loadTargets(env), name);
  if (!name) throw new BadInputError('event: target is required (the name of a registered database)');
  const found = await registry.get(name);
  if (!found) throw new BadInputError(`event: unknown target '${name}' (not in the target registry)`);
  const parsed = DeployedTargetSchema.safeParse(found);
  if (!parsed.success) throw new BadInputError(formatZodError(`registry entry ${name}: `, parsed.error));
  return parsed.data;
}

/** The runtime config for a target: env DGM_CONFIG, then the target's overrides, named after the target. */
export function configForTarget(
  target: DeployedTarget,
  env: Record<string, string | undefined> = process.env,
): RuntimeConfig {
  const base = parseJsonEnv(env, 'DGM_CONFIG') ?? {};
  const config = parseConfig(
    mergeConfigLayers(base, target.config, { target: target.name }),
    `config for ${target.name}`,
  );
  // Cross-field rules too, before the handler connects: contradictory alert thresholds used to be
  // found only after the sample was stored and its metrics sent.
  validateAlertRules(config);
  return config;
}

/** What every database-backed handler (sampler, maintainer, migrator) is built with. */
export interface DatabaseHandlerDeps {
  secrets: SecretsProvider;
  /** DGM_TARGETS and DGM_CONFIG; process.env in the Lambda. */
  env?: Record<string, string | undefined>;
  /** The fleet's target registry (DGM_TARGET_TABLE); absent, the target comes from DGM_TARGETS. */
  registry?: TargetRegistry;
  logger?: Logger;
  /** TLS to the database; the Lambda verifies against the RDS CA bundle (NODE_EXTRA_CA_CERTS). */
  tls?: TlsMode;
}

export interface TargetConnectionOptions {
  statementTimeoutMs: number;
  connectTimeoutMs?: number;
  lockTimeoutMs?: number;
  applicationName: string;
  /** TLS verification against the RDS CA bundle (Lambda: NODE_EXTRA_CA_CERTS). Default 'verify'. */
  tls?: TlsMode;
}

/**
 * Connects to a target with its secret. An authentication failure fetches the secret again (it may
 * have been rotated) and retries once.
 */
export async function connectTarget(
  target: DeployedTarget,
  secrets: SecretsProvider,
  options: TargetConnectionOptions,
): Promise<pg.Client> {
  const attempt = async (forceRefresh: boolean) => {
    const secret = await secrets.getDatabaseSecret(target.secretArn, { forceRefresh });
    const url = new URL('postgres://placeholder');
    url.hostname = target.host;
    url.port = String(target.port);
    url.pathname = `/${encodeURIComponent(target.database)}`;
    url.username = encodeURIComponent(secret.username);
    return connect({
      url: url.toString(),
      password: secret.password,
      tls: options.tls ?? 'verify',
      applicationName: options.applicationName,
      statementTimeoutMs: options.statementTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      lockTimeoutMs: options.lockTimeoutMs,
    });
  };
  try {
    return await attempt(false);
  } catch (err) {
    if (err instanceof DatabaseUnreachableError && err.isAuthFailure) return attempt(true);
    throw err;
  }
}

/** The registry the env describes: DGM_TARGETS (the local stand-in for the DynamoDB table). */
export function envRegistry(env: Record<string, string | undefined>): TargetRegistry {
  const targets = () => loadTargets(env) as RegisteredTarget[];
  return {
    list: async () => targets(),
    get: async (name) => targets().find((t) => t.name === name),
  };
}
