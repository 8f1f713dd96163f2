import { z } from 'zod';
import { mergeConfigLayers, parseConfig, type RuntimeConfig, RuntimeConfigSchema } from './config.ts';
import { BadInputError } from './errors.ts';
import {
  MAINTENANCE_SCHEDULES,
  MAINTENANCE_TASKS,
  type MaintenanceTaskName,
} from './maintenance/registry.ts';

/**
 * The deployment settings: the cdk.json context key `dgm`, read by bin/app.ts and turned into the stack
 * by lib/. The runtime schema (functions/config.ts) validates each target's settings, so the stack and
 * the Lambdas agree. The schemas are marked pure: a Lambda bundle that imports this module for a constant
 * drops them (module init time).
 */

/**
 * Tasks that run on a schedule, per target: `sample` goes to the sampler, every registered maintenance
 * task (functions/maintenance/registry.ts) and `optimize` to the maintainer.
 */
export const SCHEDULED_TASKS = ['sample', ...MAINTENANCE_TASKS, 'optimize'] as const;
export type ScheduledTask = (typeof SCHEDULED_TASKS)[number];

/**
 * EventBridge Scheduler expressions in the deployment's time zone (each maintenance task's from its
 * definition). Staggered because the maintainer runs one job per database at a time (advisory lock): a
 * job starting while another holds the lock is skipped.
 */
export const DEFAULT_SCHEDULES: Record<ScheduledTask, string> = {
  sample: 'rate(1 minute)',
  ...(Object.fromEntries(
    Object.entries(MAINTENANCE_SCHEDULES).map(([task, s]) => [task, s.expression]),
  ) as Record<MaintenanceTaskName, string>),
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
    /** The fan-out over the fleet (Step Functions Distributed Map, one state machine per job family). */
    fleet: z
      .object({
        /** Targets sampled at the same time; a minute's run must cover the fleet (targets x sample time / this). */
        sampleConcurrency: z.number().int().min(1).max(1000).default(100),
        /** Targets maintained at the same time (each run holds a connection and takes locks). */
        maintenanceConcurrency: z.number().int().min(1).max(1000).default(10),
        /**
         * stack: the stack adds an ingress rule to each database security group for its placement's
         * Lambdas (one per distinct group and port); none: the operator allows the placement's Lambda
         * security group (stack output Placements), so the stack's size does not grow with the fleet.
         */
        databaseIngress: z.enum(['stack', 'none']).default('stack'),
        /**
         * The Lambdas may read a secret only when it carries this tag (IAM aws:ResourceTag condition),
         * one statement for any number of targets. The value defaults to the stack name.
         */
        secretTag: z
          .object({
            key: z
              .string()
              .regex(/^[A-Za-z0-9_.:/=+@-]{1,128}$/, 'must be a tag key')
              .default('dgm-db-ops'),
            value: z
              .string()
              .regex(/^[A-Za-z0-9_.:/=+@ -]{1,256}$/, 'must be a tag value')
              .optional(),
          })
          .strict()
          .default({ key: 'dgm-db-ops' }),
      })
      .strict()
      .default({
        sampleConcurrency: 100,
        maintenanceConcurrency: 10,
        databaseIngress: 'stack',
        secretTag: { key: 'dgm-db-ops' },
      }),
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
      const merged = RuntimeConfigSchema.safeParse(mergeConfigLayers(d.runtime, overrides, { target: name }));
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
export type FleetSettings = DeploymentConfig['fleet'];

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
    mergeConfigLayers(deployment.runtime, overrides, { target: name }),
    `config for ${name}`,
  );
}
