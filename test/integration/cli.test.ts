import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { tempDir } from '../support/tmp.ts';

const CLI = join(import.meta.dirname, '../../bin/dgm-db-ops.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: Record<string, string | undefined> = {}, cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, DATABASE_URL: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
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
const tmp = tempDir('dgm-cli-test');
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

describe('CLI migrate against a given database', () => {
  it('succeeds, and succeeds again changing nothing; --json prints one document', async () => {
    const first = await runCli(['migrate', '--database-url', db.url, '--json']);
    expect(first.code).toBe(0);
    const doc = JSON.parse(first.stdout);
    expect(doc).toMatchObject({
      job: 'migrate',
      status: 'succeeded',
      constitutional_compliance: { validated: true },
    });
    expect(doc.applied.length).toBeGreaterThan(0);
    const second = await runCli(['migrate', '--database-url', db.url, '--json']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ applied: [], message: 'schema is up to date' });
  });

  it('refuses with exit 1 when the configured constitutional hash does not match', async () => {
    const cfg = join(tmp, 'other-hash.json');
    writeFileSync(cfg, JSON.stringify({ constitutionalHash: 'abcdefabcdefabcd' }));
    const r = await runCli(['migrate', '--database-url', db.url, '--config', cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/constitutional hash mismatch/);
  });

  it('honours DATABASE_URL', async () => {
    const r = await runCli(['migrate', '--json'], { DATABASE_URL: db.url });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/embedded/);
  });
});

describe('CLI sample and governance', () => {
  it('a constitution change seen by `sample` starts an optimize run under the new hash', async () => {
    const cfg = join(tmp, 'new-hash.json');
    writeFileSync(cfg, JSON.stringify({ constitutionalHash: '1234567890abcdef' }));
    expect((await runCli(['migrate', '--database-url', db.url])).code).toBe(0);
    // A DBA changes the hash (the trigger records a governance event); the deployed config carries it.
    await db.client.query(`UPDATE dgm.constitution SET hash = '1234567890abcdef'`);
    // cwd: the alert state file (.dgm-db-ops/alerts) goes to the temporary folder.
    const r = await runCli(['sample', '--database-url', db.url, '--config', cfg, '--json'], {}, tmp);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.governance).toMatchObject({
      launched: 1,
      events: [{ new_hash: '1234567890abcdef', action: 'launched' }],
    });
    const { rows } = await db.client.query(
      `SELECT count(*)::int AS n FROM dgm.optimization_audit WHERE job = 'optimize' AND constitutional_hash = '1234567890abcdef'`,
    );
    expect(rows[0].n).toBeGreaterThan(0);
    await db.client.query(`UPDATE dgm.constitution SET hash = 'cdd01ef066bc6cf2'`);
  });
});

describe('CLI with the embedded PostgreSQL', () => {
  it('starts it when no database is given and leaves no server behind', async () => {
    const child = spawn(process.execPath, [CLI, 'migrate', '--json'], {
      env: { ...process.env, DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const seen = new Set<number>();
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // Other test files start CLIs too: this run's server is the one whose parent is this CLI.
    const poll = setInterval(() => {
      for (const [pid, ppid] of embeddedServers()) if (ppid === child.pid) seen.add(pid);
    }, 50);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(poll);
    expect(code).toBe(0);
    expect(stderr).toMatch(/starting an embedded PostgreSQL 18/);
    expect(JSON.parse(stdout).status).toBe('succeeded');
    expect(seen.size).toBe(1);
    const after = embeddedServers();
    expect([...seen].filter((pid) => after.has(pid))).toEqual([]);
  });

  it('stops it on Ctrl-C in the middle of the demo', async () => {
    const child: ChildProcess = spawn(process.execPath, [CLI, 'demo', '--scale', '0.3'], {
      env: { ...process.env, DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const started = new Promise<void>((resolve) => {
      child.stderr!.on('data', (d) => {
        stderr += d;
        if (stderr.includes('loading')) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await started;
    const mine = [...embeddedServers()].filter(([, ppid]) => ppid === child.pid).map(([pid]) => pid);
    expect(mine.length).toBe(1);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const after = embeddedServers();
    expect(mine.filter((pid) => after.has(pid))).toEqual([]);
  });
});

describe('CLI demo on a database of your own', () => {
  it('installs the schema on an empty database, runs every step, and refuses to run on its rows again', async () => {
    const mine = await createTestDatabase({ migrate: false });
    try {
      const r = await runCli(['demo', '--scale', '0.05', '--database-url', mine.url]);
      expect(r.stderr).not.toMatch(/dgm-db-ops: /);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Demo finished in/);
      // The sample shows the reference workload run between its two samples, pruning measured on it.
      expect(r.stdout).toMatch(/^select\s+dgm_archive\s+[1-9]\d*\s/m);
      expect(r.stdout).toMatch(
        /pruning: worst \/ mean scanned share\s+[\d.]+% \/ [\d.]+% over [1-9]\d* statement/,
      );
      const again = await runCli(['demo', '--scale', '0.05', '--database-url', mine.url]);
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/^dgm-db-ops: demo: the database already holds DGM rows/);
    } finally {
      await mine.drop();
    }
  }, 180_000);
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
