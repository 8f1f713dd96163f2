import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// The SQL API is read in psql (\df+ dgm.*, \dv+ dgm.*, \dt+ dgm.*): every function, procedure, view and
// table the migrations create in schema dgm carries a comment, so a later migration without comments fails
// here. Partitions (created by maintenance, named after their parent) and extension members are not the API.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

interface ApiObject {
  kind: string;
  name: string;
  comment: string | null;
}

async function apiObjects(client: pg.Client): Promise<ApiObject[]> {
  const { rows } = await client.query<ApiObject>(`
    SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END AS kind,
           c.oid::regclass::text AS name, obj_description(c.oid, 'pg_class') AS comment
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'dgm' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                        AND d.deptype = 'e')
    UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
           p.oid::regprocedure::text, obj_description(p.oid, 'pg_proc')
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'dgm'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                        AND d.deptype = 'e')
    UNION ALL
    SELECT 'schema', n.nspname::text, obj_description(n.oid, 'pg_namespace')
    FROM pg_namespace n WHERE n.nspname = 'dgm'
    ORDER BY 1, 2`);
  return rows;
}

const uncommented = (objects: ApiObject[]) =>
  objects.filter((o) => !o.comment?.trim()).map((o) => `${o.kind} ${o.name}`);

describe('the SQL API documents itself (COMMENT ON)', () => {
  it('gives every function, procedure, view and table of schema dgm a comment', async () => {
    const objects = await apiObjects(db.client);
    expect(uncommented(objects)).toEqual([]);
    // The query sees the API: the DBA's entry points are among the objects it checked.
    const names = objects.map((o) => `${o.kind} ${o.name}`);
    for (const expected of [
      'schema dgm',
      'function dgm.daily_partition_maintenance()',
      'function dgm.cleanup_old_partitions(integer)',
      'function dgm.create_partitions(timestamp with time zone,text)',
      'procedure dgm.run_partition_maintenance(jsonb)',
      'view dgm.index_usage',
      'view dgm.slow_queries',
      'view dgm.partition_sizes',
      'table dgm.partition_config',
      'table dgm.optimization_audit',
      'table dgm.schema_migrations',
    ])
      expect(names).toContain(expected);
    expect(objects.filter((o) => o.kind === 'function').length).toBeGreaterThan(15);
    expect(objects.filter((o) => o.kind === 'table').length).toBeGreaterThan(15);
  });

  it('finds an object a later migration would add without a comment', async () => {
    await db.client.query('BEGIN');
    try {
      await db.client.query(
        `CREATE FUNCTION dgm.undocumented_fn(int) RETURNS int LANGUAGE sql AS 'SELECT $1'`,
      );
      await db.client.query('CREATE VIEW dgm.undocumented_view AS SELECT 1 AS one');
      await db.client.query('CREATE TABLE dgm.undocumented_table (id int)');
      expect(uncommented(await apiObjects(db.client))).toEqual([
        'function dgm.undocumented_fn(integer)',
        'table dgm.undocumented_table',
        'view dgm.undocumented_view',
      ]);
    } finally {
      await db.client.query('ROLLBACK');
    }
  });

  it("shows the comments where psql's \\df+ and \\dv+ read them", async () => {
    const { rows } = await db.client.query<{ description: string }>(
      `SELECT pg_catalog.obj_description('dgm.daily_partition_maintenance()'::regprocedure, 'pg_proc') AS description
       UNION ALL
       SELECT pg_catalog.obj_description('dgm.slow_queries'::regclass, 'pg_class')`,
    );
    expect(rows[0]!.description).toMatch(/^Daily partition maintenance from psql/);
    expect(rows[1]!.description).toMatch(/dgm\.slow_query_threshold_ms/);
  });
});
