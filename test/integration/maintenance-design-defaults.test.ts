import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { maintain } from '../../functions/jobs/maintain.ts';
import { silentLogger } from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// The maintenance tasks' defaults name no application table: the reference design's extended statistics
// and rolling index are created and registered with its schema (migration 012), and the tasks discover
// such objects in any application the same way.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

describe("the design's maintenance objects live with its schema", () => {
  it('migration 012 creates the extended statistics on its parents and registers its rolling index', async () => {
    const { rows } = await db.client.query<{
      name: string;
      tbl: string;
      kinds: string[];
      comment: string | null;
    }>(
      `SELECT e.stxname::text AS name, e.stxrelid::regclass::text AS tbl, e.stxkind::text[] AS kinds,
              obj_description(e.oid, 'pg_statistic_ext') AS comment
       FROM pg_statistic_ext e WHERE e.stxnamespace = 'dgm'::regnamespace
         AND e.stxrelid IN ('dgm.performance_metrics'::regclass, 'dgm.dgm_archive'::regclass, 'dgm.compliance_logs'::regclass)
       ORDER BY 1`,
    );
    expect(rows.map((r) => [r.name, r.tbl, [...r.kinds].sort()])).toEqual([
      ['compliance_logs_compliance_level_workspace_id_stx', 'dgm.compliance_logs', ['d', 'f', 'm']],
      ['dgm_archive_status_workspace_id_stx', 'dgm.dgm_archive', ['d', 'f', 'm']],
      ['performance_metrics_metric_name_timestamp_stx', 'dgm.performance_metrics', ['d', 'f']],
    ]);
    for (const r of rows) expect(r.comment).toMatch(/reference design/);
    const { rows: rolling } = await db.client.query(
      'SELECT index_name, keep_months FROM dgm.rolling_indexes',
    );
    expect(rolling).toEqual([{ index_name: 'dgm.idx_performance_metrics_recent', keep_months: 1 }]);
  });

  it('with the default config the statistics task puts them on the leaves, and the config names none of it', async () => {
    const config = parseConfig({});
    expect(config.maintenance.extendedStatistics).toEqual([]);
    expect(config.maintenance.rollingIndexes).toEqual([]);
    const result = await maintain(db.client, config, { task: 'statistics', logger: silentLogger });
    expect(result.actions.filter((a) => a.status === 'failed')).toEqual([]);
    const { rows } = await db.client.query<{ leaf: string; sets: string }>(
      `SELECT t.relid::text AS leaf,
              (SELECT string_agg(e.stxkind::text, ' ' ORDER BY e.stxkind::text) FROM pg_statistic_ext e WHERE e.stxrelid = t.relid) AS sets
       FROM unnest(ARRAY['dgm.performance_metrics', 'dgm.compliance_logs']::regclass[]) r(oid)
       CROSS JOIN LATERAL pg_partition_tree(r.oid) t WHERE t.isleaf ORDER BY 1`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const r of rows)
      expect([r.leaf, r.sets]).toEqual([r.leaf, r.leaf.includes('performance') ? '{d,f}' : '{d,f,m}']);
    const again = await maintain(db.client, config, { task: 'statistics', logger: silentLogger });
    expect(again.actions.filter((a) => a.kind === 'create_statistics')).toEqual([]);
  });
});

describe('an application database', () => {
  beforeAll(async () => {
    await db.client.query(`
      CREATE SCHEMA app;
      CREATE TABLE app.orders (id int NOT NULL, region text NOT NULL, city text NOT NULL, at date NOT NULL)
        PARTITION BY RANGE (at);
      CREATE TABLE app.orders_1 PARTITION OF app.orders FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
      CREATE TABLE app.orders_2 PARTITION OF app.orders FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
      CREATE STATISTICS app.orders_geo (dependencies) ON region, city FROM app.orders;
      CREATE TABLE app.flat (id int NOT NULL, a int, b int);
      CREATE STATISTICS app.flat_ab (ndistinct) ON a, b FROM app.flat;
      CREATE TABLE app.events (id int NOT NULL, at timestamptz NOT NULL);
      CREATE INDEX events_recent ON app.events (at) WHERE at >= '2020-01-01 00:00:00+00'::timestamptz;
      INSERT INTO app.events SELECT g, now() - g * interval '1 hour' FROM generate_series(1, 500) g`);
  });

  it("mirrors the extended statistics defined on its partitioned tables onto the leaves, and plans nothing of the design's", async () => {
    const config = parseConfig({ maintenance: { schemas: ['app'] } });
    const dry = await maintain(db.client, config, { task: 'statistics', dryRun: true, logger: silentLogger });
    const created = dry.actions.filter((a) => a.kind === 'create_statistics');
    expect(created.map((a) => a.target).sort()).toEqual(['"app"."orders_1"', '"app"."orders_2"']);
    expect(created[0]!.reason).toContain('(dependencies) on correlated columns region, city');
    // Nothing planned names the design's tables (their statistics are already on every leaf here).
    expect(
      dry.actions.filter((a) => /performance_metrics|dgm_archive|compliance_logs/.test(a.target)),
    ).toEqual([]);
    // A configured entry for the same columns wins: its kinds, no second object.
    const configured = parseConfig({
      maintenance: {
        schemas: ['app'],
        extendedStatistics: [{ table: 'app.orders', columns: ['city', 'region'], kinds: ['mcv'] }],
      },
    });
    const dry2 = await maintain(db.client, configured, {
      task: 'statistics',
      dryRun: true,
      logger: silentLogger,
    });
    const created2 = dry2.actions.filter(
      (a) => a.kind === 'create_statistics' && a.target.startsWith('"app"'),
    );
    expect(created2.map((a) => a.reason)).toEqual([
      'extended statistics (mcv) on correlated columns city, region',
      'extended statistics (mcv) on correlated columns city, region',
    ]);
  });

  it('rolls a partial index registered in dgm.rolling_indexes, and the config wins for the same index', async () => {
    await db.client.query(
      `INSERT INTO dgm.rolling_indexes (index_name, keep_months) VALUES ('app.events_recent', 2)`,
    );
    const config = parseConfig({ maintenance: { schemas: ['app'] } });
    const result = await maintain(db.client, config, {
      task: 'partitions',
      logger: silentLogger,
      sleep: async () => {},
    });
    expect(result.actions.filter((a) => a.status === 'failed')).toEqual([]);
    const predicate = async () =>
      (
        await db.client.query<{ pred: string }>(
          `SELECT pg_get_expr(indpred, indrelid) AS pred FROM pg_index WHERE indexrelid = 'app.events_recent'::regclass`,
        )
      ).rows[0]!.pred;
    const now = new Date();
    const cutoff = (months: number) =>
      new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - months, 1)).toISOString().slice(0, 10);
    expect(await predicate()).toContain(`'${cutoff(2)} 00:00:00+00'`);
    const overridden = parseConfig({
      maintenance: { schemas: ['app'], rollingIndexes: [{ index: 'app.events_recent', keepMonths: 0 }] },
    });
    await maintain(db.client, overridden, {
      task: 'partitions',
      logger: silentLogger,
      sleep: async () => {},
    });
    // (A cutoff only moves forward: the config's keepMonths 0 replaces the registered 2.)
    expect(await predicate()).toContain(`'${cutoff(0)} 00:00:00+00'`);
  });
});
