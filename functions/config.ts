import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BadInputError } from './errors.ts';
import { jsonSyntaxError, showValue } from './format/redact.ts';
import { MAINTENANCE_TASK_CONFIG } from './maintenance/registry.ts';

/**
 * The runtime settings: thresholds, schedules, targets. The CLI reads it from --config (JSON), the
 * Lambdas from their environment (DGM_CONFIG, written by the stack), and lib/ validates cdk.json context
 * with the same schema. Every field has a default, so `{}` is a valid config.
 */

export const DEFAULT_CONSTITUTIONAL_HASH = 'cdd01ef066bc6cf2';

const ratio = z.number().min(0).max(1);
const positiveInt = z.number().int().positive();

/** A statement whose mean time is above this is slow (the design's slow_query_threshold_ms). */
const slowQueryThreshold = z.number().positive();
export const DEFAULT_SLOW_QUERY_THRESHOLD_MS = 200;

export const MonitoringConfigSchema = z
  .object({
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

/** Every alert rule (the alert_type label); rules.ts defines each one. */
export const ALERT_RULE_NAMES = [
  'database_unreachable',
  'slow_queries',
  'connection_utilization',
  'cache_hit_ratio',
  'lock_waits',
  'deadlocks',
  'long_running_transaction',
  'idle_in_transaction',
  'disk_usage',
  'table_bloat',
  'default_partition_rows',
  'partitions_running_out',
  'wraparound',
  'replication_lag',
  'replication_slot_lag',
  'maintenance_failed',
  'compliance_violations',
] as const;
export type AlertRuleName = (typeof ALERT_RULE_NAMES)[number];

const cooldownMinutes = z.number().nonnegative();

export const AlertRuleOverrideSchema = z
  .object({
    enabled: z.boolean().optional(),
    warning: z.number().optional(),
    critical: z.number().optional(),
    /** The value at which a firing alert counts as clear (hysteresis: below warning for "above" rules). */
    clear: z.number().optional(),
    pendingSamples: positiveInt.optional(),
    clearSamples: positiveInt.optional(),
    cooldownMinutes: cooldownMinutes.optional(),
  })
  .strict();

export const AlertingConfigSchema = z
  .object({
    /** Minimum time between two notifications of one alert at one severity (the design's default). */
    alertCooldownMinutes: cooldownMinutes.default(15),
    /** Per-severity re-notification interval; unset severities use alertCooldownMinutes. */
    cooldownMinutesBySeverity: z
      .object({ info: cooldownMinutes, warning: cooldownMinutes, critical: cooldownMinutes })
      .partial()
      .strict()
      .default({}),
    /** Notified alerts per target per hour; resolved notices are exempt, held-back alerts wait. */
    maxAlertsPerHour: positiveInt.default(10),
    /** Consecutive breaching samples before an alert fires. */
    pendingSamples: positiveInt.default(2),
    /** Consecutive samples past the clear threshold before a firing alert resolves. */
    clearSamples: positiveInt.default(2),
    /** Samples closer than this to the previous one are the same sample (duplicate schedule deliveries). */
    minSampleSpacingSeconds: z.number().nonnegative().default(20),
    /** Flap detection over the last N samples (Nagios-style weighted state-change ratio). */
    flapWindow: z.number().int().min(4).max(50).default(21),
    flapStartRatio: ratio.default(0.3),
    flapStopRatio: ratio.default(0.15),
    /** Resolved alerts stay listed by `dgm-db-ops alerts` this long, then their state is dropped. */
    resolvedRetentionHours: positiveInt.default(24),
    /** Allocated storage of the instance (RDS AllocatedStorage, in bytes): enables disk_usage. */
    storageCapacityBytes: positiveInt.optional(),
    /** Tables smaller than this are left out of table_bloat. */
    tableBloatMinBytes: z
      .number()
      .int()
      .nonnegative()
      .default(10 * 1024 * 1024),
    /** Where the runbook lives; each alert links to `${runbookBaseUrl}#<rule>`. */
    runbookBaseUrl: z.string().url().optional(),
    /** Per-rule overrides: { "<rule>": { enabled?, warning?, critical?, clear?, ... } }. */
    rules: z.partialRecord(z.enum(ALERT_RULE_NAMES), AlertRuleOverrideSchema).default({}),
  })
  .strict();

/**
 * The maintenance section: the executor's settings and the schemas looked after, then every registered
 * task's own part (functions/maintenance/registry.ts: each task module declares its fields).
 */
export const MaintenanceConfigSchema = z
  .object({
    /** Every DDL statement waits at most this long for its lock, then retries. */
    lockTimeoutMs: positiveInt.default(2_000),
    lockRetries: z.number().int().min(0).max(20).default(5),
    /** First retry waits this long, each further one twice as long. */
    retryBackoffMs: positiveInt.default(500),
    /** Per statement; keep it below the Lambda timeout (the handler also caps it by the time left). */
    statementTimeoutMs: positiveInt.default(600_000),
    /** Schemas whose tables the statistics, index and vacuum tasks look after (besides partition sets). */
    schemas: z.array(z.string().min(1)).default(['dgm']),
    ...MAINTENANCE_TASK_CONFIG,
  })
  .strict();

export const OptimizationConfigSchema = z
  .object({
    /** The design's auto_index_creation: off by default. */
    autoIndexCreation: z.boolean().default(false),
    partitionByTime: z.boolean().default(true),
    partitionRetentionDays: positiveInt.default(365),
    /** A statement counts toward a candidate index's benefit only if its plan cost falls at least this much. */
    minCostReduction: ratio.default(0.5),
    /**
     * Safety backstops, not the budget: the advisor's choice is bounded by each index's benefit net of
     * its write cost and by maxIndexBytesPerRun. High enough for one run to build a typical application's
     * whole chosen set (the benchmark corpus builds up to 5 on one table, 10 in one run).
     */
    maxIndexesPerRun: positiveInt.default(16),
    maxIndexesPerTable: positiveInt.default(8),
    maxIndexBytesPerRun: positiveInt.default(2 * 1024 * 1024 * 1024),
    /**
     * Tables with more write statement calls than this multiple of their read calls get no automatic
     * index (a last guard: the advisor already weighs each index's write cost against its benefit).
     */
    writeHeavyRatio: z.number().positive().default(10),
    probationDays: positiveInt.default(14),
    /** Without HypoPG, candidates are built for real in a rolled-back transaction on tables below this. */
    realBuildMaxBytes: positiveInt.default(512 * 1024 * 1024),
    /** 'auto': HypoPG when the server offers it (created inside the rolled-back evaluation); 'off': real builds. */
    hypopg: z.enum(['auto', 'off']).default('auto'),
    /** Statements analyzed per run, by total time; each needs its text and a few EXPLAINs. */
    maxStatements: positiveInt.default(50),
    /** Statements called fewer times than this are not analyzed. */
    minCalls: positiveInt.default(1),
    /** Storage type behind random_page_cost and effective_io_concurrency advice (every RDS type is SSD). */
    storage: z.enum(['ssd', 'hdd']).default('ssd'),
    /** An auto-created index must make its statements at least this much faster, measured, or it is dropped. */
    minLatencyImprovement: ratio.default(0.1),
    /** Executions per statement when latency is measured before and after a build. */
    verifyRuns: positiveInt.default(5),
    /** Executions of its statements after creation before a probation verdict on measured benefit. */
    minCallsForVerdict: positiveInt.default(20),
    /** Record literal instances of running statements (pg_stat_activity) for partial-index advice. */
    captureQuerySamples: z.boolean().default(true),
    /**
     * Read literal statements from the server log (log_min_duration_statement, auto_explain) at each
     * optimize run: locally through the server (pg_ls_logdir, pg_read_binary_file: superuser or
     * pg_monitor and pg_read_server_files), on RDS through DownloadDBLogFilePortion.
     */
    readServerLog: z.boolean().default(true),
    /** The most the server log reader reads per run; it goes on from there the next run. */
    serverLogBytesPerRun: positiveInt.default(8 * 1024 * 1024),
    /** Statement timeout of the what-if evaluation (EXPLAINs and rolled-back builds). */
    evaluationTimeoutMs: positiveInt.default(300_000),
  })
  .strict();

/**
 * The old spellings of the top-level slowQueryThresholdMs: until issue 16 monitoring and optimization each
 * had their own (both 200 ms). Still accepted and mapped, with a deprecation warning; two spellings with
 * different values are refused, naming the new key.
 */
export const DEPRECATED_CONFIG_KEYS = {
  'monitoring.slowQueryThresholdMs': 'slowQueryThresholdMs',
  'optimization.slowQueryThresholdMs': 'slowQueryThresholdMs',
} as const;

const RuntimeConfigInputSchema = z
  .object({
    /** The name of this database in metrics and alerts (CloudWatch dimension DBInstance). */
    target: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
        'must be a name of at most 64 letters, digits, ., - or _ (it becomes a metric dimension and a state key)',
      )
      .default('local'),
    constitutionalHash: z
      .string()
      .regex(/^[0-9a-f]{16,64}$/, 'must be 16 to 64 lowercase hex digits')
      .default(DEFAULT_CONSTITUTIONAL_HASH),
    /**
     * A statement whose mean time is at least this is slow: the sampler's slow-query figure and alert, the
     * report's slow statements, and the SQL API's dgm.slow_queries (recorded by migrate).
     */
    slowQueryThresholdMs: slowQueryThreshold.optional(),
    monitoring: MonitoringConfigSchema.extend({
      slowQueryThresholdMs: slowQueryThreshold.optional(),
    }).default(MonitoringConfigSchema.parse({})),
    alerting: AlertingConfigSchema.default(AlertingConfigSchema.parse({})),
    maintenance: MaintenanceConfigSchema.default(MaintenanceConfigSchema.parse({})),
    optimization: OptimizationConfigSchema.extend({
      slowQueryThresholdMs: slowQueryThreshold.optional(),
    }).default(OptimizationConfigSchema.parse({})),
  })
  .strict();

export const RuntimeConfigSchema = RuntimeConfigInputSchema.transform((input, ctx) => {
  const { slowQueryThresholdMs: fromMonitoring, ...monitoring } = input.monitoring;
  const { slowQueryThresholdMs: fromOptimization, ...optimization } = input.optimization;
  const spellings: Array<[string, number | undefined]> = [
    ['slowQueryThresholdMs', input.slowQueryThresholdMs],
    ['monitoring.slowQueryThresholdMs', fromMonitoring],
    ['optimization.slowQueryThresholdMs', fromOptimization],
  ];
  const given = spellings.filter((g): g is [string, number] => g[1] !== undefined);
  if (new Set(given.map(([, v]) => v)).size > 1) {
    ctx.addIssue({
      code: 'custom',
      path: ['slowQueryThresholdMs'],
      message: `${given.map(([k, v]) => `${k} (${v})`).join(' and ')} differ: they are one setting now, set slowQueryThresholdMs alone`,
    });
    return z.NEVER;
  }
  return {
    ...input,
    slowQueryThresholdMs: given[0]?.[1] ?? DEFAULT_SLOW_QUERY_THRESHOLD_MS,
    monitoring,
    optimization,
  };
});

export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;
export type MonitoringConfig = z.infer<typeof MonitoringConfigSchema>;
export type AlertingConfig = z.infer<typeof AlertingConfigSchema>;
export type AlertRuleOverride = z.infer<typeof AlertRuleOverrideSchema>;
export type MaintenanceConfig = z.infer<typeof MaintenanceConfigSchema>;
export type OptimizationConfig = z.infer<typeof OptimizationConfigSchema>;

/** One line naming every invalid field: `config: monitoring.slowQueryThresholdMs: Too small...; target: ...`. */
export function formatZodError(prefix: string, error: z.ZodError): string {
  return (
    prefix +
    error.issues
      .slice(0, 10)
      .map(
        (i) =>
          `${i.path.length > 0 ? `${showValue(i.path.join('.'), 120)}: ` : ''}${showValue(i.message, 200)}`,
      )
      .join('; ') +
    (error.issues.length > 10 ? `; and ${error.issues.length - 10} more` : '')
  );
}

/**
 * The path of the first string (value or key) holding a control character (NUL, newline, escape...),
 * or undefined. Names, reasons and URLs never need one; PostgreSQL text cannot hold NUL at all.
 */
export function findControlCharacter(value: unknown, path: string[] = []): string | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
  const control = /[\u0000-\u001f\u007f]/;
  if (typeof value === 'string') return control.test(value) ? path.join('.') || '(value)' : undefined;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = findControlCharacter(v, [...path, String(i)]);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (control.test(k)) return [...path, showValue(k, 40)].join('.');
      const found = findControlCharacter(v, [...path, k]);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The deprecated keys (DEPRECATED_CONFIG_KEYS) a config object uses. */
export function deprecatedKeysIn(input: unknown): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(input)) return [];
  return Object.keys(DEPRECATED_CONFIG_KEYS).filter((path) => {
    const [section, key] = path.split('.') as [string, string];
    const part = input[section];
    return isObject(part) && part[key] !== undefined;
  });
}

const warned = new Set<string>();
/** Node's deprecation warning, once per message per process (the Lambda parses the config per invocation). */
function emitDeprecation(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  process.emitWarning(message, { type: 'DeprecationWarning', code: 'DGM_CONFIG_KEY' });
}

/**
 * Validates a config object; a BadInputError naming every invalid field otherwise. A deprecated key is
 * mapped to its new one and reported through onDeprecated (default: a Node DeprecationWarning on stderr).
 */
export function parseConfig(
  input: unknown,
  source = 'config',
  onDeprecated: (message: string) => void = emitDeprecation,
): RuntimeConfig {
  const value = input === undefined ? {} : input;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadInputError(
      `${source}: must be a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  const control = findControlCharacter(value);
  if (control !== undefined) {
    throw new BadInputError(`${source}: ${control}: control characters (NUL, newline...) are not allowed`);
  }
  const result = RuntimeConfigSchema.safeParse(value);
  if (!result.success) throw new BadInputError(formatZodError(`${source}: `, result.error));
  for (const key of deprecatedKeysIn(value)) {
    const now = DEPRECATED_CONFIG_KEYS[key as keyof typeof DEPRECATED_CONFIG_KEYS];
    onDeprecated(`${source}: ${key} is deprecated: use ${now} (top level); the value was taken from it`);
  }
  return result.data;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mergeJson(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeJson(base[k], v);
  return out;
}

/** Whether a layer sets the slow-query threshold under any of its spellings. */
function setsThreshold(layer: unknown): boolean {
  return (
    isPlainObject(layer) && (layer.slowQueryThresholdMs !== undefined || deprecatedKeysIn(layer).length > 0)
  );
}

/** A layer without any spelling of the slow-query threshold. */
function withoutThreshold(layer: unknown): unknown {
  if (!isPlainObject(layer)) return layer;
  const { slowQueryThresholdMs: _top, ...rest } = layer;
  for (const path of Object.keys(DEPRECATED_CONFIG_KEYS)) {
    const [section, key] = path.split('.') as [string, string];
    const part = rest[section];
    if (isPlainObject(part) && key in part) {
      const { [key]: _old, ...kept } = part;
      rest[section] = kept;
    }
  }
  return rest;
}

/**
 * Deep-merges config layers (DGM_CONFIG, then a target's overrides, ...): objects merge, arrays and
 * scalars in a later layer replace. A layer that sets the slow-query threshold under any spelling (new or
 * deprecated) replaces every spelling of the layers before it, so a target's override wins whichever
 * spelling either uses.
 */
export function mergeConfigLayers(...layers: unknown[]): unknown {
  return layers.reduce<unknown>(
    (merged, layer) => mergeJson(setsThreshold(layer) ? withoutThreshold(merged) : merged, layer),
    {},
  );
}

/** Reads and validates a JSON config file (a JSON object; `null`, arrays and scalars are refused). */
export function loadConfigFile(path: string): RuntimeConfig {
  const shown = showValue(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new BadInputError(`--config: cannot read ${shown}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`--config: ${shown} is not valid JSON (${jsonSyntaxError(err)})`);
  }
  return parseConfig(json, `--config ${shown}`);
}
