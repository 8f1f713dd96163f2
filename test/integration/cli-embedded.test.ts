import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess, startCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { tempDir } from '../support/tmp.ts';

// The CLI where the server under test's version plays no part: the embedded PostgreSQL 18 it starts
// itself, bad input refused before any connection, and --help. Runs on pg18 only (vitest.config.ts
// ONE_SERVER_ONLY); the commands against a given database are in cli.test.ts, on both servers.

/** The CLI as a process of its own, DATABASE_URL unset unless given. */
function runCli(args: string[], env: Record<string, string | undefined> = {}, cwd?: string) {
  return runCliProcess(args, { cwd, env: { DATABASE_URL: '', ...env } });
}

/** Embedded postgres servers (data folder dgm-db-ops-pg-*): pid -> parent pid. */
function embeddedServers(): Map<number, number> {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
  const found = new Map<number, number>();
  for (const line of out.split('\n')) {
    const m = line.trim().match(/^(\d+)\s+(\d+)\s+(.*postgres.*-D\s+\S*dgm-db-ops-pg-\S+.*)$/);
    if (m) found.set(Number(m[1]), Number(m[2]));
  }
  return found;
}

let db: TestDatabase;
const tmp = tempDir('dgm-cli-embedded-test');
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
});
afterAll(async () => db?.drop());

describe('CLI bad input: one line on stderr, exit 2, nothing changed', () => {
  it.each([
    [['frobnicate'], /^dgm-db-ops: unknown command 'frobnicate' \(try --help\)\n$/],
    [['migrate', '--frob'], /^dgm-db-ops: migrate: Unknown option '--frob'.*\n$/],
    [['migrate', '--database-url', 'not a url'], /^dgm-db-ops: --database-url is not a valid URL.*\n$/],
    [
      ['migrate', '--database-url', 'mysql://x@localhost/db'],
      /must start with postgres:\/\/ or postgresql:\/\//,
    ],
    [
      ['migrate', '--database-url', 'postgres://nobody@127.0.0.1:1/none'],
      /^dgm-db-ops: --database-url: cannot connect to 127\.0\.0\.1:1\/none: .*\n$/,
    ],
  ])('%j', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });

  it('a config file that fails validation names each bad field and changes nothing', async () => {
    const bad = join(tmp, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({ monitoring: { slowQueryThresholdMs: -5 }, constitutionalHash: 'XYZ', colour: 'red' }),
    );
    const r = await runCli(['migrate', '--database-url', db.url, '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/monitoring\.slowQueryThresholdMs: Too small/);
    expect(r.stderr).toMatch(/constitutionalHash: must be 16 to 64 lowercase hex digits/);
    expect(r.stderr).toMatch(/Unrecognized key: "colour"/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const { rows } = await db.client.query(`SELECT to_regnamespace('dgm') AS s`);
    expect(rows[0].s).toBeNull();
  });

  it('a config file that is not JSON is bad input too', async () => {
    const bad = join(tmp, 'broken.json');
    writeFileSync(bad, '{ nope');
    const r = await runCli(['migrate', '--database-url', db.url, '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not valid JSON/);
  });
});

describe('CLI with the embedded PostgreSQL', () => {
  it('starts it when no database is given and leaves no server behind', async () => {
    const run = startCliProcess(['migrate', '--json'], { env: { DATABASE_URL: '' } });
    const seen = new Set<number>();
    // Other test files start CLIs too: this run's server is the one whose parent is this CLI.
    const poll = setInterval(() => {
      for (const [pid, ppid] of embeddedServers()) if (ppid === run.child.pid) seen.add(pid);
    }, 50);
    const { code, stdout, stderr } = await run.done;
    clearInterval(poll);
    expect(code).toBe(0);
    expect(stderr).toMatch(/starting an embedded PostgreSQL 18/);
    expect(JSON.parse(stdout).status).toBe('succeeded');
    expect(seen.size).toBe(1);
    const after = embeddedServers();
    expect([...seen].filter((pid) => after.has(pid))).toEqual([]);
  });

  it('stops it on Ctrl-C in the middle of the demo', async () => {
    const run = startCliProcess(['demo', '--scale', '0.3'], { env: { DATABASE_URL: '' } });
    const { child } = run;
    const started = new Promise<void>((resolve) => {
      child.stderr!.on('data', () => {
        if (run.stderr().includes('loading')) resolve();
      });
    });
    const exited = run.done.then((r) => r.code);
    await started;
    const mine = [...embeddedServers()].filter(([, ppid]) => ppid === child.pid).map(([pid]) => pid);
    expect(mine.length).toBe(1);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const after = embeddedServers();
    expect(mine.filter((pid) => after.has(pid))).toEqual([]);
  });
});

describe('CLI help', () => {
  it('lists every command', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of [
      'demo',
      'migrate',
      'sample',
      'metrics',
      'alerts',
      'maintain',
      'optimize',
      'report',
      'invoke',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${c}\\s`, 'm'));
    }
  });
});
