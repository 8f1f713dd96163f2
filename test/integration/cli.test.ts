import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { tempDir } from '../support/tmp.ts';

// The CLI's commands against a given database, on each server version. What does not depend on the
// server's version (the embedded server, bad input, --help) is in cli-embedded.test.ts.

/** The CLI as a process of its own, DATABASE_URL unset unless given. */
function runCli(args: string[], env: Record<string, string | undefined> = {}, cwd?: string) {
  return runCliProcess(args, { cwd, env: { DATABASE_URL: '', ...env } });
}

let db: TestDatabase;
const tmp = tempDir('dgm-cli-test');
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
});
afterAll(async () => db?.drop());

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
