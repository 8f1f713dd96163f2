import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { WorkloadStatement } from '../../functions/optimizer/workload.ts';
import { advisedFromLogSuite } from '../support/advised-from-log.ts';

// The gaps the second holdout benchmark (test/bench/optimizer/holdout-b.ts, a logistics application)
// found (and a probe after it: ORDER BY an expression, BETWEEN on coalesce() of two columns, NOT on a boolean column, max() for one key; from the marketing holdout, holdout-c.ts: a regular expression), end to end as optimizer-kinds.test.ts runs its kinds: an application of its own runs its
// statements with $n parameters (pg_stat_statements holds them normalized), the server log holds each
// with its parameters, the optimizer reads its literal samples from there, and the advisor runs once over
// the whole workload. PostgreSQL 18: candidates built for real and rolled back; 15: HypoPG for btree.

let client: pg.Client;

interface Shape {
  name: string;
  sql: string;
  params: unknown[];
}

const SHAPES: Shape[] = [
  {
    // A carrier's latest deliveries first, the undelivered (NULL) at the end.
    name: 'carrier_deliveries',
    sql: 'SELECT id, delivered_at FROM gaps.parcels WHERE carrier_id = $1 ORDER BY delivered_at DESC NULLS LAST LIMIT $2',
    params: [7, 20],
  },
  {
    // A jsonb key IN a list of constants (the key, too, is a $n in pg_stat_statements).
    name: 'customs_holds',
    sql: 'SELECT id, created_at FROM gaps.parcels WHERE attrs ->> $1 IN ($2, $3)',
    params: ['customs', 'held', 'inspection'],
  },
  {
    // EXISTS: the filter of the outer table and the join key of the inner one, needed together.
    name: 'customer_bulk',
    sql: `SELECT p.id FROM gaps.parcels p WHERE p.customer_ref = $1
          AND EXISTS (SELECT 1 FROM gaps.lines l WHERE l.parcel_id = p.id AND l.qty >= $2)`,
    params: ['CUST-77', 10],
  },
  {
    // An anti-join written as LEFT JOIN ... IS NULL.
    name: 'missing_lines',
    sql: `SELECT p.id FROM gaps.parcels p LEFT JOIN gaps.lines l ON l.parcel_id = p.id
          WHERE p.depot_id = $1 AND p.created_at >= $2 AND l.id IS NULL`,
    params: [42, '2025-06-01'],
  },
  {
    // ORDER BY an expression of one column, with LIMIT (a list sorted case-insensitively).
    name: 'carrier_customers',
    sql: 'SELECT id, customer_ref FROM gaps.parcels WHERE carrier_id = $1 ORDER BY lower(customer_ref) LIMIT $2',
    params: [9, 20],
  },
  {
    // BETWEEN on an expression of two columns of the table (the delivery time, else the creation time).
    name: 'handled_between',
    sql: 'SELECT id FROM gaps.parcels WHERE coalesce(delivered_at, created_at) BETWEEN $1 AND $2',
    params: ['2025-03-01', '2025-03-01 02:00'],
  },
  {
    // A NOT on a boolean column (the uninsured hundredth), newest first.
    name: 'uninsured_recent',
    sql: 'SELECT id FROM gaps.parcels WHERE NOT insured ORDER BY created_at DESC LIMIT $1',
    params: [20],
  },
  {
    // max() of a column for one key: the planner reads it as ORDER BY created_at DESC LIMIT 1.
    name: 'carrier_last_pickup',
    sql: 'SELECT max(created_at) FROM gaps.parcels WHERE carrier_id = $1',
    params: [23],
  },
  {
    // A case-insensitive regular expression on a name (the marketing holdout's contact search), the first
    // page by id: without a trigram index the planner walks the primary key and tests every name.
    name: 'find_person',
    sql: 'SELECT id, full_name FROM gaps.people WHERE full_name ~* $1 ORDER BY id LIMIT $2',
    params: ['okonkwo', 25],
  },
];

const PARCELS = 150_000;

async function load(): Promise<void> {
  await client.query(`
    CREATE SCHEMA gaps;
    CREATE TABLE gaps.parcels (
      id bigint PRIMARY KEY, depot_id int NOT NULL, carrier_id int NOT NULL, customer_ref text NOT NULL,
      created_at timestamptz NOT NULL, delivered_at timestamptz, attrs jsonb NOT NULL, insured boolean NOT NULL);
    CREATE TABLE gaps.lines (
      id bigint PRIMARY KEY, parcel_id bigint NOT NULL REFERENCES gaps.parcels (id), qty int NOT NULL);
    INSERT INTO gaps.parcels
    SELECT g, 1 + (g * 7919) % 200, 1 + (g * 31) % 40, 'CUST-' || ((g * 6007) % 15000),
      timestamptz '2025-01-01' + g * interval '2 minutes',
      CASE WHEN g % 9 = 0 THEN NULL ELSE timestamptz '2025-01-03' + g * interval '2 minutes' END,
      jsonb_build_object('customs', CASE WHEN g % 500 = 0 THEN 'held' WHEN g % 700 = 3 THEN 'inspection'
                                         ELSE 'cleared' END, 'incoterm', 'DAP'),
      g % 100 <> 0
    FROM generate_series(1, ${PARCELS}) g;
    INSERT INTO gaps.lines
    SELECT row_number() OVER (), s, 1 + (s + k) % 12
    FROM generate_series(1, ${PARCELS}) s, generate_series(1, 1 + s % 2) k WHERE s % 97 <> 0;
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE TABLE gaps.people (id bigint PRIMARY KEY, full_name text NOT NULL);
    INSERT INTO gaps.people
    SELECT g, CASE WHEN g % 1500 = 0 THEN 'Siobhan Okonkwo-Whitfield'
                   ELSE (ARRAY['Anna', 'Ben', 'Chloe', 'David', 'Emma'])[1 + g % 5] || ' '
                        || (ARRAY['Smith', 'Miller', 'Garcia', 'Rossi', 'Nowak', 'Jensen'])[1 + (g / 5) % 6] END
    FROM generate_series(1, ${PARCELS}) g;
  `);
  await client.query('VACUUM ANALYZE gaps.parcels');
  await client.query('VACUUM ANALYZE gaps.lines');
  await client.query('VACUUM ANALYZE gaps.people');
}

/** A shape's statement (planned with its literal sample from the log), its verdict and the definitions serving it. */
const harness = advisedFromLogSuite('gaps', SHAPES, async (c) => {
  client = c;
  await load();
});
const served = (name: string) => harness().served(name);
const statementOf = (name: string): WorkloadStatement => harness().served(name).statement;

describe('holdout gaps, from pg_stat_statements plus a literal sample', () => {
  it('ORDER BY ... DESC NULLS LAST: the key sorts NULLs last too (a DESC key puts them first)', () => {
    const { verdict, definitions } = served('carrier_deliveries');
    expect(verdict.verdict).toBe('improved');
    expect(definitions.some((d) => /\("carrier_id", "delivered_at" DESC NULLS LAST\)/.test(d))).toBe(true);
  });

  it('jsonb ->> key IN a list: the expression index, its key from the sample', () => {
    expect(statementOf('customs_holds').text).toMatch(/attrs ->> \$1 IN \(\$2/);
    const { verdict, definitions } = served('customs_holds');
    expect(verdict.verdict).toBe('improved');
    expect(definitions).toContain(`CREATE INDEX NAME ON "gaps"."parcels" ((("attrs" ->> 'customs')))`);
  });

  it('ORDER BY lower(col) LIMIT: equality, then the expression, so the scan stops early', () => {
    const { verdict, definitions } = served('carrier_customers');
    expect(verdict.verdict).toBe('improved');
    expect(definitions).toContain(
      `CREATE INDEX NAME ON "gaps"."parcels" ("carrier_id", (lower("customer_ref")))`,
    );
  });

  it('BETWEEN on coalesce() of two columns: the expression index a DBA writes', () => {
    const { verdict, definitions } = served('handled_between');
    expect(verdict.verdict).toBe('improved');
    expect(definitions).toContain(
      `CREATE INDEX NAME ON "gaps"."parcels" ((COALESCE("delivered_at", "created_at")))`,
    );
  });

  it('NOT flag on a boolean column: the flag in the key or as the partial predicate', () => {
    const { verdict, definitions } = served('uninsured_recent');
    expect(verdict.verdict).toBe('improved');
    expect(
      definitions.some(
        (d) =>
          /\("insured", "created_at" DESC\)/.test(d) ||
          /WHERE \(?"insured" = false|WHERE \(?NOT "?insured/.test(d),
      ),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('max(col) for one key: equality, then the column, so the planner reads one entry', () => {
    const { verdict, definitions } = served('carrier_last_pickup');
    expect(verdict.verdict).toBe('improved');
    expect(
      definitions.some((d) => /\("carrier_id", "created_at"( DESC)?\)/.test(d)),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('a regular expression (~*) on a text column: the pg_trgm GIN index a DBA writes, as for ILIKE', () => {
    const { verdict, definitions } = served('find_person');
    expect(verdict.verdict).toBe('improved');
    expect(definitions).toContain(
      'CREATE INDEX NAME ON "gaps"."people" USING gin ("full_name" "public".gin_trgm_ops)',
    );
  });

  for (const [name, filter] of [
    ['customer_bulk', /ON "gaps"."parcels" \("customer_ref"\)/],
    ['missing_lines', /ON "gaps"."parcels" \("depot_id", "created_at"\)/],
  ] as const) {
    it(`${name}: the outer table's filter and the inner table's join key, chosen together`, () => {
      const { verdict, definitions } = served(name);
      expect(verdict.verdict).toBe('improved');
      expect(definitions.some((d) => filter.test(d))).toBe(true);
      expect(definitions.some((d) => /ON "gaps"."lines" \("parcel_id"/.test(d))).toBe(true);
      // Together at least the bar below the plan without them.
      expect(verdict.costAfter!).toBeLessThanOrEqual(verdict.costBefore! * 0.5);
    });
  }
});
