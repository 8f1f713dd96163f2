import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// The psql API isolates each partition set (migration 009): one set whose step fails is rolled back
// alone and reported; every other set's rows still leave their default partition in the same call.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

const count = async (sql: string) => Number((await db.client.query<{ n: string }>(sql)).rows[0]!.n);

describe('dgm.daily_partition_maintenance() per partition set', () => {
  it('a broken set fails alone: the healthy set is maintained, the broken one keeps its rows, both audited', async () => {
    await db.client.query(`
      CREATE SCHEMA iso;
      CREATE TABLE iso.healthy (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
      CREATE TABLE iso.healthy_default PARTITION OF iso.healthy DEFAULT;
      CREATE TABLE iso.broken (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
      CREATE TABLE iso.broken_default PARTITION OF iso.broken DEFAULT;
      INSERT INTO iso.healthy SELECT g, now() FROM generate_series(1, 50) g;
      INSERT INTO iso.broken SELECT g, now() FROM generate_series(1, 30) g;
      -- Moving rows out of this default partition fails: its set cannot be maintained.
      CREATE FUNCTION iso.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'iso.broken_default refuses deletes'; END $$;
      CREATE TRIGGER refuse BEFORE DELETE ON iso.broken_default FOR EACH ROW EXECUTE FUNCTION iso.refuse();
      INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval, premake)
      VALUES ('iso.healthy', 'ts', '1 month', 1), ('iso.broken', 'ts', '1 month', 1)`);

    const { rows } = await db.client.query<{ r: Record<string, unknown> }>(
      'SELECT dgm.daily_partition_maintenance() AS r',
    );
    const r = rows[0]!.r;
    expect(r.status).toBe('failed');
    expect(r.rows_moved).toBe(50);
    expect(r.failed).toEqual([
      { parent_table: 'iso.broken', error: expect.stringContaining('refuses deletes') },
    ]);
    // The healthy set was maintained in the same call; the broken one is untouched (rolled back whole).
    expect(await count('SELECT count(*) AS n FROM iso.healthy_default')).toBe(0);
    expect(await count('SELECT count(*) AS n FROM iso.healthy')).toBe(50);
    expect(
      await count(`SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'iso.healthy'::regclass`),
    ).toBeGreaterThanOrEqual(3);
    expect(await count('SELECT count(*) AS n FROM iso.broken_default')).toBe(30);
    expect(
      await count(`SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'iso.broken'::regclass`),
    ).toBe(1);
    const { rows: audit } = await db.client.query<{ action: string; target: string; status: string }>(
      `SELECT action, target, status FROM dgm.optimization_audit
       WHERE job = 'sql:daily_partition_maintenance' AND (target LIKE 'iso.%' OR details ->> 'parent_table' LIKE 'iso.%')
       ORDER BY id`,
    );
    expect(audit).toContainEqual({ action: 'partition_set', target: 'iso.broken', status: 'failed' });
    expect(audit.filter((a) => a.status === 'succeeded').length).toBeGreaterThan(0);
    expect(audit.filter((a) => a.status === 'failed')).toHaveLength(1);

    // Once the set is repaired, the next call finishes it.
    await db.client.query('DROP TRIGGER refuse ON iso.broken_default');
    const { rows: again } = await db.client.query<{ r: Record<string, unknown> }>(
      'SELECT dgm.daily_partition_maintenance() AS r',
    );
    expect(again[0]!.r).toMatchObject({ status: 'succeeded', rows_moved: 30 });
    expect(await count('SELECT count(*) AS n FROM iso.broken_default')).toBe(0);
  });

  it('the functions say so in their comments', async () => {
    const { rows } = await db.client.query<{ name: string; comment: string | null }>(
      `SELECT p.proname::text AS name, obj_description(p.oid, 'pg_proc') AS comment FROM pg_proc p
       WHERE p.pronamespace = 'dgm'::regnamespace
         AND p.proname IN ('daily_partition_maintenance', 'cleanup_old_partitions', 'create_partitions', 'run_partition_sets')
       ORDER BY 1`,
    );
    expect(rows.map((r) => r.name)).toEqual([
      'cleanup_old_partitions',
      'create_partitions',
      'daily_partition_maintenance',
      'run_partition_sets',
    ]);
    for (const r of rows) expect(r.comment).toMatch(/partition set/);
  });
});
