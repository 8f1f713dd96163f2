import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { quoteIdent, quoteQualified } from '../../functions/db/identifiers.ts';
import { maintain } from '../../functions/jobs/maintain.ts';
import { type Clock, silentLogger } from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// Quotes, spaces, upper case and non-ASCII letters in every name the planner and the tasks touch.
const SCHEMA = 'Mon Schéma "x"';
const TABLE = 'Évènements Été';
const COLUMN = 'Créé À';
const STATUS = 'État';
const Q_TABLE = quoteQualified(SCHEMA, TABLE);
const Q_COLUMN = quoteIdent(COLUMN);
const Q_STATUS = quoteIdent(STATUS);

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

const clock: Clock = { now: () => new Date('2026-05-10T00:00:00Z') };

describe('names with quotes, spaces, upper case and non-ASCII letters', () => {
  it('are maintained correctly by every task', async () => {
    await db.client.query(`
      CREATE SCHEMA ${quoteIdent(SCHEMA)};
      CREATE TABLE ${Q_TABLE} ("Id" bigint NOT NULL, ${Q_COLUMN} timestamptz NOT NULL, ${Q_STATUS} text NOT NULL,
                               "Wert ÿ" int, PRIMARY KEY ("Id", ${Q_COLUMN}, ${Q_STATUS}))
        PARTITION BY RANGE (${Q_COLUMN});
      CREATE INDEX ${quoteIdent('Idx "Wert" ÿ')} ON ${Q_TABLE} ("Wert ÿ");
      CREATE TABLE ${quoteQualified(SCHEMA, `${TABLE} défaut`)} PARTITION OF ${Q_TABLE} DEFAULT;
      CREATE TABLE ${quoteQualified(SCHEMA, `${TABLE} ancien`)} PARTITION OF ${Q_TABLE}
        FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-02-01 00:00:00+00') PARTITION BY LIST (${Q_STATUS});
      CREATE TABLE ${quoteQualified(SCHEMA, `${TABLE} ancien tout`)} PARTITION OF ${quoteQualified(SCHEMA, `${TABLE} ancien`)} DEFAULT;
      INSERT INTO ${Q_TABLE} VALUES (1, '2025-01-15 00:00:00+00', 'terminé', 1);
      INSERT INTO ${Q_TABLE}
      SELECT g, '2026-05-01 00:00:00+00'::timestamptz + (g % 90) * interval '1 day', (ARRAY['en cours', 'Terminé', 'x''y'])[1 + g % 3], g
      FROM generate_series(2, 301) g`);
    await db.client.query(
      `INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval, premake, retention,
         sub_partition_column, sub_partition_values, storage_parameters)
       VALUES (format('%I.%I', $1::text, $2::text), $3, '1 month', 2, '12 months', $4, ARRAY['en cours', 'Terminé', 'x''y'],
               '{"autovacuum_vacuum_scale_factor": 0.05}')`,
      [SCHEMA, TABLE, COLUMN, STATUS],
    );
    const registered = (
      await db.client.query<{ parent_table: string }>(
        `SELECT parent_table FROM dgm.partition_config WHERE parent_table LIKE '%Schéma%'`,
      )
    ).rows[0]!.parent_table;
    expect(registered).toBe('"Mon Schéma ""x"""."Évènements Été"');
    const config = parseConfig({
      maintenance: {
        schemas: ['dgm', SCHEMA],
        statisticsTargets: { [registered]: { 'Wert ÿ': 321 } },
        extendedStatistics: [{ table: registered, columns: ['Wert ÿ', COLUMN], kinds: ['ndistinct'] }],
        autovacuum: { [registered]: { autovacuum_analyze_scale_factor: 0.02 } },
        reindexMinBytes: 1,
      },
    });
    const checksum = async () =>
      (
        await db.client.query<{ n: string; s: string }>(
          `SELECT count(*) AS n, sum(hashtextextended(t::text, 0)::numeric) AS s FROM ${Q_TABLE} t
           WHERE ${Q_COLUMN} >= '2025-06-01 00:00:00+00'`,
        )
      ).rows[0];
    const before = await checksum();
    expect(before?.n).toBe('300');

    const result = await maintain(db.client, config, { task: 'all', clock, logger: silentLogger });
    expect(result.actions.filter((a) => a.status !== 'succeeded')).toEqual([]);
    expect(result.status).toBe('succeeded');
    expect(await checksum()).toEqual(before);
    // Months May to July were created from the rows in the default partition, each list-partitioned by status;
    // the January 2025 partition (past the 12-month retention) was dropped.
    const { rows: parts } = await db.client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_partition_tree($1::regclass) t JOIN pg_class c ON c.oid = t.relid WHERE t.level = 1`,
      [registered],
    );
    expect(parts.map((p) => p.name).sort()).toEqual(
      [
        'Évènements Été défaut',
        'Évènements Été_y2026m05',
        'Évènements Été_y2026m06',
        'Évènements Été_y2026m07',
      ].sort(),
    );
    const { rows: leaves } = await db.client.query<{ name: string; n: string }>(
      `SELECT tableoid::regclass::text AS name, count(*) AS n FROM ${Q_TABLE} GROUP BY 1`,
    );
    expect(leaves.map((l) => l.name).sort()).toEqual(
      ['y2026m05', 'y2026m06', 'y2026m07']
        .flatMap((m) =>
          ['en_cours', 'termin', 'x_y'].map((s) => `"Mon Schéma ""x"""."Évènements Été_${m}_${s}"`),
        )
        .sort(),
    );
    // Settings, statistics targets and extended statistics reached every leaf.
    const { rows: leafState } = await db.client.query<{ reloptions: string[]; target: number; stx: string }>(
      `SELECT c.reloptions, coalesce(a.attstattarget, -1) AS target,
              (SELECT count(*) FROM pg_statistic_ext e WHERE e.stxrelid = c.oid) AS stx
       FROM pg_partition_tree($1::regclass) t JOIN pg_class c ON c.oid = t.relid
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'Wert ÿ'
       WHERE t.isleaf`,
      [registered],
    );
    expect(leafState.length).toBe(13);
    for (const l of leafState) {
      expect(l.reloptions).toEqual(
        expect.arrayContaining([
          'autovacuum_vacuum_scale_factor=0.05',
          'autovacuum_analyze_scale_factor=0.02',
        ]),
      );
      expect(Number(l.target)).toBe(321);
      expect(Number(l.stx)).toBeGreaterThanOrEqual(1);
    }
    // The index task estimated every index of the schema without an error, the quoted one included.
    expect(result.findings.indexes?.unused.map((u) => u.index)).toContain(
      quoteQualified(SCHEMA, 'Idx "Wert" ÿ'),
    );
    // A second run has nothing left to change: at most ANALYZE of tables whose rows changed since.
    const again = await maintain(db.client, config, { task: 'all', clock, logger: silentLogger });
    expect(again.actions.filter((a) => a.kind !== 'analyze')).toEqual([]);
    expect(
      again.actions.filter((a) => !/row change\(s\) since the last analyze|never analyzed/.test(a.reason)),
    ).toEqual([]);
  });
});
