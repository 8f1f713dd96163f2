import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MaintainOptions, type MaintainResult, maintain } from '../../functions/jobs/maintain.ts';
import { type Clock, silentLogger } from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.client.query('CREATE SCHEMA m5');
});
afterAll(async () => db?.drop());

const at = (iso: string): Clock => ({ now: () => new Date(iso) });

function run(
  client: pg.Client,
  options: Partial<MaintainOptions> & { clock?: Clock },
): Promise<MaintainResult> {
  return maintain(client, db.config, {
    task: 'partitions',
    logger: silentLogger,
    sleep: async () => {},
    ...options,
  });
}

async function register(
  parent: string,
  column: string,
  interval: string,
  extra: {
    premake?: number;
    retention?: string;
    keep?: boolean;
    sub?: [string, string[]];
    storage?: Record<string, unknown>;
  } = {},
) {
  await db.client.query(
    `INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval, premake, retention,
       retention_keep_table, sub_partition_column, sub_partition_values, storage_parameters)
     VALUES ($1, $2, $3::interval, $4, $5::interval, $6, $7, $8, $9)`,
    [
      parent,
      column,
      interval,
      extra.premake ?? 2,
      extra.retention ?? null,
      extra.keep ?? false,
      extra.sub?.[0] ?? null,
      extra.sub?.[1] ?? null,
      JSON.stringify(extra.storage ?? {}),
    ],
  );
}

/** The partitions of a parent with their bounds, read in UTC. */
async function bounds(parent: string): Promise<Array<{ name: string; bound: string }>> {
  const c = await db.connect();
  try {
    await c.query(`SET TimeZone = 'UTC'`);
    const { rows } = await c.query<{ name: string; bound: string }>(
      `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 2`,
      [parent],
    );
    return rows;
  } finally {
    await c.end();
  }
}

async function fingerprint(table: string) {
  const { rows } = await db.client.query<{ n: string; sum: string | null }>(
    `SELECT count(*) AS n, sum(hashtextextended(t::text, 0)::numeric) AS sum FROM ${table} t`,
  );
  return { n: Number(rows[0]!.n), sum: rows[0]!.sum };
}

describe('partition maintenance', () => {
  it('premakes daily, weekly and monthly sets on UTC boundaries whatever the session or server TimeZone', async () => {
    await db.client.query(`
      CREATE TABLE m5.daily (id bigint, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
      CREATE TABLE m5.weekly (id bigint, ts timestamp NOT NULL) PARTITION BY RANGE (ts);
      CREATE TABLE m5.monthly (id bigint, d date NOT NULL) PARTITION BY RANGE (d)`);
    await register('m5.daily', 'ts', '1 day', { premake: 3 });
    await register('m5.weekly', 'ts', '7 days', { premake: 1 });
    await register('m5.monthly', 'd', '1 month', { premake: 1 });
    // The server's default TimeZone for this database, and a session far east of UTC on top.
    await db.client.query(`ALTER DATABASE ${db.name} SET TimeZone = 'America/Los_Angeles'`);
    const la = await db.connect();
    await la.query(`SET TimeZone = 'Pacific/Kiritimati'`);
    // 23:30 UTC on the day US clocks change (a Sunday): already Monday in Kiritimati.
    const result = await run(la, { clock: at('2026-03-08T23:30:00Z') });
    expect(result.status).toBe('succeeded');
    expect(await bounds('m5.daily')).toEqual([
      {
        name: 'daily_y2026m03d08',
        bound: "FOR VALUES FROM ('2026-03-08 00:00:00+00') TO ('2026-03-09 00:00:00+00')",
      },
      {
        name: 'daily_y2026m03d09',
        bound: "FOR VALUES FROM ('2026-03-09 00:00:00+00') TO ('2026-03-10 00:00:00+00')",
      },
      {
        name: 'daily_y2026m03d10',
        bound: "FOR VALUES FROM ('2026-03-10 00:00:00+00') TO ('2026-03-11 00:00:00+00')",
      },
      {
        name: 'daily_y2026m03d11',
        bound: "FOR VALUES FROM ('2026-03-11 00:00:00+00') TO ('2026-03-12 00:00:00+00')",
      },
    ]);
    // 7-day periods start on Mondays.
    expect(await bounds('m5.weekly')).toEqual([
      {
        name: 'weekly_y2026m03d02',
        bound: "FOR VALUES FROM ('2026-03-02 00:00:00') TO ('2026-03-09 00:00:00')",
      },
      {
        name: 'weekly_y2026m03d09',
        bound: "FOR VALUES FROM ('2026-03-09 00:00:00') TO ('2026-03-16 00:00:00')",
      },
    ]);
    expect(await bounds('m5.monthly')).toEqual([
      { name: 'monthly_y2026m03', bound: "FOR VALUES FROM ('2026-03-01') TO ('2026-04-01')" },
      { name: 'monthly_y2026m04', bound: "FOR VALUES FROM ('2026-04-01') TO ('2026-05-01')" },
    ]);
    // The psql API plans the same in any TimeZone: nothing left to do.
    await la.query(`SET TimeZone = 'Asia/Kathmandu'`);
    const { rows } = await la.query(
      `SELECT action FROM dgm.partition_maintenance_plan(p_now => '2026-03-08 23:30:00+00')
       WHERE parent_table LIKE 'm5.%' AND action <> 'analyze'`,
    );
    expect(rows).toEqual([]);
    await db.client.query(`ALTER DATABASE ${db.name} RESET TimeZone`);
  });

  it('moves rows waiting in the default partition into their new partitions, and rows past retention leave with theirs', async () => {
    await db.client.query(`
      CREATE TABLE m5.events (id bigint GENERATED BY DEFAULT AS IDENTITY, ts timestamptz NOT NULL, v int, note text)
        PARTITION BY RANGE (ts);
      CREATE TABLE m5.events_default PARTITION OF m5.events DEFAULT;
      INSERT INTO m5.events (ts, v, note)
      SELECT ts, g, 'row ' || g FROM (VALUES
        ('2026-01-05 10:00:00+00'::timestamptz),   -- past retention (period ends 2026-02-01 <= cutoff 2026-03-15)
        ('2026-03-20 00:00:00+00'), ('2026-04-01 00:00:00+00'), ('2026-04-30 23:59:59.999999+00'),
        ('2026-06-15 12:00:00+00'), ('2026-09-10 08:00:00+00'), ('2026-09-30 23:59:59+00')) AS x(ts),
        generate_series(1, 25) g`);
    await register('m5.events', 'ts', '1 month', { premake: 2, retention: '3 months' });
    const before = await fingerprint('m5.events');
    const doomed = await fingerprint(`(SELECT * FROM m5.events WHERE ts < '2026-02-01 00:00:00+00') `);
    const kept = await fingerprint(`(SELECT * FROM m5.events WHERE ts >= '2026-02-01 00:00:00+00')`);
    expect(before.n).toBe(175);

    const result = await run(db.client, { clock: at('2026-06-15T00:00:00Z') });
    expect(result.status).toBe('succeeded');
    expect(result.summary.rowsMoved).toBe(175);
    expect(await fingerprint('m5.events_default')).toEqual({ n: 0, sum: null });
    // The January rows were moved into their partition and dropped with it: exactly them, nothing else.
    expect(await fingerprint('m5.events')).toEqual(kept);
    expect(doomed.n).toBe(25);
    const names = (await bounds('m5.events')).map((b) => b.name);
    expect(names).toEqual([
      'events_default',
      'events_y2026m03',
      'events_y2026m04',
      'events_y2026m06',
      'events_y2026m07',
      'events_y2026m08',
      'events_y2026m09',
    ]);
    const kinds = result.actions.filter((a) => a.details?.parent_table === 'm5.events').map((a) => a.kind);
    const steps = result.actions.filter((a) => a.details?.parent_table === 'm5.events');
    expect(steps.map((a) => [a.kind, a.details?.partitions])).toEqual([
      // Each partition with rows waiting in the default in a step of its own (January only to be dropped)...
      ['partition_create', ['m5.events_y2026m01']],
      ['partition_create', ['m5.events_y2026m03']],
      ['partition_create', ['m5.events_y2026m04']],
      ['partition_create', ['m5.events_y2026m06']],
      ['partition_create', ['m5.events_y2026m09']],
      // ...the empty premade ones together.
      ['partition_create', ['m5.events_y2026m07', 'm5.events_y2026m08']],
      ['partition_drop', ['m5.events_y2026m01']],
      ['analyze_parent', undefined],
    ]);
    expect(kinds).toHaveLength(8);
    // Each step is audited with its SQL, in the same transaction as the change.
    const { rows: audit } = await db.client.query<{ n: string }>(
      `SELECT count(*) AS n FROM dgm.optimization_audit WHERE run_id = $1 AND status = 'succeeded' AND sql IS NOT NULL`,
      [result.runId],
    );
    expect(Number(audit[0]!.n)).toBe(result.summary.succeeded);
    // A second run has nothing to do.
    const again = await run(db.client, { clock: at('2026-06-15T00:00:00Z') });
    expect(again.actions.filter((a) => a.details?.parent_table === 'm5.events')).toEqual([]);
  });

  it('detaches and keeps partitions past retention when retention_keep_table is set', async () => {
    await db.client.query(`
      CREATE TABLE m5.kept (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
      CREATE TABLE m5.kept_y2025m12 PARTITION OF m5.kept FOR VALUES FROM ('2025-12-01 00:00:00+00') TO ('2026-01-01 00:00:00+00');
      INSERT INTO m5.kept SELECT g, '2025-12-10 00:00:00+00' FROM generate_series(1, 40) g`);
    await register('m5.kept', 'ts', '1 month', { premake: 1, retention: '2 months', keep: true });
    const result = await run(db.client, { clock: at('2026-04-10T00:00:00Z') });
    expect(result.actions.filter((a) => a.details?.parent_table === 'm5.kept').map((a) => a.kind)).toEqual([
      'partition_create',
      'partition_detach',
      'analyze_parent',
    ]);
    expect(result.summary.partitionsDetached).toBe(1);
    expect((await fingerprint('m5.kept')).n).toBe(0);
    // Detached, not dropped: the table and its rows are still there, outside the set.
    expect((await fingerprint('m5.kept_y2025m12')).n).toBe(40);
    expect((await bounds('m5.kept')).map((b) => b.name)).toEqual(['kept_y2026m04', 'kept_y2026m05']);
  });

  it('list-partitions each new time partition by status, and adds a status configured later under existing months', async () => {
    await db.client.query(`
      CREATE TABLE m5.archive (id int, status text NOT NULL, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at);
      CREATE TABLE m5.archive_default PARTITION OF m5.archive DEFAULT;
      INSERT INTO m5.archive SELECT g, (ARRAY['pending', 'done', 'odd one'])[1 + g % 3], '2026-05-20 00:00:00+00'
      FROM generate_series(1, 90) g`);
    await register('m5.archive', 'created_at', '1 month', {
      premake: 1,
      sub: ['status', ['pending', 'done']],
    });
    const before = await fingerprint('m5.archive');
    const first = await run(db.client, { clock: at('2026-05-01T00:00:00Z') });
    expect(first.status).toBe('succeeded');
    const placement = async () =>
      (
        await db.client.query<{ part: string; n: string }>(
          `SELECT tableoid::regclass::text AS part, count(*) AS n FROM m5.archive GROUP BY 1 ORDER BY 1`,
        )
      ).rows;
    expect(await placement()).toEqual([
      { part: 'm5.archive_y2026m05_default', n: '30' },
      { part: 'm5.archive_y2026m05_done', n: '30' },
      { part: 'm5.archive_y2026m05_pending', n: '30' },
    ]);
    await db.client.query(
      `UPDATE dgm.partition_config SET sub_partition_values = sub_partition_values || 'odd one'::text WHERE parent_table = 'm5.archive'`,
    );
    const second = await run(db.client, { clock: at('2026-05-01T00:00:00Z') });
    expect(
      second.actions
        .filter((a) => a.details?.parent_table === 'm5.archive')
        .map((a) => [a.kind, a.target, a.rowsMoved]),
    ).toEqual([
      ['partition_create_subpartition', 'm5.archive_y2026m05_odd_one', 30],
      ['partition_create_subpartition', 'm5.archive_y2026m06_odd_one', 0],
      ['analyze_parent', 'm5.archive', undefined],
    ]);
    expect(await placement()).toEqual([
      { part: 'm5.archive_y2026m05_done', n: '30' },
      { part: 'm5.archive_y2026m05_odd_one', n: '30' },
      { part: 'm5.archive_y2026m05_pending', n: '30' },
    ]);
    expect(await fingerprint('m5.archive')).toEqual(before);
  });

  it("gives new partitions the parent's indexes, autovacuum settings and statistics targets, and analyzes the parent", async () => {
    await db.client.query(`
      CREATE TABLE m5.metrics (id bigint NOT NULL, ts timestamptz NOT NULL, name text, v float8, PRIMARY KEY (id, ts))
        PARTITION BY RANGE (ts);
      CREATE INDEX metrics_name_idx ON m5.metrics (name, ts DESC);
      ALTER TABLE m5.metrics ALTER COLUMN name SET STATISTICS 700;
      CREATE TABLE m5.metrics_default PARTITION OF m5.metrics DEFAULT;
      INSERT INTO m5.metrics SELECT g, '2026-07-01 00:00:00+00'::timestamptz + g * interval '1 minute', 'm' || (g % 7), g
      FROM generate_series(1, 2000) g`);
    await register('m5.metrics', 'ts', '1 month', {
      premake: 1,
      storage: { autovacuum_vacuum_scale_factor: 0.02, autovacuum_vacuum_cost_delay: 5 },
    });
    const { rows: parentBefore } = await db.client.query<{ reltuples: number }>(
      `SELECT reltuples FROM pg_class WHERE oid = 'm5.metrics'::regclass`,
    );
    expect(parentBefore[0]!.reltuples).toBeLessThan(1);
    await run(db.client, { clock: at('2026-07-02T00:00:00Z') });
    const { rows } = await db.client.query<{
      relname: string;
      reloptions: string[] | null;
      indexes: string[];
      target: number;
    }>(
      `SELECT c.relname, c.reloptions,
              (SELECT array_agg(pg_get_indexdef(i.indexrelid) ORDER BY 1) FROM pg_index i WHERE i.indrelid = c.oid) AS indexes,
              (SELECT coalesce(a.attstattarget, -1) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'name') AS target
       FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
       WHERE h.inhparent = 'm5.metrics'::regclass AND c.relname <> 'metrics_default' ORDER BY 1`,
    );
    expect(rows.map((r) => r.relname)).toEqual(['metrics_y2026m07', 'metrics_y2026m08']);
    for (const r of rows) {
      expect(r.reloptions).toEqual(['autovacuum_vacuum_cost_delay=5', 'autovacuum_vacuum_scale_factor=0.02']);
      expect(r.indexes).toHaveLength(2);
      expect(r.indexes.join('\n')).toMatch(/UNIQUE INDEX .* \(id, ts\)/);
      expect(r.indexes.join('\n')).toMatch(/\(name, ts DESC\)/);
      expect(Number(r.target)).toBe(700);
    }
    const { rows: parentAfter } = await db.client.query<{ reltuples: number }>(
      `SELECT reltuples FROM pg_class WHERE oid = 'm5.metrics'::regclass`,
    );
    expect(parentAfter[0]!.reltuples).toBe(2000);
  });

  it('a dry run prints the plan of the one SQL planner and changes nothing', async () => {
    await db.client.query(`
      CREATE TABLE m5.dry (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
      CREATE TABLE m5.dry_default PARTITION OF m5.dry DEFAULT;
      INSERT INTO m5.dry VALUES (1, '2027-01-15 00:00:00+00')`);
    await register('m5.dry', 'ts', '1 month', { premake: 2, retention: '1 month' });
    const state = async () =>
      (
        await db.client.query(
          `SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('m5', 'dgm')) AS rels,
                  (SELECT count(*) FROM dgm.optimization_audit) AS audit,
                  (SELECT count(*) FROM m5.dry_default) AS waiting`,
        )
      ).rows[0];
    const before = await state();
    const clock = at('2026-10-03T00:00:00Z');
    const dry = await run(db.client, { clock, dryRun: true });
    expect(dry.status).toBe('planned');
    expect(await state()).toEqual(before);
    const planned = dry.actions.filter((a) => a.details?.parent_table === 'm5.dry');
    expect(planned.map((a) => a.status)).toEqual(planned.map(() => 'planned'));
    // The Lambda/CLI plan is the psql planner's plan, statement for statement.
    const { rows } = await db.client.query<{ statements: string[] }>(
      `SELECT statements FROM dgm.partition_maintenance_plan(p_now => $1, p_parent => 'm5.dry') ORDER BY step`,
      [clock.now()],
    );
    expect(planned.map((a) => a.sql)).toEqual(rows.map((r) => r.statements.join(';\n')));
    expect(planned.some((a) => a.sql.includes('WITH moved AS (DELETE FROM m5.dry_default'))).toBe(true);
  });

  it('CALL dgm.run_partition_maintenance() commits step by step, as the Lambda does', async () => {
    await db.client.query(`
      CREATE TABLE m5.proc (id int, ts timestamptz NOT NULL) PARTITION BY RANGE (ts);
      CREATE TABLE m5.proc_default PARTITION OF m5.proc DEFAULT;
      INSERT INTO m5.proc SELECT g, now() + interval '8 months' FROM generate_series(1, 10) g`);
    await register('m5.proc', 'ts', '1 month', { premake: 1 });
    const { rows } = await db.client.query<{ result: Record<string, unknown> }>(
      'CALL dgm.run_partition_maintenance(NULL)',
    );
    // Every registered set is maintained at today's date, this one's ten rows among those moved.
    expect(rows[0]!.result).toMatchObject({ status: 'succeeded', failed: 0 });
    expect(Number(rows[0]!.result.rows_moved)).toBeGreaterThanOrEqual(10);
    expect((await fingerprint('m5.proc_default')).n).toBe(0);
    expect((await fingerprint('m5.proc')).n).toBe(10);
    const { rows: audit } = await db.client.query<{ runs: string }>(
      `SELECT count(DISTINCT run_id) AS runs FROM dgm.optimization_audit WHERE job = 'sql:run_partition_maintenance'`,
    );
    // One audit run per committed step.
    expect(Number(audit[0]!.runs)).toBe(Number(rows[0]!.result.steps));
  });

  it('rolls the recent-metrics partial index cutoff forward with concurrent builds, never failing a writer', async () => {
    await db.client.query(`
      INSERT INTO dgm.performance_metrics (metric_name, metric_value, "timestamp")
      SELECT 'load.m' || (g % 20), g, date_trunc('month', now()) - interval '2 months' + g * interval '20 seconds'
      FROM generate_series(1, 20000) g`);
    const predicate = async () =>
      (
        await db.client.query<{ pred: string; valid: boolean }>(
          `SELECT pg_get_expr(i.indpred, i.indrelid) AS pred, i.indisvalid AS valid FROM pg_index i
           WHERE i.indexrelid = 'dgm.idx_performance_metrics_recent'::regclass`,
        )
      ).rows[0]!;
    const before = await predicate();
    // Three months later the cutoff must be the first day of the previous month.
    const later = new Date();
    later.setUTCMonth(later.getUTCMonth() + 3, 15);
    const wanted = new Date(Date.UTC(later.getUTCFullYear(), later.getUTCMonth() - 1, 1))
      .toISOString()
      .slice(0, 10);
    expect(before.pred).not.toContain(wanted);

    const writer = await db.connect();
    let stop = false;
    let inserted = 0;
    const failures: string[] = [];
    const load = (async () => {
      while (!stop) {
        try {
          await writer.query(
            `INSERT INTO dgm.performance_metrics (metric_name, metric_value, "timestamp") VALUES ('during.roll', 1, now())`,
          );
          inserted++;
        } catch (err) {
          failures.push(String(err));
        }
      }
    })();
    const result = await run(db.client, { clock: { now: () => later } });
    stop = true;
    await load;
    expect(failures).toEqual([]);
    expect(inserted).toBeGreaterThan(0);
    const rolled = result.actions.filter(
      (a) => a.target.includes('idx_performance_metrics_recent') || a.kind.includes('index'),
    );
    expect(rolled.filter((a) => a.status !== 'succeeded')).toEqual([]);
    expect(rolled.map((a) => a.kind)).toContain('create_index_concurrently');
    expect(rolled.at(-1)?.kind).toBe('swap_partial_index');
    const after = await predicate();
    expect(after.valid).toBe(true);
    expect(after.pred).toContain(`'${wanted} 00:00:00+00'`);
    // One index of that name, nothing left over, and an index on every leaf partition.
    const { rows } = await db.client.query<{ leaves: string; indexes: string; leftovers: string }>(
      `SELECT (SELECT count(*) FROM pg_partition_tree('dgm.performance_metrics') WHERE isleaf) AS leaves,
              (SELECT count(*) FROM pg_partition_tree('dgm.idx_performance_metrics_recent') WHERE isleaf) AS indexes,
              (SELECT count(*) FROM pg_class WHERE relname LIKE 'idx_performance_metrics_recent_next%') AS leftovers`,
    );
    expect(rows[0]!.indexes).toBe(rows[0]!.leaves);
    expect(rows[0]!.leftovers).toBe('0');
    // The planner uses it for a recent-rows query.
    await db.client.query(
      `INSERT INTO dgm.performance_metrics (metric_name, metric_value, "timestamp")
       SELECT 'recent', g, $1::timestamptz + g * interval '1 minute' FROM generate_series(1, 5000) g`,
      [`${wanted}T00:00:00Z`],
    );
    await db.client.query('ANALYZE dgm.performance_metrics');
    const { rows: plan } = await db.client.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT "timestamp", metric_value FROM dgm.performance_metrics
       WHERE "timestamp" >= '${wanted} 12:00:00+00' ORDER BY "timestamp" DESC LIMIT 5`,
    );
    expect(plan.map((p) => p['QUERY PLAN']).join('\n')).toMatch(/Index Only Scan using \S+_c\d{8}/);
    // And the next run leaves it alone.
    const again = await run(db.client, { clock: { now: () => later } });
    expect(again.actions.filter((a) => a.kind.includes('index'))).toEqual([]);
  });

  it('a configured rolling index that is not there is skipped with its reason in the audit, not a failed run', async () => {
    // As after `demo`, which drops the design's indexes for its optimizer step.
    await db.client.query('DROP INDEX dgm.idx_performance_metrics_recent');
    const result = await run(db.client, {});
    const roll = result.actions.filter((a) => a.kind === 'roll_partial_index');
    expect(roll).toEqual([
      expect.objectContaining({
        status: 'skipped',
        target: '"dgm"."idx_performance_metrics_recent"',
        error:
          'index dgm.idx_performance_metrics_recent does not exist (dropped or never created): nothing to roll',
      }),
    ]);
    expect(result.status).toBe('succeeded');
    expect(result.summary.failed).toBe(0);
    const { rows } = await db.client.query<{ status: string; error: string }>(
      `SELECT status, error FROM dgm.optimization_audit WHERE run_id = $1 AND action = 'roll_partial_index'`,
      [result.runId],
    );
    expect(rows).toEqual([{ status: 'skipped', error: roll[0]!.error }]);
    // A dry run says the same, and so does the next run.
    const dry = await run(db.client, { dryRun: true });
    expect(dry.actions.filter((a) => a.kind === 'roll_partial_index').map((a) => a.status)).toEqual([
      'skipped',
    ]);
    expect(dry.status).toBe('planned');
    expect((await run(db.client, {})).status).toBe('succeeded');
  });
});
