import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { maintain } from '../../functions/jobs/maintain.ts';
import { silentLogger } from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.client.query(`
    CREATE SCHEMA st;
    CREATE TABLE st.events (id int PRIMARY KEY, user_id int NOT NULL, kind text NOT NULL, at timestamptz NOT NULL);
    INSERT INTO st.events SELECT g, (g * 7919) % 40000, (ARRAY['a', 'b', 'c', 'd', 'e'])[1 + g % 5],
      '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 minute' FROM generate_series(1, 200000) g;
    CREATE TABLE st.p (id int NOT NULL, ts timestamptz NOT NULL, k text, n int) PARTITION BY RANGE (ts);
    CREATE TABLE st.p_1 PARTITION OF st.p FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00');
    CREATE TABLE st.p_2 PARTITION OF st.p FOR VALUES FROM ('2026-02-01 00:00:00+00') TO ('2026-03-01 00:00:00+00');
    INSERT INTO st.p SELECT g, '2026-01-01 00:00:00+00'::timestamptz + g * interval '10 minutes', 'k' || (g % 9), g % 100
    FROM generate_series(1, 8000) g;
    CREATE TABLE st.hot (id int);
    INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval, premake, storage_parameters)
    VALUES ('st.p', 'ts', '1 month', 0, '{"autovacuum_vacuum_scale_factor": 0.1}')`);
  // The load's row counts reach the cumulative statistics when the session flushes them (at most once a
  // second, later on a busy server): flushed and seen before the ANALYZE, or they would be counted as
  // changes since it, and the tests' "nothing changed since the last analyze" would depend on timing.
  await db.client.query('SELECT pg_stat_force_next_flush()');
  for (;;) {
    const { rows } = await db.client.query<{ n: string }>(
      `SELECT coalesce(sum(n_mod_since_analyze), 0) AS n FROM pg_stat_user_tables WHERE schemaname = 'st'`,
    );
    if (Number(rows[0]!.n) >= 208_000) break;
    await db.client.query('SELECT pg_stat_force_next_flush()');
  }
  await db.client.query('ANALYZE st.events; ANALYZE st.p');
});
afterAll(async () => db?.drop());

const target = async (table: string, column: string) =>
  Number(
    (
      await db.client.query<{ t: number }>(
        `SELECT coalesce(attstattarget, -1) AS t FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2`,
        [table, column],
      )
    ).rows[0]!.t,
  );

describe('statistics', () => {
  it('raises targets of high-cardinality columns, applies configured ones, creates extended statistics, analyzes', async () => {
    const config = parseConfig({
      maintenance: {
        schemas: ['st'],
        statisticsTargets: { 'st.events': { kind: 50 }, 'st.p': { n: 400 } },
        extendedStatistics: [
          { table: 'st.events', columns: ['kind', 'user_id'], kinds: ['ndistinct', 'dependencies'] },
          { table: 'st.p', columns: ['k', 'n'] },
          { table: 'st.missing', columns: ['a', 'b'] },
        ],
      },
    });
    const result = await maintain(db.client, config, { task: 'statistics', logger: silentLogger });
    const byKind = (kind: string) => result.actions.filter((a) => a.kind === kind).map((a) => a.target);
    expect(byKind('set_statistics_target').sort()).toEqual(
      ['"st"."events"."kind"', '"st"."events"."user_id"', '"st"."p"."n"'].sort(),
    );
    const created = byKind('create_statistics');
    expect(created.filter((t) => t.startsWith('"st".')).sort()).toEqual(
      ['"st"."events"', '"st"."p"', '"st"."p_1"', '"st"."p_2"'].sort(),
    );
    // Besides the configured ones, the extended statistics defined on the partitioned tables looked after
    // (here the design's partition sets, migration 012) go on their leaves: nothing else is created.
    const others = created.filter((t) => !t.startsWith('"st".'));
    expect(others.every((t) => t.startsWith('"dgm".'))).toBe(true);
    expect(others).toEqual(
      expect.arrayContaining([
        '"dgm"."performance_metrics_default"',
        '"dgm"."dgm_archive_default"',
        '"dgm"."compliance_logs_default"',
      ]),
    );
    expect(byKind('analyze')).toEqual(expect.arrayContaining(['"st"."events"', '"st"."p"', '"st"."hot"']));
    // A table named in the config that does not exist is a failed action, the rest still runs.
    expect(result.actions.filter((a) => a.status === 'failed').map((a) => a.error)).toEqual([
      'extendedStatistics: table st.missing does not exist',
    ]);
    expect(await target('st.events', 'user_id')).toBe(500);
    expect(await target('st.events', 'kind')).toBe(50);
    // Unique and low-cardinality columns keep the default.
    expect(await target('st.events', 'id')).toBe(-1);
    expect(await target('st.events', 'at')).toBe(-1);
    // On a partitioned table the target reaches every partition.
    for (const t of ['st.p', 'st.p_1', 'st.p_2']) expect(await target(t, 'n')).toBe(400);
    const { rows } = await db.client.query<{ tablename: string; kinds: string[]; built: boolean }>(
      `SELECT tablename, kinds::text[] AS kinds, n_distinct IS NOT NULL AS built FROM pg_stats_ext WHERE schemaname = 'st' ORDER BY 1`,
    );
    expect(rows.find((r) => r.tablename === 'events')).toMatchObject({ kinds: ['d', 'f'], built: true });
    expect(rows.map((r) => r.tablename)).toEqual(expect.arrayContaining(['events', 'p', 'p_1', 'p_2']));
    // Nothing left to change, and no rows changed since: the next run analyzes nothing again.
    const again = await maintain(db.client, config, { task: 'statistics', logger: silentLogger });
    expect(again.actions.filter((a) => a.status !== 'failed')).toEqual([]);
    expect(again.findings.statistics?.tablesCurrent).toBeGreaterThanOrEqual(3);
  });

  it('analyzes only the tables whose rows changed more than their autovacuum analyze threshold since their last analyze', async () => {
    const config = parseConfig({ maintenance: { schemas: ['st'] } });
    const first = await maintain(db.client, config, { task: 'statistics', logger: silentLogger });
    expect(first.status).toBe('succeeded');
    // 30,000 of st.events' 200,000 rows (threshold 50 + 0.1 x 200,000), 2,000 of st.p's 8,000 in one
    // partition (threshold 850: autovacuum never analyzes the partitioned parent), 10 of st.hot's 0.
    await db.client.query('UPDATE st.events SET kind = kind WHERE id <= 30000');
    await db.client.query(`UPDATE st.p SET n = n WHERE id <= 2000`);
    await db.client.query('INSERT INTO st.hot SELECT generate_series(1, 10)');
    // Statistics reach the views when the session flushes them: force it, then wait for them.
    await db.client.query('SELECT pg_stat_force_next_flush()');
    const reader = await db.connect();
    try {
      for (;;) {
        const { rows } = await reader.query<{ events: string; p: string; hot: string }>(
          `SELECT (SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relid = 'st.events'::regclass) AS events,
                  (SELECT sum(n_mod_since_analyze) FROM pg_stat_user_tables WHERE relid IN ('st.p_1'::regclass, 'st.p_2'::regclass)) AS p,
                  (SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relid = 'st.hot'::regclass) AS hot`,
        );
        if (Number(rows[0]!.events) >= 30000 && Number(rows[0]!.p) >= 2000 && Number(rows[0]!.hot) >= 10)
          break;
        await db.client.query('SELECT pg_stat_force_next_flush()');
      }
    } finally {
      await reader.end();
    }
    const dry = await maintain(db.client, config, { task: 'statistics', dryRun: true, logger: silentLogger });
    expect(dry.actions.map((a) => [a.kind, a.target, a.reason])).toEqual([
      ['analyze', '"st"."events"', '30000 row change(s) since the last analyze (threshold 20050)'],
      ['analyze', '"st"."p"', '2000 row change(s) since the last analyze (threshold 850)'],
    ]);
    const run = await maintain(db.client, config, { task: 'statistics', logger: silentLogger });
    expect(run.actions.map((a) => [a.target, a.status])).toEqual([
      ['"st"."events"', 'succeeded'],
      ['"st"."p"', 'succeeded'],
    ]);
    expect(run.findings.statistics?.tablesCurrent).toBe(dry.findings.statistics?.tablesCurrent);
  });
});

describe('vacuum', () => {
  it('applies per-table autovacuum settings to plain tables and every partition, and new partitions get them too', async () => {
    const config = parseConfig({
      maintenance: {
        schemas: ['st'],
        autovacuum: {
          'st.hot': { autovacuum_vacuum_scale_factor: 0.01, autovacuum_enabled: true },
          'st.p': { autovacuum_vacuum_cost_delay: 3 },
          'st.gone': { autovacuum_vacuum_cost_delay: 3 },
        },
        freezeAgeThreshold: 2_000_000_000,
      },
    });
    const dry = await maintain(db.client, config, { task: 'vacuum', dryRun: true, logger: silentLogger });
    const mine = dry.actions.filter((a) => a.target === 'config' || a.target.startsWith('st.'));
    expect(mine.map((a) => [a.kind, a.target, a.status])).toEqual([
      ['config_problem', 'config', 'failed'],
      ['set_autovacuum', 'st.p', 'planned'],
      ['set_autovacuum', 'st.hot', 'planned'],
    ]);
    const result = await maintain(db.client, config, { task: 'vacuum', logger: silentLogger });
    expect(
      result.actions
        .filter((a) => a.kind === 'set_autovacuum' && a.target.startsWith('st.'))
        .map((a) => a.status),
    ).toEqual(['succeeded', 'succeeded']);
    const { rows } = await db.client.query<{ relname: string; reloptions: string[] }>(
      `SELECT relname, reloptions FROM pg_class WHERE relname IN ('hot', 'p_1', 'p_2') AND relnamespace = 'st'::regnamespace ORDER BY 1`,
    );
    expect(rows).toEqual([
      { relname: 'hot', reloptions: ['autovacuum_vacuum_scale_factor=0.01', 'autovacuum_enabled=true'] },
      {
        relname: 'p_1',
        reloptions: ['autovacuum_vacuum_scale_factor=0.1', 'autovacuum_vacuum_cost_delay=3'],
      },
      {
        relname: 'p_2',
        reloptions: ['autovacuum_vacuum_scale_factor=0.1', 'autovacuum_vacuum_cost_delay=3'],
      },
    ]);
    const { rows: cfg } = await db.client.query(
      `SELECT storage_parameters FROM dgm.partition_config WHERE parent_table = 'st.p'`,
    );
    expect(cfg[0]!.storage_parameters).toEqual({
      autovacuum_vacuum_scale_factor: 0.1,
      autovacuum_vacuum_cost_delay: 3,
    });
    // Settled: nothing to do the next time.
    const again = await maintain(db.client, config, { task: 'vacuum', logger: silentLogger });
    expect(again.actions.filter((a) => a.kind === 'set_autovacuum')).toEqual([]);
  });

  it('freezes the tables with the oldest transaction IDs first, within the time box', async () => {
    const ages = async () =>
      new Map(
        (
          await db.client.query<{ name: string; age: number }>(
            `SELECT format('%I.%I', n.nspname, c.relname) AS name, age(c.relfrozenxid) AS age
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('st', 'dgm') AND c.relkind = 'r'`,
          )
        ).rows.map((r) => [r.name, Number(r.age)]),
      );
    // Every table qualifies; a 1 ms box lets the first VACUUM (FREEZE) start and no other.
    const boxed = await maintain(
      db.client,
      parseConfig({
        maintenance: { schemas: ['st'], freezeAgeThreshold: 1, freezeTimeBoxMs: 1, autovacuum: {} },
      }),
      { task: 'vacuum', logger: silentLogger },
    );
    const freeze = boxed.actions.filter((a) => a.kind === 'vacuum_freeze');
    expect(freeze.length).toBeGreaterThan(5);
    const xidAges = freeze.map((a) => Number(a.details?.xid_age));
    expect(xidAges).toEqual([...xidAges].sort((a, b) => b - a));
    expect(freeze[0]!.status).toBe('succeeded');
    expect(
      freeze.slice(1).every((a) => a.status === 'skipped' && a.error === 'freeze time box reached'),
    ).toBe(true);
    expect(boxed.status).toBe('succeeded');
    expect(boxed.findings.vacuum!.tablesToFreeze).toBe(freeze.length);

    // With room in the box every one is frozen, and its age falls below where it was.
    const before = await ages();
    const full = await maintain(
      db.client,
      parseConfig({
        maintenance: { schemas: ['st'], freezeAgeThreshold: 1, freezeTimeBoxMs: 120_000, autovacuum: {} },
      }),
      { task: 'vacuum', logger: silentLogger },
    );
    const frozen = full.actions.filter((a) => a.kind === 'vacuum_freeze');
    expect(frozen.every((a) => a.status === 'succeeded')).toBe(true);
    const after = await ages();
    // Only the frozen schema: other tables age with every transaction the server runs meanwhile.
    for (const [name, age] of after) {
      if (name.startsWith('st.')) expect(age, name).toBeLessThanOrEqual(before.get(name) ?? age);
    }
    const oldest = (m: Map<string, number>) =>
      Math.max(...[...m].filter(([n]) => n.startsWith('st.')).map(([, a]) => a));
    expect(oldest(after)).toBeLessThan(oldest(before));
  });
});
