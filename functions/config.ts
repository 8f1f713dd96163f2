import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BadInputError } from './errors.ts';
import { jsonSyntaxError, showValue } from './format/redact.ts';

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

/** The design's settings for high-write tables (ALTER TABLE ... SET (...) in its "Autovacuum Tuning"). */
export const HIGH_WRITE_AUTOVACUUM = {
  autovacuum_vacuum_scale_factor: 0.1,
  autovacuum_analyze_scale_factor: 0.05,
  autovacuum_vacuum_cost_delay: 10,
} as const;

/** A storage parameter name: autovacuum_*, toast.autovacuum_*, fillfactor and the like (never free SQL). */
const storageParameterName = z
  .string()
  .regex(/^(toast\.)?[a-z][a-z0-9_]{0,62}$/, 'not a storage parameter name');

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
    /** REINDEX CONCURRENTLY above this estimated bloat ratio and size floor. */
    reindexBloatRatio: ratio.default(0.3),
    reindexMinBytes: positiveInt.default(10 * 1024 * 1024),
    dropUnusedIndexes: z.boolean().default(false),
    dropDuplicateIndexes: z.boolean().default(false),
    /** An index is called unused only when the statistics cover at least this many days. */
    unusedIndexMinStatsDays: z.number().nonnegative().default(7),
    /**
     * Partial indexes whose predicate is `column >= <constant>`, rolled forward to the first day of the
     * month keepMonths before the current one (the design's "recent metrics" index).
     */
    rollingIndexes: z
      .array(z.object({ index: z.string().min(1), keepMonths: z.number().int().min(0).max(120) }).strict())
      .default([{ index: 'dgm.idx_performance_metrics_recent', keepMonths: 1 }]),
    /** Per-column statistics targets: { "<table>": { "<column>": 1000 } }. */
    statisticsTargets: z
      .record(z.string(), z.record(z.string(), z.number().int().min(-1).max(10_000)))
      .default({}),
    /**
     * Statistics target given to high-cardinality, non-unique columns still at the default that an index
     * uses or extended statistics pair up (0: off).
     */
    highCardinalityStatisticsTarget: z.number().int().min(0).max(10_000).default(500),
    highCardinalityMinDistinct: positiveInt.default(10_000),
    /** Extended statistics for correlated columns (CREATE STATISTICS). */
    extendedStatistics: z
      .array(
        z
          .object({
            table: z.string().min(1),
            columns: z.array(z.string().min(1)).min(2).max(8),
            kinds: z
              .array(z.enum(['ndistinct', 'dependencies', 'mcv']))
              .min(1)
              .default(['ndistinct', 'dependencies', 'mcv']),
          })
          .strict(),
      )
      .default([
        {
          table: 'dgm.performance_metrics',
          columns: ['metric_name', 'timestamp'],
          kinds: ['ndistinct', 'dependencies'],
        },
        {
          table: 'dgm.dgm_archive',
          columns: ['status', 'workspace_id'],
          kinds: ['ndistinct', 'dependencies', 'mcv'],
        },
        {
          table: 'dgm.compliance_logs',
          columns: ['compliance_level', 'workspace_id'],
          kinds: ['ndistinct', 'dependencies', 'mcv'],
        },
      ]),
    /**
     * Per-table autovacuum settings, applied to every leaf partition of a partitioned table (partitioned
     * parents take none); the design's high-write settings for the DGM tables by default.
     */
    autovacuum: z
      .record(z.string(), z.record(storageParameterName, z.union([z.number(), z.boolean()])))
      .default({
        'dgm.performance_metrics': { ...HIGH_WRITE_AUTOVACUUM },
        'dgm.compliance_logs': { ...HIGH_WRITE_AUTOVACUUM },
        'dgm.dgm_archive': { ...HIGH_WRITE_AUTOVACUUM },
        'dgm.workspaces': { ...HIGH_WRITE_AUTOVACUUM },
        'dgm.bandit_states': { ...HIGH_WRITE_AUTOVACUUM },
      }),
    /** Time box for the wraparound VACUUM (FREEZE) pass. */
    freezeTimeBoxMs: positiveInt.default(300_000),
    /** Tables whose transaction ID age (table or TOAST) reaches this get a VACUUM (FREEZE), oldest first. */
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

export const RuntimeConfigSchema = z
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
    monitoring: MonitoringConfigSchema.default(MonitoringConfigSchema.parse({})),
    alerting: AlertingConfigSchema.default(AlertingConfigSchema.parse({})),
    maintenance: MaintenanceConfigSchema.default(MaintenanceConfigSchema.parse({})),
    optimization: OptimizationConfigSchema.default(OptimizationConfigSchema.parse({})),
  })
  .strict();

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

/** Validates a config object; a BadInputError naming every invalid field otherwise. */
export function parseConfig(input: unknown, source = 'config'): RuntimeConfig {
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
  return result.data;
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

// ---------------------------------------------------------------------------------------------------
// Deployment (issue 7): the cdk.json context key `dgm`, read by bin/app.ts and turned into the stack by
// lib/. It lives here so the stack and the Lambdas validate targets and runtime settings with one schema.
// The schemas are marked pure: a Lambda bundle, which never uses them, drops them (module init time).

/** Tasks that run on a schedule, per target; `sample` goes to the sampler, the rest to the maintainer. */
export const SCHEDULED_TASKS = [
  'sample',
  'partitions',
  'indexes',
  'vacuum',
  'statistics',
  'optimize',
] as const;
export type ScheduledTask = (typeof SCHEDULED_TASKS)[number];

/**
 * EventBridge Scheduler expressions in the deployment's time zone. Staggered because the maintainer runs
 * one job per database at a time (advisory lock): a job starting while another holds the lock is skipped.
 */
export const DEFAULT_SCHEDULES: Record<ScheduledTask, string> = {
  sample: 'rate(1 minute)',
  partitions: 'cron(15 1 * * ? *)',
  indexes: 'cron(0 2 ? * SUN *)',
  vacuum: 'cron(0 3 ? * SUN *)',
  statistics: 'cron(0 4 1 * ? *)',
  optimize: 'cron(0 5 1 * ? *)',
};

/** Lambda limits the timeouts below are derived from. */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;
/** The connect timeout the handlers use (functions/handlers/runtime.ts connectTarget default). */
export const CONNECT_TIMEOUT_MS = 5_000;
const SAMPLER_STATEMENTS_PER_RUN = 4;
const SAMPLER_IO_MARGIN_MS = 10_000;
const MAINTAINER_MARGIN_MS = 60_000;

/**
 * The Lambda timeouts that match the statement timeouts a target's config makes the code use: a sample
 * (connect, a few round trips, CloudWatch/SNS/DynamoDB I/O) must end within its one-minute schedule; a
 * maintenance statement must end a minute before the maintainer's timeout so the job can record it.
 */
export function lambdaTimeoutsFor(config: RuntimeConfig): {
  samplerSeconds: number;
  maintainerSeconds: number;
  migratorSeconds: number;
} {
  const sampler =
    CONNECT_TIMEOUT_MS +
    SAMPLER_STATEMENTS_PER_RUN * config.monitoring.statementTimeoutMs +
    SAMPLER_IO_MARGIN_MS;
  return {
    samplerSeconds: Math.max(30, Math.ceil(sampler / 1000)),
    maintainerSeconds: LAMBDA_MAX_TIMEOUT_SECONDS,
    migratorSeconds: 300,
  };
}

/** The largest statement timeouts the derived Lambda timeouts can hold. */
export const MAX_SAMPLER_STATEMENT_TIMEOUT_MS =
  (60_000 - CONNECT_TIMEOUT_MS - SAMPLER_IO_MARGIN_MS) / SAMPLER_STATEMENTS_PER_RUN;
export const MAX_MAINTENANCE_STATEMENT_TIMEOUT_MS = LAMBDA_MAX_TIMEOUT_SECONDS * 1000 - MAINTAINER_MARGIN_MS;

/** CloudWatch Logs accepts only these retention periods. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const RATE = /^rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)$/;
const CRON = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$/;

/** A Scheduler rate() or cron() expression (six fields, one of day-of-month and day-of-week is '?'). */
const scheduleExpression = /* @__PURE__ */ z.string().superRefine((value, ctx) => {
  if (RATE.test(value)) return;
  const cron = CRON.exec(value);
  if (cron && (cron[3] === '?') !== (cron[5] === '?')) return;
  ctx.addIssue({
    code: 'custom',
    message: cron
      ? `'${value}': exactly one of day-of-month and day-of-week must be '?'`
      : `'${value}' is not a schedule expression: use rate(5 minutes) or cron(min hour day-of-month month day-of-week year)`,
  });
});

const timeZone = /* @__PURE__ */ z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IANA time zone such as UTC or Europe/Berlin' },
);

/** Target names become CloudWatch dimensions, construct ids and parts of resource names. */
const targetName = /* @__PURE__ */ z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9_-]{0,31}$/,
    'must start with a letter and hold at most 32 letters, digits, - or _',
  );
const secretArn = /* @__PURE__ */ z
  .string()
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/,
    'must be a Secrets Manager secret ARN (arn:aws:secretsmanager:region:account:secret:name)',
  );
const kmsKeyArn = /* @__PURE__ */ z
  .string()
  .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, 'must be a KMS key ARN');
const awsId = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}-[0-9a-f]{8,17}$`), `must look like ${prefix}-0123456789abcdef0`);
const runtimeOverrides = /* @__PURE__ */ z.record(z.string(), z.unknown()).default({});

export const TargetVpcSchema = /* @__PURE__ */ z
  .object({
    vpcId: awsId('vpc'),
    availabilityZones: z
      .array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'must be a zone such as eu-west-1a'))
      .min(1),
    /** Private subnets the Lambdas run in; they need a route to the database. */
    subnetIds: z.array(awsId('subnet')).min(1),
    /** The subnets' route tables; the DynamoDB gateway endpoint is added to them (network.egress endpoints). */
    routeTableIds: z.array(awsId('rtb')).optional(),
  })
  .strict()
  .superRefine((vpc, ctx) => {
    if (vpc.subnetIds.length % vpc.availabilityZones.length !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['subnetIds'],
        message: `${vpc.subnetIds.length} subnet(s) cannot be spread over ${vpc.availabilityZones.length} zone(s): give one subnet per zone, in zone order`,
      });
    }
    if (vpc.routeTableIds && vpc.routeTableIds.length !== vpc.subnetIds.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['routeTableIds'],
        message: 'must hold one route table per subnet, in subnet order',
      });
    }
  });

/** A database that already exists: an RDS PostgreSQL instance or an Aurora PostgreSQL cluster. */
export const ExistingTargetSchema = /* @__PURE__ */ z
  .object({
    name: targetName,
    engine: z.enum(['rds-postgres', 'aurora-postgresql']).default('rds-postgres'),
    /** The writer endpoint. */
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(5432),
    database: z.string().min(1).default('postgres'),
    /** RDS-format secret ({"username","password",...}) the Lambdas log in with. */
    secretArn,
    /** The key the secret is encrypted with, when it is a customer-managed key. */
    secretKmsKeyArn: kmsKeyArn.optional(),
    /** The database's security group; the stack adds an ingress rule for the Lambdas on the port. */
    securityGroupId: awsId('sg'),
    vpc: TargetVpcSchema,
    /** DBInstanceIdentifier (rds-postgres) or DBClusterIdentifier (aurora-postgresql): AWS/RDS metrics. */
    identifier: z.string().min(1).max(63).optional(),
    /** Per-target overrides of the runtime config (thresholds, timeouts). */
    config: runtimeOverrides,
  })
  .strict();

/** `demo: true` or these settings: the stack creates a VPC and an encrypted RDS PostgreSQL. */
export const DemoTargetSchema = /* @__PURE__ */ z
  .object({
    name: targetName.default('demo'),
    engineVersion: z.enum(['16', '17', '18']).default('17'),
    instanceType: z
      .string()
      .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'must be an instance type such as t4g.micro')
      .default('t4g.micro'),
    allocatedStorageGb: z.number().int().min(20).max(65536).default(20),
    database: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase PostgreSQL identifier')
      .default('dgm'),
    /** Not 5432: AwsSolutions-RDS11 asks for a non-default port. */
    port: z.number().int().min(1150).max(65535).default(5433),
    multiAz: z.boolean().default(false),
    deletionProtection: z.boolean().default(false),
    backupRetentionDays: z.number().int().min(1).max(35).default(7),
    secretRotationDays: z.number().int().min(1).max(365).default(30),
    config: runtimeOverrides,
  })
  .strict();

export const DeploymentConfigSchema = /* @__PURE__ */ z
  .object({
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must be a CloudFormation stack name')
      .default('DgmDbOps'),
    /** Pin the stack to an account and region (optional: the stack is environment-agnostic otherwise). */
    env: z
      .object({
        account: z
          .string()
          .regex(/^\d{12}$/, 'must be a 12-digit account id')
          .optional(),
        region: z
          .string()
          .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region such as eu-west-1')
          .optional(),
      })
      .strict()
      .default({}),
    targets: z.array(ExistingTargetSchema).default([]),
    demo: z
      .union([z.boolean(), DemoTargetSchema])
      .optional()
      .transform((d) => (d === true ? DemoTargetSchema.parse({}) : d === false ? undefined : d)),
    /** The base runtime config of every target (env DGM_CONFIG); targets override parts of it. */
    runtime: runtimeOverrides,
    /** Time zone of the cron schedules. */
    timeZone: timeZone.default('UTC'),
    /** Per task: an expression, or null to not schedule it. */
    schedules: z
      .object(
        Object.fromEntries(
          SCHEDULED_TASKS.map((t) => [t, scheduleExpression.nullable().optional()]),
        ) as Record<ScheduledTask, z.ZodOptional<z.ZodNullable<typeof scheduleExpression>>>,
      )
      .strict()
      .default({}),
    network: z
      .object({
        /**
         * How Lambdas in private subnets reach AWS APIs. endpoints: the stack creates interface endpoints
         * (Secrets Manager, SNS, CloudWatch, Lambda) and a DynamoDB gateway endpoint in each VPC; nat: the
         * demo VPC gets a NAT gateway, and existing subnets must already route to a NAT (or endpoints).
         */
        egress: z.enum(['endpoints', 'nat']).default('endpoints'),
      })
      .strict()
      .default({ egress: 'endpoints' }),
    alerts: z
      .object({
        emails: z.array(z.email()).default([]),
        slack: z
          .object({
            /** AWS Chatbot: ids from the one-time console authorization of the workspace. */
            chatbot: z
              .object({
                workspaceId: z
                  .string()
                  .regex(/^[A-Z0-9]{9,11}$/, 'must be a Slack workspace id such as T0123ABCD'),
                channelId: z
                  .string()
                  .regex(/^[A-Z0-9]{9,11}$/, 'must be a Slack channel id such as C0123ABCD'),
              })
              .strict()
              .optional(),
            /** Alternative: a webhook forwarder Lambda; the secret holds the incoming-webhook URL. */
            webhookSecretArn: secretArn.optional(),
          })
          .strict()
          .default({}),
        /** Also notify when an alarm returns to OK. */
        notifyOnOk: z.boolean().default(true),
      })
      .strict()
      .default({ emails: [], slack: {}, notifyOnOk: true }),
    lambda: z
      .object({
        samplerMemoryMb: z.number().int().min(128).max(10240).default(512),
        maintainerMemoryMb: z.number().int().min(128).max(10240).default(1024),
        /** Caps concurrent maintenance runs per target (and their connections); 0 leaves it unreserved. */
        maintainerReservedConcurrency: z.number().int().min(0).max(100).default(2),
        logRetentionDays: z
          .number()
          .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
            message: `must be one of ${LOG_RETENTION_DAYS.join(', ')}`,
          })
          .default(30),
      })
      .strict()
      .default({
        samplerMemoryMb: 512,
        maintainerMemoryMb: 1024,
        maintainerReservedConcurrency: 2,
        logRetentionDays: 30,
      }),
    tags: z.record(z.string(), z.string()).default({}),
  })
  .strict()
  .superRefine((d, ctx) => {
    const names = [...d.targets.map((t) => t.name), ...(d.demo ? [d.demo.name] : [])];
    if (names.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['targets'],
        message: 'no database: give at least one target, or set demo: true',
      });
    }
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i) {
        const path = i < d.targets.length ? ['targets', i, 'name'] : ['demo', 'name'];
        ctx.addIssue({ code: 'custom', path, message: `duplicate target name '${name}'` });
      }
    });
    if (d.network.egress === 'endpoints') {
      d.targets.forEach((t, i) => {
        if (!t.vpc.routeTableIds) {
          ctx.addIssue({
            code: 'custom',
            path: ['targets', i, 'vpc', 'routeTableIds'],
            message:
              'required with network.egress "endpoints" (the DynamoDB gateway endpoint goes into these route tables); or use egress "nat"',
          });
        }
      });
    }
    const base = RuntimeConfigSchema.safeParse(d.runtime);
    if (!base.success) {
      for (const issue of base.error.issues) ctx.addIssue({ ...issue, path: ['runtime', ...issue.path] });
      return;
    }
    // A timeout too long for its Lambda is reported where it was set: the base, or the target's override.
    const check = (overrides: Record<string, unknown>, name: string, path: (string | number)[] | null) => {
      const merged = RuntimeConfigSchema.safeParse(
        mergeJson(mergeJson(d.runtime, overrides), { target: name }),
      );
      if (!merged.success) {
        if (path)
          for (const issue of merged.error.issues) ctx.addIssue({ ...issue, path: [...path, ...issue.path] });
        return;
      }
      const limits = [
        [
          'monitoring',
          merged.data.monitoring.statementTimeoutMs,
          MAX_SAMPLER_STATEMENT_TIMEOUT_MS,
          'so a sample ends within its one-minute schedule',
        ],
        [
          'maintenance',
          merged.data.maintenance.statementTimeoutMs,
          MAX_MAINTENANCE_STATEMENT_TIMEOUT_MS,
          `so a statement ends a minute before the maintainer's ${LAMBDA_MAX_TIMEOUT_SECONDS} s Lambda timeout`,
        ],
      ] as const;
      for (const [section, value, max, why] of limits) {
        const own =
          (overrides[section] as Record<string, unknown> | undefined)?.statementTimeoutMs !== undefined;
        if (value > max && (path === null ? true : own)) {
          ctx.addIssue({
            code: 'custom',
            path: [...(path ?? ['runtime']), section, 'statementTimeoutMs'],
            message: `at most ${max} ${why}`,
          });
        }
      }
    };
    check({}, 'base', null);
    for (const [i, t] of d.targets.entries()) check(t.config, t.name, ['targets', i, 'config']);
    if (d.demo) check(d.demo.config, d.demo.name, ['demo', 'config']);
  });

export type DeploymentConfig = z.infer<typeof DeploymentConfigSchema>;
export type ExistingTarget = z.infer<typeof ExistingTargetSchema>;
export type DemoTarget = z.infer<typeof DemoTargetSchema>;

/** Deep merge of JSON objects, as the Lambdas merge DGM_CONFIG with a target's overrides. */
function mergeJson(base: unknown, over: unknown): unknown {
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(base) || !isObj(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeJson(base[k], v);
  return out;
}

/** `targets[0].vpc.subnetIds[1]` for a zod issue path. */
function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}

/**
 * Validates the deployment config (cdk.json context `dgm`); a BadInputError listing every invalid field,
 * one per line, otherwise.
 */
export function parseDeploymentConfig(input: unknown, source = 'cdk.json context "dgm"'): DeploymentConfig {
  const result = DeploymentConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    const lines = result.error.issues.map(
      (i) => `  ${i.path.length > 0 ? `${issuePath(i.path)}: ` : ''}${i.message}`,
    );
    throw new BadInputError(`${source} is invalid:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** The runtime config a deployed target's Lambdas will compute (DGM_CONFIG merged with its overrides). */
export function resolveTargetRuntimeConfig(
  deployment: DeploymentConfig,
  overrides: Record<string, unknown>,
  name: string,
): RuntimeConfig {
  return parseConfig(
    mergeJson(mergeJson(deployment.runtime, overrides), { target: name }),
    `config for ${name}`,
  );
}
