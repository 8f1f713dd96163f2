import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type PolicyValidationPluginReport, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { parseDeploymentConfig } from '../../functions/deployment.ts';
import { PROJECT_ROOT } from '../../lib/bundling.ts';
import { DgmDbOpsStack } from '../../lib/dgm-db-ops-stack.ts';
import { tempDir } from '../support/tmp.ts';

/** Synthesized CloudFormation: untyped JSON the tests navigate by hand. */
// biome-ignore lint/suspicious/noExplicitAny: template JSON has no static shape
export type Json = any;

/** A synthesized stack with its template and the cdk-nag AwsSolutions report, shared by a file's tests. */
export interface Synthesized {
  app: App;
  stack: DgmDbOpsStack;
  template: Template;
  json: {
    Resources: Record<string, { Type: string; Properties?: Json; DependsOn?: string[]; Metadata?: Json }>;
  };
  nag: PolicyValidationPluginReport;
  /** Findings an acknowledgement silenced during the nag run: the resource and the rule id. */
  acknowledgedFindings: Array<{ path: string; ruleId: string }>;
  outdir: string;
}

const CDK_JSON_FLAGS: Record<string, unknown> = Object.fromEntries(
  Object.entries(
    (JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
      .context,
  ).filter(([k]) => k !== 'dgm'),
);

/**
 * Builds the stack from a cdk.json-style config. bundle: false skips esbuild (the assets are not built;
 * CloudFormation is the same) for the files that only look at resources.
 */
export function synthesize(config: unknown, options: { bundle?: boolean } = {}): Synthesized {
  const outdir = tempDir('dgm-cdk-test');
  const app = new App({
    outdir,
    context: {
      // The feature flags cdk.json sets, so tests build what `cdk synth` builds.
      ...CDK_JSON_FLAGS,
      'aws:cdk:enable-asset-metadata': true,
      ...(options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
    },
  });
  const stack = new DgmDbOpsStack(app, 'DgmDbOps', { config: parseDeploymentConfig(config) });
  const template = Template.fromStack(stack);
  const checks = new AwsSolutionsChecks(app);
  // Records which findings an acknowledgement silenced, so a test can tell a needed acknowledgement
  // from one that matches nothing.
  const acknowledgedFindings: Synthesized['acknowledgedFindings'] = [];
  const hook = checks as unknown as { isAcknowledged(node: IConstruct, ruleId: string): boolean };
  const isAcknowledged = hook.isAcknowledged.bind(checks);
  hook.isAcknowledged = (node, ruleId) => {
    const silenced = isAcknowledged(node, ruleId);
    if (silenced) acknowledgedFindings.push({ path: node.node.path, ruleId });
    return silenced;
  };
  const nag = checks.validateScope(app);
  return {
    app,
    stack,
    template,
    json: template.toJSON() as Synthesized['json'],
    nag,
    acknowledgedFindings,
    outdir,
  };
}

/** Resources of a type, by logical id. */
export function resourcesOf(s: Synthesized, type: string): Array<[string, Json]> {
  return Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);
}

/** Every acknowledgement recorded in the tree: rule id, reason and where. */
export function acknowledgements(root: IConstruct): Array<{ id: string; reason: string; path: string }> {
  const out: Array<{ id: string; reason: string; path: string }> = [];
  for (const c of root.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      // Each acknowledgement is recorded as { [ruleId]: reason }.
      const items = Object.entries(entry.data as Record<string, unknown>).map(([id, reason]) => ({
        id,
        reason: typeof reason === 'string' ? reason : '',
      }));
      for (const i of items) out.push({ id: i.id, reason: i.reason, path: c.node.path });
    }
  }
  return out;
}

/** Acknowledgements that silenced no finding on their construct or below it (stale or mistyped). */
export function unusedAcknowledgements(s: Synthesized): Array<{ id: string; path: string }> {
  return acknowledgements(s.stack)
    .filter((a) => a.id.includes('AwsSolutions-')) // aws-cdk-lib records a few of its own
    .filter(
      (a) =>
        !s.acknowledgedFindings.some(
          (f) =>
            (f.path === a.path || f.path.startsWith(`${a.path}/`)) &&
            (a.id === f.ruleId || a.id.endsWith(`::${f.ruleId}`)),
        ),
    )
    .map(({ id, path }) => ({ id, path }));
}

const ACCOUNT = '123456789012';
const vpc = {
  vpcId: 'vpc-0123456789abcdef0',
  availabilityZones: ['eu-west-1a', 'eu-west-1b'],
  subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
  routeTableIds: ['rtb-0123456789abcdef0', 'rtb-0123456789abcdef1'],
};

export const SECRET_ARN = {
  prod: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:prod-db-AbCdEf`,
  reporting: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:reporting-db-GhIjKl`,
  slack: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:slack-webhook-MnOpQr`,
};
export const KEY_ARN = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

/** One existing RDS instance, with every alerting channel. */
export const ONE_TARGET = {
  targets: [
    {
      name: 'prod',
      host: 'prod.abcdefghij.eu-west-1.rds.amazonaws.com',
      port: 5432,
      database: 'dgm',
      identifier: 'prod',
      secretArn: SECRET_ARN.prod,
      secretKmsKeyArn: KEY_ARN,
      securityGroupId: 'sg-0123456789abcdef0',
      vpc,
    },
  ],
  alerts: {
    emails: ['dba@example.com', 'oncall@example.com'],
    slack: {
      chatbot: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCD' },
      webhookSecretArn: SECRET_ARN.slack,
    },
  },
};

/** An RDS instance and an Aurora cluster in one VPC, Berlin time, vacuum not scheduled. */
export const TWO_TARGETS = {
  targets: [
    { ...ONE_TARGET.targets[0] },
    {
      name: 'reporting',
      engine: 'aurora-postgresql',
      identifier: 'reporting-cluster',
      host: 'reporting.cluster-abcdefghij.eu-west-1.rds.amazonaws.com',
      secretArn: SECRET_ARN.reporting,
      securityGroupId: 'sg-0123456789abcdef9',
      vpc,
      config: { monitoring: { connectionUtilizationThreshold: 0.7, statementTimeoutMs: 10_000 } },
    },
  ],
  runtime: { slowQueryThresholdMs: 250 },
  timeZone: 'Europe/Berlin',
  schedules: { vacuum: null, partitions: 'cron(30 0 * * ? *)' },
  alerts: { emails: ['dba@example.com'] },
};

export const DEMO = { demo: true, alerts: { emails: ['dba@example.com'] } };

const FLEET_VPCS = 4;

/** A cdk.json "dgm" context with n targets over four VPCs (two subnet sets in the first). */
export function fleetConfig(n: number, ingress: 'stack' | 'none' = 'stack'): unknown {
  const targets = Array.from({ length: n }, (_, i) => {
    const v = i % FLEET_VPCS;
    const hex = (x: number, w: number) => x.toString(16).padStart(w, '0');
    const subnetSet = v === 0 && i % 8 === 0 ? 1 : 0;
    return {
      name: `db${String(i).padStart(4, '0')}`,
      host: `db${i}.abcdefghij.eu-west-1.rds.amazonaws.com`,
      database: 'app',
      identifier: `db${i}`,
      secretArn: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:db${i}-AbCdEf`,
      // Worst case for ingress: every database has a security group of its own.
      securityGroupId: `sg-${hex(i + 1, 17)}`,
      vpc: {
        vpcId: `vpc-${hex(v + 1, 17)}`,
        availabilityZones: ['eu-west-1a', 'eu-west-1b'],
        subnetIds: [
          `subnet-${hex(v * 10 + subnetSet * 2 + 1, 17)}`,
          `subnet-${hex(v * 10 + subnetSet * 2 + 2, 17)}`,
        ],
        routeTableIds: [`rtb-${hex(v * 10 + 1, 17)}`, `rtb-${hex(v * 10 + 2, 17)}`],
      },
    };
  });
  return { targets, alerts: { emails: ['dba@example.com'] }, fleet: { databaseIngress: ingress } };
}
