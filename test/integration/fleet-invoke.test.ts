import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { tempDir } from '../support/tmp.ts';

/** `dgm-db-ops invoke fanout`: the fan-out handler runs locally over DGM_TARGETS (or the one database). */

const tmp = tempDir('dgm-fleet-invoke');
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

function runCli(args: string[], env: Record<string, string> = {}) {
  return runCliProcess(args, { env: { DATABASE_URL: db.url, ...env }, cwd: tmp });
}

describe('invoke fanout', () => {
  it('samples every target of DGM_TARGETS and reports the one that cannot be reached, exit 1', async () => {
    const u = new URL(db.url);
    const targets = [
      {
        name: `fleet-a-${process.pid}`,
        host: u.hostname,
        port: Number(u.port),
        database: db.name,
        secretArn: 'x',
      },
      {
        name: `fleet-b-${process.pid}`,
        host: u.hostname,
        port: Number(u.port),
        database: db.name,
        secretArn: 'x',
      },
      {
        name: `fleet-gone-${process.pid}`,
        host: u.hostname,
        port: Number(u.port),
        database: 'no_such_db',
        secretArn: 'x',
      },
    ];
    const run = await runCli(['invoke', 'fanout', '--event', '{"task":"sample","concurrency":2}', '--json'], {
      DGM_TARGETS: JSON.stringify(targets),
    });
    expect(run.code, run.stderr.slice(-2000)).toBe(1);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ task: 'sample', targets: 3, succeeded: 2, failed: 1, status: 'failed' });
    expect(result.failures).toEqual([
      expect.objectContaining({ target: `fleet-gone-${process.pid}`, status: 'failed' }),
    ]);
    expect(run.stderr).toContain(
      `metric FanOutTargetFailed{DBInstance=fleet-gone-${process.pid},Job=sample} 1`,
    );
  });

  it('rejects a bad event with one line and exit 2', async () => {
    const run = await runCli(['invoke', 'fanout', '--event', '{"task":"reboot"}']);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('event: task');
  });
});
