import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConstitutionMismatchError } from '../../functions/compliance/constitution.ts';
import { beginMutatingRun, readOnlyCompliance } from '../../functions/compliance/guard.ts';
import { parseConfig } from '../../functions/config.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

async function fingerprint() {
  const { rows } = await db.client.query(`
    SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'dgm') AS relations,
           (SELECT string_agg(version::text, ',' ORDER BY version) FROM dgm.schema_migrations) AS migrations,
           (SELECT hash FROM dgm.constitution) AS hash`);
  return rows[0];
}

describe('constitutional compliance', () => {
  it('validates a matching hash and reports the archive compliance score', async () => {
    await db.client.query(
      `INSERT INTO dgm.dgm_archive (status, constitutional_compliance_score) VALUES ('completed', 0.9), ('completed', 0.8)`,
    );
    const run = await beginMutatingRun(db.client, 'test', 'cdd01ef066bc6cf2');
    expect(run.compliance).toEqual({ hash: 'cdd01ef066bc6cf2', validated: true, compliance_score: 0.85 });
    await run.audit.timed('noop', 'dgm.constitution', 'SELECT 1', async () => {});
    const { rows } = await db.client.query(
      `SELECT job, action, status, constitutional_hash, duration_ms FROM dgm.optimization_audit WHERE run_id = $1`,
      [run.audit.runId],
    );
    expect(rows).toEqual([
      {
        job: 'test',
        action: 'noop',
        status: 'succeeded',
        constitutional_hash: 'cdd01ef066bc6cf2',
        duration_ms: expect.any(Number),
      },
    ]);
  });

  it('refuses a mismatching hash: one refused audit row, nothing else changed', async () => {
    const before = await fingerprint();
    const auditBefore = Number(
      (await db.client.query('SELECT count(*) AS n FROM dgm.optimization_audit')).rows[0].n,
    );
    const wrong = parseConfig({ constitutionalHash: 'ffffffffffffffff' });
    // A mutating job (migrate) with the wrong hash.
    await expect(migrate(db.client, wrong)).rejects.toThrow(ConstitutionMismatchError);
    await expect(beginMutatingRun(db.client, 'maintain', wrong.constitutionalHash)).rejects.toThrow(
      /constitutional hash mismatch: configured ffffffffffffffff, database has cdd01ef066bc6cf2/,
    );
    expect(await fingerprint()).toEqual(before);
    const { rows } = await db.client.query(
      `SELECT job, status, constitutional_hash FROM dgm.optimization_audit ORDER BY id OFFSET $1`,
      [auditBefore],
    );
    expect(rows).toEqual([
      { job: 'migrate', status: 'refused', constitutional_hash: 'ffffffffffffffff' },
      { job: 'maintain', status: 'refused', constitutional_hash: 'ffffffffffffffff' },
    ]);
    expect(await readOnlyCompliance(db.client, wrong.constitutionalHash)).toEqual({
      hash: 'ffffffffffffffff',
      validated: false,
      compliance_score: 0,
    });
  });

  it('a fresh install stores the configured hash', async () => {
    const fresh = await createTestDatabase({ migrate: false });
    try {
      await migrate(fresh.client, parseConfig({ constitutionalHash: '0123456789abcdef' }));
      const { rows } = await fresh.client.query('SELECT hash FROM dgm.constitution');
      expect(rows[0].hash).toBe('0123456789abcdef');
    } finally {
      await fresh.drop();
    }
  });
});
