import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../bin/cli/commands.ts';
import { commandHelp, mainHelp } from '../../bin/cli/help.ts';
import { runCliProcess } from '../support/cli.ts';

const env = { NODE_NO_WARNINGS: '1', DATABASE_URL: '' };

/** Flag lines of a help text whose flag has no description after it. */
function bareFlags(help: string): string[] {
  return help
    .split('\n')
    .filter((l) => /^\s+--/.test(l))
    .filter((l) => !/^\s+--\S+(?: \S+)?(?:, -\w)?\s{2,}\S/.test(l));
}

describe('--help', () => {
  it.each(COMMANDS.map((c) => [c.name, c] as const))(
    '%s: every flag described, with examples',
    (_name, cmd) => {
      for (const flag of Object.keys(cmd.options ?? {})) {
        expect(cmd.flags?.[flag]?.text, `--${flag}`).toMatch(/\w{3}/);
      }
      expect(Object.keys(cmd.flags ?? {}).sort()).toEqual(Object.keys(cmd.options ?? {}).sort());
      expect(cmd.examples.length).toBeGreaterThan(0);
      for (const e of cmd.examples) expect(e).toMatch(new RegExp(`^dgm-db-ops ${cmd.name}\\b`));
      const help = commandHelp(cmd);
      expect(bareFlags(help)).toEqual([]);
      expect(help).toMatch(/\nExamples:\n {2}dgm-db-ops /);
    },
  );

  it('the main help describes every flag', () => {
    expect(bareFlags(mainHelp(COMMANDS))).toEqual([]);
    expect(mainHelp(COMMANDS)).toMatch(/--version, -V\s+print the version/);
  });

  it('--version prints the package version; a command --help goes to stdout with exit 0', async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8'));
    const [v, h] = await Promise.all([
      runCliProcess(['--version'], { env }),
      runCliProcess(['demo', '--help'], { env }),
    ]);
    expect([v.code, h.code]).toEqual([0, 0]);
    expect(v.stdout).toBe(`dgm-db-ops ${version}\n`);
    expect(h.stdout).toMatch(/--scale N\s+workload size/);
    expect(bareFlags(h.stdout)).toEqual([]);
  });

  it('a negative number reaches the command, which answers in its own words (exit 2)', async () => {
    const r = await runCliProcess(['demo', '--scale', '-1'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('dgm-db-ops: demo: --scale must be a number in (0, 10]\n');
  });
});
