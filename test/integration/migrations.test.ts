import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import { MIGRATIONS } from '../../functions/sql/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
});
afterAll(async () => db?.drop());

async function schemaFingerprint() {
  const { rows } = await db.client.query(`
    SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'dgm') AS relations,
           (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'dgm') AS functions,
           (SELECT count(*) FROM dgm.schema_migrations) AS migrations,
           (SELECT count(*) FROM dgm.partition_config) AS partition_sets,
           (SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'dgm' AND c.relkind IN ('r', 'p')) AS tables`);
  return rows[0];
}

describe('migrate', () => {
  it('installs every migration once, and a second run changes nothing', async () => {
    const first = await migrate(db.client, parseConfig({}));
    expect(first.applied.map((a) => a.name)).toEqual(MIGRATIONS.map((m) => m.name));
    const before = await schemaFingerprint();
    const second = await migrate(db.client, parseConfig({}));
    expect(second.applied).toEqual([]);
    expect(second.message).toBe('schema is up to date');
    expect(await schemaFingerprint()).toEqual(before);
    expect(Number(before!.migrations)).toBe(MIGRATIONS.length);
    expect(Number(before!.partition_sets)).toBe(3);
  });

  it('creates the current and premade partitions of each managed set', async () => {
    const { rows } = await db.client.query<{ parent_table: string; n: string }>(
      `SELECT parent_table, count(*) AS n FROM dgm.partition_sizes WHERE level = 1 AND NOT is_default GROUP BY 1 ORDER BY 1`,
    );
    // current month + premake 3 for each set
    expect(rows).toEqual([
      { parent_table: 'compliance_logs', n: '4' },
      { parent_table: 'dgm_archive', n: '4' },
      { parent_table: 'performance_metrics', n: '4' },
    ]);
  });
});
