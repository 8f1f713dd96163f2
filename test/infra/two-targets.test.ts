import { beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULED_TASKS } from '../../functions/config.ts';
import { loadTargets } from '../../functions/handlers/runtime.ts';
import {
  type Json,
  resourcesOf,
  SECRET_ARN,
  type Synthesized,
  synthesize,
  TWO_TARGETS,
  unusedAcknowledgements,
} from './support.ts';

// Bundling skipped: this file looks at resources only (single-target.test.ts builds the bundles).
let s: Synthesized;
let nat: Synthesized;
beforeAll(() => {
  s = synthesize(TWO_TARGETS, { bundle: false });
  nat = synthesize({ ...TWO_TARGETS, network: { egress: 'nat' } }, { bundle: false });
}, 300_000);

const functionsOf = (syn: Synthesized, target: string) =>
  resourcesOf(syn, 'AWS::Lambda::Function').filter(
    ([id]) => id.startsWith(`Target${target}`) && !id.includes('Provider'),
  );

const policyOf = (syn: Synthesized, fnLogicalId: string): Json[] => {
  const role = syn.json.Resources[fnLogicalId]!.Properties.Role['Fn::GetAtt'][0];
  const policy = resourcesOf(syn, 'AWS::IAM::Policy').find(([, p]) =>
    p.Properties.Roles.some((r: Json) => r.Ref === role),
  );
  return policy![1].Properties.PolicyDocument.Statement;
};

describe('two targets in one VPC', () => {
  it('each target gets its own sampler, maintainer and migrator, knowing only its own database', () => {
    for (const target of ['prod', 'reporting']) {
      const fns = functionsOf(s, target);
      expect(fns.map(([id]) => id.replace(/Function[0-9A-F]+$/, '')).sort()).toEqual(
        [`Target${target}Maintainer`, `Target${target}Migrator`, `Target${target}Sampler`].sort(),
      );
      for (const [, fn] of fns) {
        const targets = loadTargets({ DGM_TARGETS: fn.Properties.Environment.Variables.DGM_TARGETS });
        expect(targets.map((t) => t.name)).toEqual([target]);
      }
    }
    const reporting = loadTargets({
      DGM_TARGETS: functionsOf(s, 'reporting')[0]![1].Properties.Environment.Variables.DGM_TARGETS,
    })[0]!;
    expect(reporting).toMatchObject({
      host: 'reporting.cluster-abcdefghij.eu-west-1.rds.amazonaws.com',
      port: 5432,
      database: 'postgres',
      secretArn: SECRET_ARN.reporting,
      config: { monitoring: { connectionUtilizationThreshold: 0.7, statementTimeoutMs: 10_000 } },
    });
    // The base runtime config is shared through DGM_CONFIG.
    expect(
      JSON.parse(functionsOf(s, 'reporting')[0]![1].Properties.Environment.Variables.DGM_CONFIG),
    ).toEqual({
      monitoring: { slowQueryThresholdMs: 250 },
    });
  });

  it("a target's functions read only its secret and start only its maintainer", () => {
    for (const [target, other] of [
      ['prod', 'reporting'],
      ['reporting', 'prod'],
    ] as const) {
      for (const [id] of functionsOf(s, target)) {
        const text = JSON.stringify(policyOf(s, id));
        expect(text).toContain(SECRET_ARN[target]);
        expect(text).not.toContain(SECRET_ARN[other]);
        expect(text).not.toContain(`Target${other}`);
      }
    }
  });

  it('the sampler timeout follows the target statement timeout', () => {
    const sampler = (t: string) =>
      functionsOf(s, t).find(([id]) => id.includes('Sampler'))![1].Properties.Timeout;
    expect(sampler('prod')).toBe(35); // 5 s connect + 4 x 5 s statements + 10 s I/O
    expect(sampler('reporting')).toBe(55); // 5 s + 4 x 10 s + 10 s
  });

  it('one schedule per task per target, vacuum switched off, the cron override and the time zone applied', () => {
    const schedules = resourcesOf(s, 'AWS::Scheduler::Schedule').map(([, r]) => r.Properties);
    const tasks = SCHEDULED_TASKS.filter((t) => t !== 'vacuum');
    expect(schedules).toHaveLength(tasks.length * 2);
    for (const target of ['prod', 'reporting']) {
      const mine = schedules.filter((p) => JSON.parse(p.Target.Input).target === target);
      expect(mine.map((p) => JSON.parse(p.Target.Input).task).sort()).toEqual([...tasks].sort());
      for (const p of mine) expect(p.ScheduleExpressionTimezone).toBe('Europe/Berlin');
      expect(mine.find((p) => JSON.parse(p.Target.Input).task === 'partitions').ScheduleExpression).toBe(
        'cron(30 0 * * ? *)',
      );
    }
  });

  it('shares one set of VPC endpoints; each database accepts only its own Lambdas', () => {
    expect(resourcesOf(s, 'AWS::EC2::VPCEndpoint')).toHaveLength(5);
    const ingress = resourcesOf(s, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties);
    const toDb = (sg: string) => ingress.filter((p) => p.GroupId === sg);
    expect(toDb('sg-0123456789abcdef0')).toHaveLength(1);
    expect(toDb('sg-0123456789abcdef0')[0].SourceSecurityGroupId['Fn::GetAtt'][0]).toMatch(
      /^TargetprodLambdaSecurityGroup/,
    );
    expect(toDb('sg-0123456789abcdef9')).toHaveLength(1);
    expect(toDb('sg-0123456789abcdef9')[0].SourceSecurityGroupId['Fn::GetAtt'][0]).toMatch(
      /^TargetreportingLambdaSecurityGroup/,
    );
  });

  it('per-target KPI thresholds, a missed-sample alarm and a dashboard per target', () => {
    const alarms = resourcesOf(s, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const utilization = (t: string) =>
      alarms.find((a) => a.MetricName === 'ConnectionUtilization' && a.Dimensions[0].Value === t).Threshold;
    expect(utilization('prod')).toBe(80);
    expect(utilization('reporting')).toBe(70);
    for (const t of ['prod', 'reporting']) {
      expect(alarms.filter((a) => a.MetricName === 'Up' && a.Dimensions[0].Value === t)).toHaveLength(1);
    }
    const dashboards = resourcesOf(s, 'AWS::CloudWatch::Dashboard').map(
      ([, d]) => d.Properties.DashboardName,
    );
    expect(dashboards.sort()).toEqual(['DgmDbOps-prod', 'DgmDbOps-reporting']);
    // Aurora: the cluster's volume on the dashboard, by cluster identifier.
    const reportingBody = JSON.stringify(
      resourcesOf(s, 'AWS::CloudWatch::Dashboard').find(
        ([, d]) => d.Properties.DashboardName === 'DgmDbOps-reporting',
      )![1].Properties.DashboardBody,
    );
    expect(reportingBody).toContain('VolumeBytesUsed');
    expect(reportingBody).toContain('reporting-cluster');
  });

  it('acknowledges only real findings', () => {
    expect(unusedAcknowledgements(s)).toEqual([]);
  });

  it('has no unacknowledged cdk-nag finding', () => {
    expect(s.nag.violations.map((v) => v.ruleName)).toEqual([]);
  });
});

describe('network.egress nat', () => {
  it('creates no endpoints: the existing subnets route through their NAT', () => {
    expect(resourcesOf(nat, 'AWS::EC2::VPCEndpoint')).toHaveLength(0);
    expect(resourcesOf(nat, 'AWS::Lambda::Function').length).toBe(
      resourcesOf(s, 'AWS::Lambda::Function').length,
    );
    expect(nat.nag.violations.map((v) => v.ruleName)).toEqual([]);
  });
});
