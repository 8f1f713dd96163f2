import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { maintain } from '../../functions/jobs/maintain.ts';
import { planSequences } from '../../functions/maintenance/sequences.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

/**
 * The sequences task (the registry's example task): a sequence, or the narrower column it feeds, past the
 * configured share of its range is a problem reported by the run; nothing is changed.
 */
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.client.query(`
    CREATE SCHEMA sq;
    -- serial: an integer sequence; 1.6e9 of 2^31 - 1 used (74.5%)
    CREATE TABLE sq.small (id serial PRIMARY KEY);
    SELECT setval('sq.small_id_seq', 1600000000);
    -- a bigint identity behind... a bigint column: far from its limit
    CREATE TABLE sq.big (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v int);
    SELECT setval('sq.big_id_seq', 1900000000);
    -- a bigint sequence feeding an integer column: the column's limit is the one that counts (88.5%)
    CREATE SEQUENCE sq.narrow_seq AS bigint;
    CREATE TABLE sq.narrow (id int NOT NULL DEFAULT nextval('sq.narrow_seq'));
    ALTER SEQUENCE sq.narrow_seq OWNED BY sq.narrow.id;
    SELECT setval('sq.narrow_seq', 1900000000);
    -- descending, never used, and cycling sequences
    CREATE SEQUENCE sq.down AS smallint INCREMENT BY -1;
    SELECT setval('sq.down', -30000);
    CREATE SEQUENCE sq.unused;
    CREATE SEQUENCE sq.cycling AS smallint MAXVALUE 100 CYCLE;
    SELECT setval('sq.cycling', 99);`);
});
afterAll(async () => db?.drop());

describe('sequences task', () => {
  it('reports the sequences past the ratio, by the limit of the column they feed, and changes nothing', async () => {
    const config = parseConfig({ maintenance: { schemas: ['sq'], sequenceUsedRatio: 0.8 } });
    const before = await db.client.query(`SELECT last_value FROM sq.narrow_seq`);
    const plan = await maintain(db.client, config, { task: 'sequences', dryRun: true });
    expect(plan.actions.map((a) => [a.target, a.status])).toEqual([
      ['sq.down', 'failed'],
      ['sq.narrow_seq', 'failed'],
    ]);
    expect(plan.actions[1]!.error).toMatch(
      /^sq\.narrow_seq has used 88\.5% of its range \(it feeds sq\.narrow\.id, integer\): widen it to bigint/,
    );
    expect(plan.actions[0]!.details).toMatchObject({ used: expect.closeTo(29999 / 32767, 6) });
    expect(plan.findings.sequences).toEqual({
      checked: 6,
      mostUsed: { sequence: 'sq.down', used: expect.closeTo(29999 / 32767, 6) },
    });

    const run = await maintain(db.client, config, { task: 'sequences' });
    expect(run.status).toBe('failed');
    expect(run.summary).toMatchObject({ failed: 2, succeeded: 0 });
    const { rows: audit } = await db.client.query<{ target: string; status: string }>(
      `SELECT target, status FROM dgm.optimization_audit WHERE run_id = $1 AND action = 'sequence_running_out' ORDER BY target`,
      [run.runId],
    );
    expect(audit).toEqual([
      { target: 'sq.down', status: 'failed' },
      { target: 'sq.narrow_seq', status: 'failed' },
    ]);
    expect((await db.client.query(`SELECT last_value FROM sq.narrow_seq`)).rows).toEqual(before.rows);

    // Below the ratio: the run succeeds with nothing to do, and still names the most used one.
    const calm = await maintain(
      db.client,
      parseConfig({ maintenance: { schemas: ['sq'], sequenceUsedRatio: 0.95 } }),
      {
        task: 'sequences',
      },
    );
    expect(calm).toMatchObject({ status: 'succeeded', message: 'nothing to do', actions: [] });
    expect(calm.findings.sequences?.mostUsed?.sequence).toBe('sq.down');
  });

  it('a ratio outside (0, 1] is refused as bad config', () => {
    expect(() => parseConfig({ maintenance: { sequenceUsedRatio: 0 } })).toThrow(
      /^config: maintenance\.sequenceUsedRatio: /,
    );
    expect(() => parseConfig({ maintenance: { sequenceUsedRatio: 1.5 } })).toThrow(
      /maintenance\.sequenceUsedRatio/,
    );
  });

  it('plans from rows: skips unreadable ones, reports at exactly the ratio', () => {
    const plan = planSequences(
      [
        { sequence: 'a.s', column: null, column_type: null, used: null },
        { sequence: 'a.t', column: 'a.x.id', column_type: 'integer', used: 0.75 },
        { sequence: 'a.u', column: null, column_type: null, used: 0.2 },
      ],
      { sequenceUsedRatio: 0.75 },
    );
    expect(plan.actions.map((a) => a.target)).toEqual(['a.t']);
    expect(plan.findings).toEqual({ checked: 3, mostUsed: { sequence: 'a.t', used: 0.75 } });
  });
});
