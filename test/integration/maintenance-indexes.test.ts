import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { maintain } from '../../functions/jobs/maintain.ts';
import { silentLogger } from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.client.query(`
    CREATE SCHEMA ix;
    CREATE TABLE ix.t (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL);
    INSERT INTO ix.t SELECT g, g % 50000, repeat('x', 20) FROM generate_series(1, 200000) g;
    CREATE INDEX t_v_idx ON ix.t (v);`);
});
afterAll(async () => db?.drop());

const config = (maintenance: Record<string, unknown> = {}) =>
  parseConfig({ maintenance: { schemas: ['ix'], reindexMinBytes: 512 * 1024, ...maintenance } });

async function indexBytes(name: string): Promise<number> {
  const { rows } = await db.client.query<{ b: string }>('SELECT pg_relation_size($1::regclass) AS b', [name]);
  return Number(rows[0]!.b);
}

/**
 * Deletes rows, then VACUUM ANALYZE with the delete already counted in the table statistics (counts are
 * flushed asynchronously; counted after the ANALYZE they would make its statistics look stale).
 */
async function deleteAndVacuum(where: string): Promise<void> {
  const deleted = async () =>
    Number(
      (
        await db.client.query<{ n: string }>(
          `SELECT coalesce(n_tup_del, 0) AS n FROM pg_stat_user_tables WHERE relid = 'ix.t'::regclass`,
        )
      ).rows[0]?.n ?? 0,
    );
  const before = await deleted();
  const { rowCount } = await db.client.query(`DELETE FROM ix.t WHERE ${where}`);
  expect(rowCount).toBeGreaterThan(0);
  await db.client.query('SELECT pg_stat_force_next_flush()');
  for (let i = 0; i < 200 && (await deleted()) < before + (rowCount ?? 0); i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
  await db.client.query('VACUUM ix.t');
  await db.client.query('ANALYZE ix.t');
}

const indexNames = async () =>
  (
    await db.client.query<{ name: string; valid: boolean }>(
      `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'ix' ORDER BY 1`,
    )
  ).rows;

describe('index health', () => {
  it('rebuilds a bloated btree with REINDEX CONCURRENTLY, after a dry run that changes nothing', async () => {
    // Nine rows in ten deleted: the index keeps its pages, mostly empty.
    await deleteAndVacuum('id % 10 <> 0');
    const before = await indexBytes('ix.t_v_idx');

    const dry = await maintain(db.client, config(), { task: 'indexes', dryRun: true, logger: silentLogger });
    expect(dry.actions.map((a) => [a.kind, a.target, a.status])).toEqual([
      ['reindex', '"ix"."t_pkey"', 'planned'],
      ['reindex', '"ix"."t_v_idx"', 'planned'],
    ]);
    const finding = dry.findings.indexes!.bloated.find((b) => b.index === '"ix"."t_v_idx"')!;
    expect(finding.bloatRatio).toBeGreaterThan(0.7);
    expect(await indexBytes('ix.t_v_idx')).toBe(before);

    const run = await maintain(db.client, config(), { task: 'indexes', logger: silentLogger });
    expect(run.actions.map((a) => [a.kind, a.target, a.status])).toEqual([
      ['reindex', '"ix"."t_pkey"', 'succeeded'],
      ['reindex', '"ix"."t_v_idx"', 'succeeded'],
    ]);
    expect(await indexBytes('ix.t_v_idx')).toBeLessThan(before * 0.3);
    expect(await indexNames()).toEqual([
      { name: 't_pkey', valid: true },
      { name: 't_v_idx', valid: true },
    ]);
    // Rebuilt, the estimate is low: the next run leaves them alone.
    const again = await maintain(db.client, config(), { task: 'indexes', logger: silentLogger });
    expect(again.actions).toEqual([]);
  });

  it('drops the leftovers of a failed concurrent build of its own right away, and audits the failure', async () => {
    await deleteAndVacuum('id % 20 = 0');
    // An old snapshot in this database: REINDEX CONCURRENTLY must wait for it before it can finish.
    const holder = await db.connect();
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT count(*) FROM dgm.constitution');
    try {
      const tight = config({ lockTimeoutMs: 300, lockRetries: 1, retryBackoffMs: 10, reindexMinBytes: 8192 });
      const result = await maintain(db.client, tight, {
        task: 'indexes',
        logger: silentLogger,
      });
      const reindex = result.actions.filter((a) => a.kind === 'reindex');
      expect(reindex.length).toBeGreaterThan(0);
      for (const a of reindex) {
        expect(a.status).toBe('failed');
        expect(a.attempts).toBe(2);
        expect(a.error).toMatch(/lock timeout/);
      }
      expect(result.status).toBe('failed');
    } finally {
      await holder.query('ROLLBACK');
    }
    // No _ccnew index is left behind, and the original indexes are intact.
    expect(await indexNames()).toEqual([
      { name: 't_pkey', valid: true },
      { name: 't_v_idx', valid: true },
    ]);
    const { rows } = await db.client.query(
      `SELECT DISTINCT status FROM dgm.optimization_audit WHERE action = 'reindex' AND error LIKE '%lock timeout%'`,
    );
    expect(rows).toEqual([{ status: 'failed' }]);
  });

  it('drops INVALID indexes known from the audit as ours, and only those', async () => {
    await db.client.query('CREATE TABLE ix.d (k int)');
    await db.client.query('INSERT INTO ix.d SELECT g % 3 FROM generate_series(1, 30) g');
    // Three failed concurrent builds: one of ours (audited), one REINDEX of ours, one of someone else.
    for (const name of ['ours_failed', 'someone_elses']) {
      await expect(db.client.query(`CREATE UNIQUE INDEX CONCURRENTLY ${name} ON ix.d (k)`)).rejects.toThrow(
        /could not create unique index/,
      );
    }
    await db.client.query('CREATE INDEX d_k_idx ON ix.d (k)');
    const other = await db.connect();
    const blocker = await db.connect();
    await blocker.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await blocker.query('SELECT 1 FROM dgm.constitution');
    await other.query(`SET lock_timeout = '200ms'`);
    await expect(other.query('REINDEX INDEX CONCURRENTLY ix.d_k_idx')).rejects.toThrow(/lock timeout/);
    await blocker.query('ROLLBACK');
    await db.client.query(
      `INSERT INTO dgm.optimization_audit (job, action, target, sql, status, error)
       VALUES ('optimize', 'create_index_concurrently', 'ix.ours_failed', 'CREATE UNIQUE INDEX CONCURRENTLY ours_failed ON ix.d (k)', 'failed', 'duplicate key'),
              ('maintain', 'reindex', '"ix"."d_k_idx"', 'REINDEX INDEX CONCURRENTLY "ix"."d_k_idx"', 'failed', 'lock timeout')`,
    );
    expect((await indexNames()).filter((i) => !i.valid).map((i) => i.name)).toEqual([
      'd_k_idx_ccnew',
      'ours_failed',
      'someone_elses',
    ]);
    const result = await maintain(db.client, config(), { task: 'indexes', logger: silentLogger });
    expect(
      result.actions.filter((a) => a.kind === 'drop_invalid_index').map((a) => [a.target, a.status]),
    ).toEqual([
      ['"ix"."d_k_idx_ccnew"', 'succeeded'],
      ['"ix"."ours_failed"', 'succeeded'],
    ]);
    expect((await indexNames()).filter((i) => !i.valid).map((i) => i.name)).toEqual(['someone_elses']);
    expect(result.findings.indexes!.invalid.find((f) => f.index === '"ix"."someone_elses"')).toMatchObject({
      action: 'report',
    });
  });

  it('reports unused and duplicate indexes, and drops them only when configured', async () => {
    await db.client.query(`
      CREATE INDEX t_v_dup ON ix.t (v);
      CREATE UNIQUE INDEX t_id_unique ON ix.t (id);
      CREATE INDEX t_pad_idx ON ix.t (pad);
      CREATE INDEX t_auto_idx ON ix.t (pad, v);
      INSERT INTO dgm.auto_indexes (index_schema, index_name, table_schema, table_name, definition, status)
        VALUES ('ix', 't_auto_idx', 'ix', 't', 'CREATE INDEX t_auto_idx ON ix.t (pad, v)', 'active');
      SET enable_seqscan = off;
      SELECT count(*) FROM ix.t WHERE v = 7;
      RESET enable_seqscan;
      SELECT pg_stat_force_next_flush()`);
    // Index usage statistics are flushed asynchronously: wait until that scan is counted (under load the
    // flush can take seconds; going on without it, both copies of (v) look unused and both are dropped).
    for (let i = 0; ; i++) {
      const { rows } = await db.client.query<{ n: string }>(
        `SELECT coalesce(sum(idx_scan), 0) AS n FROM pg_stat_all_indexes WHERE indexrelname IN ('t_v_idx', 't_v_dup')`,
      );
      if (Number(rows[0]!.n) > 0) break;
      if (i >= 600) throw new Error('the index scan on ix.t (v) was never counted in pg_stat_all_indexes');
      await new Promise((r) => setTimeout(r, 100));
    }
    const dupes = (r: Awaited<ReturnType<typeof maintain>>) =>
      r.findings.indexes!.duplicates.map((d) => [d.index, d.duplicateOf, d.action]);
    const reported = await maintain(db.client, config(), {
      task: 'indexes',
      dryRun: true,
      logger: silentLogger,
    });
    expect(dupes(reported)).toEqual(
      expect.arrayContaining([
        ['"ix"."t_v_dup"', '"ix"."t_v_idx"', 'report'],
        ['"ix"."t_id_unique"', '"ix"."t_pkey"', 'report'],
      ]),
    );
    const unused = reported.findings.indexes!.unused.map((u) => u.index);
    expect(unused).toContain('"ix"."t_pad_idx"');
    expect(unused).not.toContain('"ix"."t_pkey"');
    // Configured to drop, but usage statistics younger than a week do not prove an index unused.
    const young = await maintain(db.client, config({ dropUnusedIndexes: true }), {
      task: 'indexes',
      dryRun: true,
      logger: silentLogger,
    });
    expect(young.actions.filter((a) => a.kind === 'drop_unused_index')).toEqual([]);
    expect(young.findings.indexes!.unused.find((u) => u.index === '"ix"."t_pad_idx"')?.note).toMatch(
      /cover only/,
    );

    const dropping = await maintain(
      db.client,
      config({ dropUnusedIndexes: true, dropDuplicateIndexes: true, unusedIndexMinStatsDays: 0 }),
      { task: 'indexes', logger: silentLogger },
    );
    expect(dropping.status).toBe('succeeded');
    const names = (await indexNames()).map((i) => i.name);
    expect(names).not.toContain('t_v_dup');
    expect(names).not.toContain('t_id_unique');
    expect(names).not.toContain('t_pad_idx');
    // Unused too, but the optimizer's: its probation decides.
    expect(names).toEqual(expect.arrayContaining(['t_pkey', 't_v_idx', 't_auto_idx']));
    expect(dropping.findings.indexes!.unused.find((u) => u.index === '"ix"."t_auto_idx"')?.action).toBe(
      'report',
    );
  });
});
