import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { advisedFromLogSuite, type LogShape } from '../support/advised-from-log.ts';

// The gaps the tenth holdout benchmark (test/bench/optimizer/holdout-j.ts: a sales data mart and a fleet
// telematics service) found, end to end as optimizer-holdout-gaps.test.ts runs them: the application's
// statements with $n parameters (as node-postgres sends them), three runs with their own values, their
// literal samples from the server log, one advisor run over the whole workload.

let client: pg.Client;

const plate = (v: number): string =>
  `${String.fromCharCode(65 + (v % 26))}${String.fromCharCode(65 + ((v * 7) % 26))}-${1000 + ((v * 7919) % 9000)}`;

const SHAPES: LogShape[] = [
  {
    // A plate search: any of several infix patterns, the array bound as one parameter.
    name: 'plate_search',
    sql: 'SELECT id, plate, status FROM hj.vehicles WHERE plate ILIKE ANY($1::text[])',
    params: (run) => [
      [
        `%${plate(101 + run * 977)
          .slice(1, 6)
          .toLowerCase()}%`,
        `%${plate(7 + run * 31).slice(3)}%`,
      ],
    ],
  },
];

async function load(): Promise<void> {
  // 40,000 vehicles with plates like 'AB-1234' (two letters, four digits).
  await client.query(`
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE SCHEMA hj;
    CREATE TABLE hj.vehicles (id int PRIMARY KEY, plate text NOT NULL, make text NOT NULL, status text NOT NULL);
    INSERT INTO hj.vehicles
    SELECT v, chr(65 + v % 26) || chr(65 + (v * 7) % 26) || '-' || (1000 + (v::bigint * 7919) % 9000),
           (ARRAY['Volvo', 'Scania', 'MAN', 'Iveco'])[1 + v % 4],
           CASE WHEN v % 100 = 0 THEN 'retired' ELSE 'active' END
    FROM generate_series(1, 40000) v;
  `);
  await client.query('VACUUM ANALYZE hj.vehicles');
}

const harness = advisedFromLogSuite('hj', SHAPES, async (c) => {
  client = c;
  await load();
});
const served = (name: string) => harness().served(name);

describe('holdout-j gaps, from pg_stat_statements plus literal samples', () => {
  it('ILIKE ANY($1::text[]) of infix patterns gets a trigram GIN on the column', () => {
    const { verdict, definitions } = served('plate_search');
    // Before, `op ANY(array)` was read only for `=`: no candidate at all ("no indexable condition"), and
    // every search scanned the table (telematics: 15-61 ms a call against the DBA's 0.7-4.5).
    expect(verdict.verdict).toBe('improved');
    expect(
      definitions.some((d) => /USING gin \("plate" ("[a-z_]+"\.)?"?gin_trgm_ops"?\)/.test(d)),
      definitions.join('\n'),
    ).toBe(true);
  });
});
