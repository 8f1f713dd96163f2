import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { maintain } from '../../functions/jobs/maintain.ts';
import { silentLogger } from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// An application's schema: tables with many updates (hot) and one only loaded (cold). The vacuum task
// measures the write churn in pg_stat_user_tables and gives the high-write settings to the hot ones only.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.client.query(`
    CREATE SCHEMA app;
    CREATE TABLE app.hot (id int PRIMARY KEY, n int NOT NULL);
    CREATE TABLE app.cold (id int PRIMARY KEY, n int NOT NULL);
    CREATE TABLE app.optout (id int PRIMARY KEY, n int NOT NULL);
    CREATE TABLE app.custom (id int PRIMARY KEY, n int NOT NULL);
    CREATE TABLE app.hotp (id int NOT NULL, k int NOT NULL, n int NOT NULL) PARTITION BY LIST (k);
    CREATE TABLE app.hotp_1 PARTITION OF app.hotp FOR VALUES IN (1);
    CREATE TABLE app.hotp_2 PARTITION OF app.hotp FOR VALUES IN (2);
    INSERT INTO app.hot SELECT g, 0 FROM generate_series(1, 20000) g;
    INSERT INTO app.cold SELECT g, 0 FROM generate_series(1, 20000) g;
    INSERT INTO app.optout SELECT g, 0 FROM generate_series(1, 20000) g;
    INSERT INTO app.custom SELECT g, 0 FROM generate_series(1, 20000) g;
    INSERT INTO app.hotp SELECT g, 1 + g % 2, 0 FROM generate_series(1, 20000) g;
    UPDATE app.hot SET n = n + 1;
    UPDATE app.hot SET n = n + 1;
    UPDATE app.optout SET n = n + 1;
    UPDATE app.custom SET n = n + 1;
    UPDATE app.hotp SET n = n + 1;
    DELETE FROM app.hotp WHERE id <= 2000;
    INSERT INTO app.hotp SELECT g, 1 + g % 2, 0 FROM generate_series(1, 2000) g`);
  // The counts reach the cumulative statistics when the session flushes them: wait until they are seen.
  for (;;) {
    await db.client.query('SELECT pg_stat_force_next_flush()');
    const { rows } = await db.client.query<{ hot: string; hotp: string }>(
      `SELECT (SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'app.hot'::regclass) AS hot,
              (SELECT sum(n_tup_upd + n_tup_del) FROM pg_stat_user_tables
               WHERE relid IN ('app.hotp_1'::regclass, 'app.hotp_2'::regclass)) AS hotp`,
    );
    if (Number(rows[0]!.hot) >= 40_000 && Number(rows[0]!.hotp) >= 22_000) break;
  }
  await db.client.query('ANALYZE app.hot, app.cold, app.optout, app.custom, app.hotp');
});
afterAll(async () => db?.drop());

const reloptions = async (schema: string) =>
  Object.fromEntries(
    (
      await db.client.query<{ relname: string; reloptions: string[] | null }>(
        `SELECT relname, reloptions FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'r' ORDER BY 1`,
        [schema],
      )
    ).rows.map((r) => [r.relname, r.reloptions ?? []]),
  );

const HIGH = [
  'autovacuum_vacuum_scale_factor=0.1',
  'autovacuum_analyze_scale_factor=0.05',
  'autovacuum_vacuum_cost_delay=10',
];

describe('vacuum: measured high-write tables', () => {
  it('plans the high-write settings for the hot tables only, with the measured figure; explicit entries win', async () => {
    const config = parseConfig({
      maintenance: {
        schemas: ['app'],
        autovacuum: { 'app.optout': {}, 'app.custom': { autovacuum_vacuum_scale_factor: 0.02 } },
        freezeAgeThreshold: 2_000_000_000,
      },
    });
    const dry = await maintain(db.client, config, { task: 'vacuum', dryRun: true, logger: silentLogger });
    // (The design's partition sets in this migrated database get their registered settings too.)
    const planned = dry.actions.filter((a) => a.kind === 'set_autovacuum' && /^"?app/.test(a.target));
    expect(planned.map((a) => [a.target, a.status]).sort()).toEqual([
      ['"app"."hot"', 'planned'],
      ['"app"."hotp"', 'planned'],
      ['app.custom', 'planned'],
    ]);
    const hot = planned.find((a) => a.target === '"app"."hot"')!;
    expect(hot.reason).toContain('40,000 rows updated or deleted');
    expect(hot.reason).toContain('2.00x its 20,000 rows');
    expect(hot.details).toMatchObject({
      settings: {
        autovacuum_vacuum_scale_factor: 0.1,
        autovacuum_analyze_scale_factor: 0.05,
        autovacuum_vacuum_cost_delay: 10,
      },
      tables: ['hot'],
      highWrite: { churn: 40_000, rows: 20_000 },
    });
    const hotp = planned.find((a) => a.target === '"app"."hotp"')!;
    // 20,000 updates and 2,000 deletes over both leaves.
    expect(hotp.reason).toContain('22,000 rows updated or deleted');
    expect(hotp.details).toMatchObject({ tables: ['hotp_1', 'hotp_2'] });
    // The explicit entry replaces the measured choice: its settings only, no high-write figure.
    const custom = planned.find((a) => a.target === 'app.custom')!;
    expect(custom.details).toEqual({
      settings: { autovacuum_vacuum_scale_factor: 0.02 },
      tables: ['custom'],
    });
    expect(custom.reason).not.toContain('high write');
    // The findings name the measured tables, the opted-out and explicitly configured ones not.
    expect(dry.findings.vacuum?.highWriteTables.filter((t) => t.startsWith('"app"')).sort()).toEqual([
      '"app"."hot"',
      '"app"."hotp"',
    ]);
    // A dry run changes nothing.
    expect(Object.values(await reloptions('app')).flat()).toEqual([]);

    const result = await maintain(db.client, config, { task: 'vacuum', logger: silentLogger });
    expect(
      result.actions
        .filter((a) => a.kind === 'set_autovacuum' && /^"?app/.test(a.target))
        .map((a) => a.status),
    ).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(await reloptions('app')).toEqual({
      cold: [],
      custom: ['autovacuum_vacuum_scale_factor=0.02'],
      hot: HIGH,
      hotp_1: HIGH,
      hotp_2: HIGH,
      optout: [],
    });
    const again = await maintain(db.client, config, { task: 'vacuum', dryRun: true, logger: silentLogger });
    expect(again.actions.filter((a) => a.kind === 'set_autovacuum')).toEqual([]);
  });

  it('a higher threshold or highWriteChurnRatio 0 plans nothing measured', async () => {
    for (const [ratio, expected] of [
      [0, []],
      [1.5, ['"app"."hot"']],
    ] as const) {
      await db.client.query('ALTER TABLE app.hot RESET (autovacuum_vacuum_scale_factor)');
      await db.client.query('ALTER TABLE app.hotp_1 RESET (autovacuum_vacuum_scale_factor)');
      const config = parseConfig({
        maintenance: { schemas: ['app'], highWriteChurnRatio: ratio, freezeAgeThreshold: 2_000_000_000 },
      });
      const dry = await maintain(db.client, config, { task: 'vacuum', dryRun: true, logger: silentLogger });
      expect(
        dry.actions
          .filter((a) => a.kind === 'set_autovacuum' && /^"?app/.test(a.target))
          .map((a) => a.target),
      ).toEqual(expected);
    }
  });
});

describe('vacuum: a database with the design schema', () => {
  it("keeps the design's high-write settings on its tables and every partition, without naming them in the config", async () => {
    const config = parseConfig({ maintenance: { freezeAgeThreshold: 2_000_000_000 } });
    expect(config.maintenance.autovacuum).toEqual({});
    await maintain(db.client, config, { task: 'vacuum', logger: silentLogger });
    const { rows } = await db.client.query<{ name: string; reloptions: string[] | null }>(
      `SELECT t.relid::text AS name, c.reloptions
       FROM unnest(ARRAY['dgm.performance_metrics', 'dgm.dgm_archive', 'dgm.compliance_logs',
                         'dgm.workspaces', 'dgm.bandit_states']::regclass[]) AS r(oid)
       CROSS JOIN LATERAL (SELECT relid FROM pg_partition_tree(r.oid) WHERE isleaf) t
       JOIN pg_class c ON c.oid = t.relid`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(5);
    for (const r of rows)
      expect([r.name, [...(r.reloptions ?? [])].sort()]).toEqual([r.name, [...HIGH].sort()]);
  });
});
