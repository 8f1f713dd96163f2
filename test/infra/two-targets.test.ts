import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULED_TASKS } from '../../functions/deployment.ts';
import {
  fleetConfig,
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

const placementFunctions = (syn: Synthesized) =>
  resourcesOf(syn, 'AWS::Lambda::Function').filter(([id]) => id.startsWith('Placement'));

const policyOf = (syn: Synthesized, fnLogicalId: string): Json[] => {
  const role = syn.json.Resources[fnLogicalId]!.Properties.Role['Fn::GetAtt'][0];
  const policy = resourcesOf(syn, 'AWS::IAM::Policy').find(([, p]) =>
    p.Properties.Roles.some((r: Json) => r.Ref === role),
  );
  return policy![1].Properties.PolicyDocument.Statement;
};

describe('two targets in one VPC and subnets', () => {
  it('share one placement: one sampler, maintainer and migrator for both, no target list in their environment', () => {
    const fns = placementFunctions(s);
    expect(
      fns
        .map(([id]) =>
          id.replace(/^Placementvpc[0-9a-f]+(Sampler|Maintainer|Migrator)Function[0-9A-F]+$/, '$1'),
        )
        .sort(),
    ).toEqual(['Maintainer', 'Migrator', 'Sampler']);
    for (const [, fn] of fns) {
      expect(fn.Properties.Environment.Variables.DGM_TARGETS).toBeUndefined();
      // The base runtime config is shared through DGM_CONFIG; a target's overrides are in its registry entry.
      expect(JSON.parse(fn.Properties.Environment.Variables.DGM_CONFIG)).toEqual({
        slowQueryThresholdMs: 250,
      });
    }
  });

  it('their functions read secrets by tag, never by ARN', () => {
    for (const [id] of placementFunctions(s)) {
      const text = JSON.stringify(policyOf(s, id));
      expect(text).toContain('aws:ResourceTag/dgm-db-ops');
      expect(text).not.toContain(SECRET_ARN.prod);
      expect(text).not.toContain(SECRET_ARN.reporting);
    }
  });

  it('the placement sampler timeout follows the largest statement timeout of its targets', () => {
    const sampler = placementFunctions(s).find(([id]) => id.includes('Sampler'))![1].Properties.Timeout;
    expect(sampler).toBe(55); // reporting: 5 s + 4 x 10 s + 10 s (prod alone would be 35)
  });

  it('one schedule per job kind for the whole fleet, vacuum switched off, the cron override and the time zone applied', () => {
    const schedules = resourcesOf(s, 'AWS::Scheduler::Schedule').map(([, r]) => r.Properties);
    const tasks = SCHEDULED_TASKS.filter((t) => t !== 'vacuum');
    expect(schedules.map((p) => JSON.parse(p.Target.Input).task).sort()).toEqual([...tasks].sort());
    for (const p of schedules) expect(p.ScheduleExpressionTimezone).toBe('Europe/Berlin');
    expect(schedules.find((p) => JSON.parse(p.Target.Input).task === 'partitions').ScheduleExpression).toBe(
      'cron(30 0 * * ? *)',
    );
  });

  it('shares one set of VPC endpoints; each database accepts the placement Lambdas on its port', () => {
    expect(resourcesOf(s, 'AWS::EC2::VPCEndpoint')).toHaveLength(5);
    const ingress = resourcesOf(s, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties);
    for (const sg of ['sg-0123456789abcdef0', 'sg-0123456789abcdef9']) {
      const toDb = ingress.filter((p) => p.GroupId === sg);
      expect(toDb).toHaveLength(1);
      expect(toDb[0].SourceSecurityGroupId['Fn::GetAtt'][0]).toMatch(
        /^Placementvpc[0-9a-f]+LambdaSecurityGroup/,
      );
    }
  });

  it('no alarm and no dashboard per database', () => {
    const alarms = JSON.stringify(resourcesOf(s, 'AWS::CloudWatch::Alarm'));
    expect(alarms).not.toContain('"prod"');
    expect(alarms).not.toContain('"reporting"');
    expect(
      resourcesOf(s, 'AWS::CloudWatch::Dashboard')
        .map(([, d]) => d.Properties.DashboardName)
        .sort(),
    ).toEqual(['DgmDbOps-database', 'DgmDbOps-fleet']);
  });

  it('acknowledges only real findings', () => {
    expect(unusedAcknowledgements(s)).toEqual([]);
  });

  it('has no unacknowledged cdk-nag finding', () => {
    expect(s.nag.violations.map((v) => v.ruleName)).toEqual([]);
  });
});

describe('a fleet over four VPCs (five placements)', () => {
  let small: Synthesized;
  let large: Synthesized;
  beforeAll(() => {
    small = synthesize(fleetConfig(20), { bundle: false });
    large = synthesize(fleetConfig(150), { bundle: false });
  }, 300_000);
  const count = (syn: Synthesized) => {
    let n = Object.keys(syn.json.Resources).length;
    for (const nested of syn.stack.ingressStacks)
      n += Object.keys(Template.fromStack(nested).toJSON().Resources).length;
    return n;
  };

  it('grows by at most one resource per database (its ingress rule), functions per placement only', () => {
    expect(placementFunctions(small)).toHaveLength(15);
    expect(placementFunctions(large)).toHaveLength(15);
    // 130 more databases, each with a security group of its own: 130 ingress rules and one nested stack.
    expect(count(large) - count(small)).toBe(130 + 1);
    expect(large.stack.ingressStacks).toHaveLength(1);
    for (const syn of [small, large]) {
      expect(Object.keys(syn.json.Resources).length).toBeLessThan(500);
      for (const nested of syn.stack.ingressStacks)
        expect(Object.keys(Template.fromStack(nested).toJSON().Resources).length).toBeLessThanOrEqual(400);
    }
  });

  it('lists every placement for the fan-out; cdk-nag stays clean', () => {
    const fanOut = resourcesOf(large, 'AWS::Lambda::Function').find(([id]) =>
      id.startsWith('FleetFanOut'),
    )![1];
    const placements = JSON.stringify(fanOut.Properties.Environment.Variables.DGM_PLACEMENTS);
    expect(placements.match(/vpc-0{16}[1-4]-[0-9a-f]{6}/g)?.length).toBe(5);
    expect(large.nag.violations.map((v) => v.ruleName)).toEqual([]);
    expect(unusedAcknowledgements(large)).toEqual([]);
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
