import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { advisedFromLogSuite } from '../support/advised-from-log.ts';

// The gaps the fourth holdout benchmark (test/bench/optimizer/holdout-d.ts: a job queue and an accounting
// ledger) found, end to end as optimizer-holdout-gaps.test.ts runs them: the application's statements with
// $n parameters, their literal samples from the server log, one advisor run over the whole workload.

let client: pg.Client;

const SHAPES: Array<{ name: string; sql: string; params: unknown[] }> = [
  {
    // A multi-column IN: the planner reads it as kind = 'fee' AND (currency = 'EUR' OR currency = 'USD').
    name: 'fees',
    sql: `SELECT currency, kind, count(*), sum(amount) FROM hd.entries
          WHERE (currency, kind) IN (($1, $2), ($3, $4)) AND posted_on >= $5 AND posted_on < $6 GROUP BY 1, 2`,
    params: ['EUR', 'fee', 'USD', 'fee', '2024-03-01', '2024-04-01'],
  },
  {
    // An account's entries no bank line matches: an anti-join, `b.id IS NULL` tested after the join.
    name: 'unmatched',
    sql: `SELECT e.id, e.amount FROM hd.entries e LEFT JOIN hd.bank_lines b ON b.entry_id = e.id
          WHERE e.account_id = $1 AND b.id IS NULL`,
    params: [4242],
  },
];

async function load(): Promise<void> {
  await client.query(`
    CREATE SCHEMA hd;
    CREATE TABLE hd.entries (id bigint PRIMARY KEY, account_id int NOT NULL, amount numeric(12, 2) NOT NULL,
      currency char(3) NOT NULL, kind text NOT NULL, posted_on date NOT NULL);
    INSERT INTO hd.entries
    SELECT g, 1 + (g * 7919) % 20000, (g % 900) / 3.0,
      CASE WHEN g % 10 < 6 THEN 'EUR' WHEN g % 10 < 9 THEN 'USD' ELSE 'GBP' END,
      CASE WHEN g % 47 = 0 THEN 'fee' WHEN g % 3 = 0 THEN 'transfer' ELSE 'payment' END,
      date '2023-01-01' + g / 300
    FROM generate_series(1, 200000) g;
    CREATE TABLE hd.bank_lines (id bigint PRIMARY KEY, entry_id bigint REFERENCES hd.entries (id),
      amount numeric(12, 2) NOT NULL);
    INSERT INTO hd.bank_lines SELECT g, g, (g % 900) / 3.0 FROM generate_series(1, 200000) g WHERE g % 11 <> 3;
  `);
  await client.query('VACUUM ANALYZE hd.entries');
  await client.query('VACUUM ANALYZE hd.bank_lines');
}

const harness = advisedFromLogSuite('hd', SHAPES, async (c) => {
  client = c;
  await load();
});
const served = (name: string) => harness().served(name);

describe('holdout-d gaps, from pg_stat_statements plus a literal sample', () => {
  it('(a, b) IN ((..), (..)): the equality column, the IN column, then the range, one btree for both arms', () => {
    const { verdict, definitions } = served('fees');
    expect(verdict.verdict).toBe('improved');
    // Before the row was read, only ("posted_on") served it: every row of the month read and filtered.
    // Now kind and currency select (in the key, or currency as a partial index's IN list): the planner
    // answers each arm of its OR from the index.
    const selecting = definitions.map((d) => d.replace(/ INCLUDE \([^)]*\)/, ''));
    expect(
      selecting.some((d) => /\("kind", "(currency", ")?posted_on"\)/.test(d) && /"currency"/.test(d)),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('LEFT JOIN ... IS NULL: the inner table by its join key alone, chosen with the outer filter', () => {
    const { verdict, definitions } = served('unmatched');
    // Before, `b.id IS NULL` was read as a filter of bank_lines: its candidates were ("id", "entry_id")
    // (no probe by entry_id) and a partial ("entry_id") WHERE "id" IS NULL (no row of it), so the
    // nested-loop anti-join had no index on the inner side and the statement kept its hash join.
    expect(verdict.verdict).toBe('improved');
    expect(
      definitions.some((d) => /ON "hd"."bank_lines" \("entry_id"\)( INCLUDE \("id"\))?$/.test(d)),
      definitions.join('\n'),
    ).toBe(true);
    expect(
      definitions.some((d) => /ON "hd"."entries" \("account_id"/.test(d)),
      definitions.join('\n'),
    ).toBe(true);
  });
});
