import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

const count = async (sql: string) => Number((await db.client.query<{ n: string }>(sql)).rows[0]!.n);

describe('the DBA SQL API', () => {
  it('dgm.daily_partition_maintenance() creates the partition rows in default belong to, moving them without loss', async () => {
    // Six months ahead is past the premade partitions: these rows wait in the default partitions.
    await db.client.query(`
      INSERT INTO dgm.performance_metrics (metric_name, metric_value, "timestamp")
      SELECT 'future', g, date_trunc('month', now()) + interval '6 months' + g * interval '1 minute' FROM generate_series(1, 500) g;
      INSERT INTO dgm.dgm_archive (status, constitutional_compliance_score, created_at)
      SELECT (ARRAY['completed', 'failed', 'odd'])[1 + g % 3], 0.5, date_trunc('month', now()) + interval '6 months' + g * interval '1 minute'
      FROM generate_series(1, 300) g`);
    expect(await count('SELECT count(*) AS n FROM dgm.performance_metrics_default')).toBe(500);
    const sumBefore = await count(
      `SELECT sum(metric_value) AS n FROM dgm.performance_metrics WHERE metric_name = 'future'`,
    );

    const { rows } = await db.client.query<{ r: Record<string, number> }>(
      'SELECT dgm.daily_partition_maintenance() AS r',
    );
    expect(rows[0]!.r.rows_moved).toBe(800);
    expect(await count('SELECT count(*) AS n FROM dgm.performance_metrics_default')).toBe(0);
    expect(await count('SELECT count(*) AS n FROM dgm.dgm_archive_default')).toBe(0);
    expect(
      await count(`SELECT count(*) AS n FROM dgm.performance_metrics WHERE metric_name = 'future'`),
    ).toBe(500);
    expect(
      await count(`SELECT sum(metric_value) AS n FROM dgm.performance_metrics WHERE metric_name = 'future'`),
    ).toBe(sumBefore);
    const { rows: parts } = await db.client.query<{ part: string; n: string }>(
      `SELECT tableoid::regclass::text AS part, count(*) AS n FROM dgm.dgm_archive
       WHERE created_at >= date_trunc('month', now()) + interval '6 months' GROUP BY 1 ORDER BY 1`,
    );
    expect(parts.map((p) => p.part)).toEqual([
      expect.stringMatching(/_completed$/),
      expect.stringMatching(/_default$/),
      expect.stringMatching(/_failed$/),
    ]);
    expect(parts.reduce((a, p) => a + Number(p.n), 0)).toBe(300);
    // Every step is audited.
    expect(
      await count(
        `SELECT count(*) AS n FROM dgm.optimization_audit WHERE job = 'sql:daily_partition_maintenance' AND status = 'succeeded'`,
      ),
    ).toBeGreaterThanOrEqual(2);
  });

  it('dgm.cleanup_old_partitions(months) drops exactly the partitions older than that', async () => {
    await db.client.query(
      `SELECT dgm.create_partitions(now() - interval '20 months', 'dgm.compliance_logs')`,
    );
    await db.client.query(`
      INSERT INTO dgm.compliance_logs (compliance_level, created_at)
      SELECT 'compliant', date_trunc('month', now()) - g * interval '1 month' + interval '3 days' FROM generate_series(0, 19) g`);
    const old = await count(
      `SELECT count(*) AS n FROM dgm.compliance_logs WHERE created_at < date_trunc('month', now() - interval '12 months')`,
    );
    const total = await count('SELECT count(*) AS n FROM dgm.compliance_logs');
    expect(old).toBeGreaterThan(0);
    await db.client.query('SELECT dgm.cleanup_old_partitions(12)');
    expect(await count('SELECT count(*) AS n FROM dgm.compliance_logs')).toBe(total - old);
    await expect(db.client.query('SELECT dgm.cleanup_old_partitions(0)')).rejects.toThrow(
      /months must be at least 1/,
    );
  });

  it('dgm.slow_queries lists slow statements, and says plainly when pg_stat_statements is missing', async () => {
    await db.client.query(`SET dgm.slow_query_threshold_ms = '0'`);
    await db.client.query('SELECT pg_sleep(0.01)');
    // Looked up by its text: on a loaded machine more than a page of this database's statements (the
    // migrations, the other tests) take longer than 10 ms, so a LIMIT could cut it off.
    const { rows } = await db.client.query(
      `SELECT * FROM dgm.slow_queries WHERE query LIKE 'SELECT pg_sleep(%'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.mean_exec_ms).toBeGreaterThanOrEqual(10);
    await db.client.query('DROP EXTENSION pg_stat_statements');
    await expect(db.client.query('SELECT * FROM dgm.slow_queries')).rejects.toThrow(
      'dgm.slow_queries needs the pg_stat_statements extension',
    );
    await db.client.query('CREATE EXTENSION pg_stat_statements');
  });

  it('dgm.index_usage and dgm.partition_sizes answer the weekly review queries', async () => {
    const { rows: usage } = await db.client.query(`SELECT * FROM dgm.index_usage ORDER BY idx_scan DESC`);
    expect(usage.some((r) => r.parent_index === 'idx_dgm_archive_metadata_gin')).toBe(true);
    const { rows: sizes } = await db.client.query(`SELECT * FROM dgm.partition_sizes WHERE managed`);
    expect(new Set(sizes.map((r) => r.parent_table))).toEqual(
      new Set(['dgm_archive', 'performance_metrics', 'compliance_logs']),
    );
  });
});
