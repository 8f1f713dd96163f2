import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCHEDULED_TASKS } from '../../functions/deployment.ts';
import { PROJECT_ROOT } from '../../lib/bundling.ts';
import { tempDir } from '../support/tmp.ts';

/**
 * `npx cdk synth` as a user runs it, with no AWS credentials or config and every HTTP(S) request sent to
 * a dead proxy: synthesis must need neither (no lookups, no context fetched).
 */
function cdkSynth(args: string[]) {
  const home = tempDir('dgm-cdk-home');
  const out = join(home, 'cdk.out');
  const run = spawnSync(
    join(PROJECT_ROOT, 'node_modules/.bin/cdk'),
    ['synth', '--quiet', '--no-notices', '-o', out, ...args],
    {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        AWS_CONFIG_FILE: join(home, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
        AWS_EC2_METADATA_DISABLED: 'true',
        CDK_DISABLE_VERSION_CHECK: '1',
        HTTP_PROXY: 'http://127.0.0.1:9',
        HTTPS_PROXY: 'http://127.0.0.1:9',
        http_proxy: 'http://127.0.0.1:9',
        https_proxy: 'http://127.0.0.1:9',
      },
    },
  );
  return { ...run, out };
}

describe('npx cdk synth', () => {
  it('synthesizes the cdk.json deployment offline, with cdk-nag passing', () => {
    const run = cdkSynth([]);
    expect(run.status, run.stderr.slice(-2000)).toBe(0);
    const template = JSON.parse(readFileSync(join(run.out, 'DgmDbOps.template.json'), 'utf8'));
    const types = Object.values(template.Resources as Record<string, { Type: string }>).map((r) => r.Type);
    expect(types).toContain('AWS::RDS::DBInstance');
    // One schedule per scheduled task: sample, each registered maintenance task, optimize.
    expect(types.filter((t) => t === 'AWS::Scheduler::Schedule').length).toBe(SCHEDULED_TASKS.length);
    expect(existsSync(join(run.out, 'manifest.json'))).toBe(true);
  });

  it('stops with one line per invalid field of the dgm context', () => {
    const run = cdkSynth([
      '-c',
      'dgm={"targets":[{"name":"1st","host":"h","secretArn":"x","securityGroupId":"sg-1","vpc":{"vpcId":"vpc-0123456789abcdef0","availabilityZones":["eu-west-1a"],"subnetIds":["subnet-0123456789abcdef0"]}}],"timeZone":"Mars/Olympus"}',
    ]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('dgm-db-ops: cdk.json context "dgm" is invalid:');
    for (const line of [
      '  targets[0].name: must start with a letter',
      '  targets[0].secretArn: must be a Secrets Manager secret ARN',
      '  targets[0].securityGroupId: must look like sg-0123456789abcdef0',
      '  timeZone: must be an IANA time zone',
      '  targets[0].vpc.routeTableIds: required with network.egress "endpoints"',
    ]) {
      expect(run.stderr).toContain(line);
    }
    expect(existsSync(join(run.out, 'DgmDbOps.template.json'))).toBe(false);
  });

  it("reads a large fleet's dgm context from a file (-c dgm=@file); a missing file stops synth with one line", () => {
    const run = cdkSynth(['-c', 'dgm=@/nonexistent/fleet.json']);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('dgm-db-ops: context "dgm": cannot read /nonexistent/fleet.json');
    expect(run.stderr.split('\n').every((l) => l.length < 1000)).toBe(true);
  });

  it('stops on a target config whose alert thresholds contradict each other (the Lambdas would refuse it)', () => {
    const run = cdkSynth([
      '-c',
      'dgm={"demo":{"config":{"alerting":{"rules":{"lock_waits":{"clear":99}}}}}}',
    ]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(
      'dgm-db-ops: alerting.rules.lock_waits: clear 99 must be below the firing threshold',
    );
    expect(existsSync(join(run.out, 'DgmDbOps.template.json'))).toBe(false);
  });
});
