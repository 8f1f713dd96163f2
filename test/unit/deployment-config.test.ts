import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import {
  DEFAULT_SCHEDULES,
  lambdaTimeoutsFor,
  MAX_MAINTENANCE_STATEMENT_TIMEOUT_MS,
  MAX_SAMPLER_STATEMENT_TIMEOUT_MS,
  parseDeploymentConfig,
  resolveTargetRuntimeConfig,
} from '../../functions/deployment.ts';
import { BadInputError } from '../../functions/errors.ts';

const vpc = {
  vpcId: 'vpc-0123456789abcdef0',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
  routeTableIds: ['rtb-0123456789abcdef0', 'rtb-0123456789abcdef1'],
};
const target = {
  name: 'prod',
  host: 'prod.example.eu-west-1.rds.amazonaws.com',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod-AbCdEf',
  securityGroupId: 'sg-0123456789abcdef0',
  vpc,
};

/** The error lines of an invalid config (the message after its first line). */
function errorsOf(input: unknown): string[] {
  try {
    parseDeploymentConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(BadInputError);
    const [first, ...rest] = (err as Error).message.split('\n');
    expect(first).toBe('cdk.json context "dgm" is invalid:');
    return rest.map((l) => l.trim());
  }
  throw new Error('expected the config to be rejected');
}

describe('deployment config (cdk.json context "dgm")', () => {
  it('demo: true alone is a complete deployment with the defaults', () => {
    const c = parseDeploymentConfig({ demo: true });
    expect(c.demo).toMatchObject({ name: 'demo', engineVersion: '17', port: 5433, multiAz: false });
    expect(c).toMatchObject({
      stackName: 'DgmDbOps',
      timeZone: 'UTC',
      network: { egress: 'endpoints' },
      alerts: { emails: [], slack: {}, notifyOnOk: true },
      lambda: {
        samplerMemoryMb: 512,
        maintainerMemoryMb: 1024,
        maintainerReservedConcurrency: 2,
        logRetentionDays: 30,
      },
      targets: [],
    });
    expect(parseDeploymentConfig({ demo: false, targets: [target] }).demo).toBeUndefined();
  });

  it('fills an existing target with its defaults', () => {
    expect(parseDeploymentConfig({ targets: [target] }).targets[0]).toEqual({
      ...target,
      engine: 'rds-postgres',
      port: 5432,
      database: 'postgres',
      config: {},
    });
  });

  it('names every invalid field on its own line, with its path', () => {
    const lines = errorsOf({
      targets: [
        {
          ...target,
          name: '9lives',
          port: 70000,
          secretArn: 'prod-secret',
          securityGroupId: 'sg-12',
          vpc: { ...vpc, subnetIds: ['subnet-0123456789abcdef0'], routeTableIds: undefined },
          config: { monitoring: { cacheHitRatioThreshold: 2 } },
        },
      ],
      schedules: { sample: 'every minute', indexes: 'cron(0 2 * * SUN *)', bogus: 'rate(1 day)' },
      timeZone: 'Mars/Olympus',
      alerts: { emails: ['not-an-email'], slack: { chatbot: { workspaceId: 'x', channelId: 'C0123ABCD' } } },
      lambda: { logRetentionDays: 31 },
      network: { egress: 'internet' },
    });
    const expected = [
      /^targets\[0\]\.name: must start with a letter/,
      /^targets\[0\]\.port: /,
      /^targets\[0\]\.secretArn: must be a Secrets Manager secret ARN/,
      /^targets\[0\]\.securityGroupId: must look like sg-0123456789abcdef0$/,
      /^targets\[0\]\.vpc\.subnetIds: 1 subnet\(s\) cannot be spread over 2 zone\(s\)/,
      /^schedules\.sample: 'every minute' is not a schedule expression/,
      /^schedules\.indexes: 'cron\(0 2 \* \* SUN \*\)': exactly one of day-of-month and day-of-week must be '\?'$/,
      /^schedules: Unrecognized key: "bogus"$/,
      /^timeZone: must be an IANA time zone/,
      /^alerts\.emails\[0\]: /,
      /^alerts\.slack\.chatbot\.workspaceId: must be a Slack workspace id/,
      /^lambda\.logRetentionDays: must be one of 1, 3, 5, 7, 14, 30/,
      /^network\.egress: /,
    ];
    for (const re of expected)
      expect(
        lines.some((l) => re.test(l)),
        `${re}\n${lines.join('\n')}`,
      ).toBe(true);
    expect(lines.length).toBe(expected.length);
  });

  it('checks what only the whole config can say: a database, unique names, route tables for endpoints', () => {
    expect(errorsOf({})).toEqual(['targets: no database: give at least one target, or set demo: true']);
    expect(errorsOf({ targets: [target, { ...target }] })).toEqual([
      "targets[1].name: duplicate target name 'prod'",
    ]);
    expect(errorsOf({ targets: [{ ...target, name: 'demo' }], demo: true })).toEqual([
      "demo.name: duplicate target name 'demo'",
    ]);
    expect(errorsOf({ targets: [{ ...target, vpc: { ...vpc, routeTableIds: undefined } }] })).toEqual([
      'targets[0].vpc.routeTableIds: required with network.egress "endpoints" (the DynamoDB gateway endpoint goes into these route tables); or use egress "nat"',
    ]);
    expect(
      parseDeploymentConfig({
        targets: [{ ...target, vpc: { ...vpc, routeTableIds: undefined } }],
        network: { egress: 'nat' },
      }).targets,
    ).toHaveLength(1);
  });

  it('validates runtime settings with the runtime schema, where they were written', () => {
    expect(
      errorsOf({
        demo: true,
        runtime: { monitoring: { slowQueryThresholdMs: 'fast' } },
      }),
    ).toEqual(['runtime.monitoring.slowQueryThresholdMs: Invalid input: expected number, received string']);
    expect(
      errorsOf({ targets: [{ ...target, config: { alerting: { maxAlertsPerHour: 0 }, typo: 1 } }] }).sort(),
    ).toEqual(
      [
        'targets[0].config: Unrecognized key: "typo"',
        'targets[0].config.alerting.maxAlertsPerHour: Too small: expected number to be >0',
      ].sort(),
    );
  });

  it('refuses statement timeouts the Lambda timeouts cannot hold, at the place they were set', () => {
    expect(
      errorsOf({
        demo: { config: { monitoring: { statementTimeoutMs: MAX_SAMPLER_STATEMENT_TIMEOUT_MS + 1 } } },
        runtime: { maintenance: { statementTimeoutMs: MAX_MAINTENANCE_STATEMENT_TIMEOUT_MS + 1 } },
      }),
    ).toEqual([
      `runtime.maintenance.statementTimeoutMs: at most ${MAX_MAINTENANCE_STATEMENT_TIMEOUT_MS} so a statement ends a minute before the maintainer's 900 s Lambda timeout`,
      `demo.config.monitoring.statementTimeoutMs: at most ${MAX_SAMPLER_STATEMENT_TIMEOUT_MS} so a sample ends within its one-minute schedule`,
    ]);
    const ok = parseDeploymentConfig({
      demo: { config: { monitoring: { statementTimeoutMs: MAX_SAMPLER_STATEMENT_TIMEOUT_MS } } },
    });
    const runtime = resolveTargetRuntimeConfig(ok, ok.demo!.config, 'demo');
    expect(lambdaTimeoutsFor(runtime).samplerSeconds).toBeLessThanOrEqual(60);
  });

  it('derives the Lambda timeouts from the statement timeouts', () => {
    expect(lambdaTimeoutsFor(parseConfig({}))).toEqual({
      samplerSeconds: 35,
      maintainerSeconds: 900,
      migratorSeconds: 300,
    });
    expect(lambdaTimeoutsFor(parseConfig({ monitoring: { statementTimeoutMs: 1_000 } })).samplerSeconds).toBe(
      30,
    );
  });

  it('merges a target override over the base runtime config, named after the target', () => {
    const c = parseDeploymentConfig({
      runtime: { monitoring: { slowQueryThresholdMs: 300, topTables: 3 } },
      targets: [{ ...target, config: { monitoring: { slowQueryThresholdMs: 100 } } }],
    });
    const r = resolveTargetRuntimeConfig(c, c.targets[0]!.config, 'prod');
    expect(r.target).toBe('prod');
    // monitoring.slowQueryThresholdMs is the deprecated spelling of the top-level slowQueryThresholdMs.
    expect(r.slowQueryThresholdMs).toBe(100);
    expect(r.monitoring).toMatchObject({ topTables: 3 });
  });

  it('accepts rate() and cron() expressions and null to switch a task off', () => {
    const c = parseDeploymentConfig({
      demo: true,
      schedules: { sample: 'rate(2 minutes)', partitions: 'cron(0 3 * * ? *)', vacuum: null },
    });
    expect(c.schedules).toEqual({ sample: 'rate(2 minutes)', partitions: 'cron(0 3 * * ? *)', vacuum: null });
    for (const expression of Object.values(DEFAULT_SCHEDULES)) {
      expect(
        parseDeploymentConfig({ demo: true, schedules: { optimize: expression } }).schedules.optimize,
      ).toBe(expression);
    }
    expect(errorsOf({ demo: true, schedules: { sample: 'rate(1 minutes)' } })[0]).toMatch(
      /not a schedule expression/,
    );
  });
});
