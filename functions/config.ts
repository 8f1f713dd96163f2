import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BadInputError } from './errors.ts';

/**
 * The runtime settings: thresholds, schedules, targets. The CLI reads it from --config (JSON), the
 * Lambdas from their environment (DGM_CONFIG, written by the stack), and lib/ validates cdk.json context
 * with the same schema. Every field has a default, so `{}` is a valid config.
 */

export const DEFAULT_CONSTITUTIONAL_HASH = 'cdd01ef066bc6cf2';

const ratio = z.number().min(0).max(1);
const positiveInt = z.number().int().positive();

export const MonitoringConfigSchema = z
  .object({
    /** A statement whose mean time is above this is slow (the design's slow_query_threshold_ms). */
    slowQueryThresholdMs: z.number().positive().default(200),
    connectionUtilizationThreshold: ratio.default(0.8),
    cacheHitRatioThreshold: ratio.default(0.9),
    /** Statement timeout for the sampler's queries. */
    statementTimeoutMs: positiveInt.default(5_000),
    /** Statements whose text is fetched and parsed, by total time. */
    topStatements: positiveInt.default(20),
    /** Custom metrics per database, the CloudWatch cost budget. */
    maxMetrics: positiveInt.default(40),
    /** Tables that get per-table dimensions (by size and activity). */
    topTables: positiveInt.default(5),
    /** Sampler snapshots kept in dgm.stat_snapshots. */
    snapshotRetentionHours: positiveInt.default(24),
    /** Every Nth sample also collects the costlier figures (bloat, pruning). */
    slowCollectionEvery: positiveInt.default(15),
  })
  .strict();

export const AlertingConfigSchema = z
  .object({
    alertCooldownMinutes: z.number().nonnegative().default(15),
    maxAlertsPerHour: positiveInt.default(10),
    /** Consecutive breaching samples before an alert fires. */
    pendingSamples: positiveInt.default(2),
    /** Per-rule overrides: { "<rule>": { warning?, critical?, clear?, enabled? } }. */
    rules: z
      .record(
        z.string(),
        z
          .object({
            enabled: z.boolean().optional(),
            warning: z.number().optional(),
            critical: z.number().optional(),
            clear: z.number().optional(),
          })
          .strict(),
      )
      .default({}),
  })
  .strict();

export const MaintenanceConfigSchema = z
  .object({
    /** Every DDL statement waits at most this long for its lock, then retries. */
    lockTimeoutMs: positiveInt.default(2_000),
    lockRetries: z.number().int().min(0).max(20).default(5),
    retryBackoffMs: positiveInt.default(500),
    statementTimeoutMs: positiveInt.default(600_000),
    /** REINDEX CONCURRENTLY above this estimated bloat ratio and size floor. */
    reindexBloatRatio: ratio.default(0.3),
    reindexMinBytes: positiveInt.default(10 * 1024 * 1024),
    dropUnusedIndexes: z.boolean().default(false),
    dropDuplicateIndexes: z.boolean().default(false),
    /** Per-table autovacuum settings; the design's high-write settings by default. */
    autovacuum: z.record(z.string(), z.record(z.string(), z.union([z.number(), z.boolean()]))).default({}),
    /** Time box for the wraparound VACUUM (FREEZE) pass. */
    freezeTimeBoxMs: positiveInt.default(300_000),
    freezeAgeThreshold: positiveInt.default(500_000_000),
  })
  .strict();

export const OptimizationConfigSchema = z
  .object({
    slowQueryThresholdMs: z.number().positive().default(200),
    /** The design's auto_index_creation: off by default. */
    autoIndexCreation: z.boolean().default(false),
    partitionByTime: z.boolean().default(true),
    partitionRetentionDays: positiveInt.default(365),
    /** Keep a candidate index only if the weighted plan cost falls at least this much. */
    minCostReduction: ratio.default(0.5),
    maxIndexesPerRun: positiveInt.default(3),
    maxIndexesPerTable: positiveInt.default(2),
    maxIndexBytesPerRun: positiveInt.default(2 * 1024 * 1024 * 1024),
    /** Tables with more writes than this share of their reads get no automatic index. */
    writeHeavyRatio: z.number().positive().default(1),
    probationDays: positiveInt.default(14),
    /** Without HypoPG, candidates are built for real in a rolled-back transaction on tables below this. */
    realBuildMaxBytes: positiveInt.default(512 * 1024 * 1024),
  })
  .strict();

export const RuntimeConfigSchema = z
  .object({
    /** The name of this database in metrics and alerts (CloudWatch dimension DBInstance). */
    target: z.string().min(1).max(64).default('local'),
    constitutionalHash: z
      .string()
      .regex(/^[0-9a-f]{16,64}$/, 'must be 16 to 64 lowercase hex digits')
      .default(DEFAULT_CONSTITUTIONAL_HASH),
    monitoring: MonitoringConfigSchema.default(MonitoringConfigSchema.parse({})),
    alerting: AlertingConfigSchema.default(AlertingConfigSchema.parse({})),
    maintenance: MaintenanceConfigSchema.default(MaintenanceConfigSchema.parse({})),
    optimization: OptimizationConfigSchema.default(OptimizationConfigSchema.parse({})),
  })
  .strict();

export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;
export type MonitoringConfig = z.infer<typeof MonitoringConfigSchema>;
export type AlertingConfig = z.infer<typeof AlertingConfigSchema>;
export type MaintenanceConfig = z.infer<typeof MaintenanceConfigSchema>;
export type OptimizationConfig = z.infer<typeof OptimizationConfigSchema>;

/** One line per invalid field: `monitoring.slowQueryThresholdMs: expected number, received string`. */
export function formatZodError(prefix: string, error: z.ZodError): string {
  return error.issues
    .map((i) => `${prefix}${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`)
    .join('; ');
}

/** Validates a config object; a BadInputError naming every invalid field otherwise. */
export function parseConfig(input: unknown, source = 'config'): RuntimeConfig {
  const result = RuntimeConfigSchema.safeParse(input ?? {});
  if (!result.success) throw new BadInputError(formatZodError(`${source}: `, result.error));
  return result.data;
}

/** Reads and validates a JSON config file. */
export function loadConfigFile(path: string): RuntimeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new BadInputError(`--config: cannot read ${path}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`--config: ${path} is not valid JSON (${(err as Error).message})`);
  }
  return parseConfig(json, `--config ${path}`);
}
