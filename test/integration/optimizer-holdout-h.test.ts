import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { advisedFromLogSuite, type LogShape } from '../support/advised-from-log.ts';

// The gaps the eighth holdout benchmark (test/bench/optimizer/holdout-h.ts: a learning-management system
// and an event store) found, end to end as optimizer-holdout-gaps.test.ts runs them: the application's
// statements with $n parameters, three runs with their own values, their literal samples from the server
// log, one advisor run over the whole workload.

let client: pg.Client;

const SHAPES: LogShape[] = [
  {
    // A program's directory page. The first run reads the big program (12,000 students), the two after it
    // small ones (about 270): the newest sample, which the advisor used to judge on, is a light instance.
    name: 'directory',
    sql: `SELECT id, first_name, last_name, email FROM hh.students WHERE program_id = $1
          ORDER BY lower(last_name), lower(first_name) LIMIT 50`,
    params: (run) => [[1, 17, 23][run]],
  },
];

async function load(): Promise<void> {
  // 40,000 students: program 1 holds 30%, programs 2 and 3 another 28%, 37 small programs the rest.
  await client.query(`
    CREATE SCHEMA hh;
    CREATE TABLE hh.students (id int PRIMARY KEY, program_id int NOT NULL, first_name text NOT NULL,
      last_name text NOT NULL, email text NOT NULL, cohort int NOT NULL);
    INSERT INTO hh.students
    SELECT g, CASE WHEN h < 30 THEN 1 WHEN h < 48 THEN 2 WHEN h < 58 THEN 3 ELSE 4 + g % 37 END,
           'First' || (g::bigint * 104729) % 24, 'Last' || (g::bigint * 15485863) % 997, 'student' || g || '@uni.example', 2019 + g % 7
    FROM generate_series(1, 40000) g, LATERAL (SELECT (g::bigint * 7919) % 100 AS h) x;
  `);
  await client.query('VACUUM ANALYZE hh.students');
}

const harness = advisedFromLogSuite('hh', SHAPES, async (c) => {
  client = c;
  await load();
});
const served = (name: string) => harness().served(name);

describe('holdout-h gaps, from pg_stat_statements plus literal samples', () => {
  it('the heaviest logged sample is the one judged on: ORDER BY lower() LIMIT gets the ordered index', () => {
    const { statement, verdict, definitions } = served('directory');
    expect(statement.samples?.length ?? 0).toBeGreaterThan(1);
    // The example is the big program's instance, the slowest the server logged.
    expect(statement.example!.sql).toMatch(/program_id = '?1\b/);
    expect(verdict.verdict).toBe('improved');
    // Before, judged on a program of 270 rows, (program_id) INCLUDE (...) and a top-N sort looked as cheap
    // as the ordered index, was chosen first, and the ordered one "added too little": the big program
    // sorted 12,000 rows a call (lms: 9.8 ms a call against the DBA's 4.0 on PostgreSQL 18).
    expect(
      definitions.some((d) =>
        /\("program_id", \(?lower\("last_name"\)\)?, \(?lower\("first_name"\)\)?/.test(d),
      ),
      definitions.join('\n'),
    ).toBe(true);
  });
});
