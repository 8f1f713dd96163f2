import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { advisedFromLogSuite, type LogShape } from '../support/advised-from-log.ts';

// The gaps the sixth holdout benchmark (test/bench/optimizer/holdout-f.ts: an ORM storefront and an
// analytics app on a wide events table) found, end to end as optimizer-holdout-gaps.test.ts runs them: the
// application's statements with $n parameters, three runs with their own values, their literal samples
// from the server log, one advisor run over the whole workload.

let client: pg.Client;

const T0 = Date.UTC(2026, 5, 30);
const HOUR = 3_600_000;
/** A timestamp without time zone as the application writes it (UTC, no offset). */
const ts = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

const SHAPES: LogShape[] = [
  {
    // One hour of one project through the expression; each run a project of its own (1, 2, 9).
    name: 'hour_window',
    sql: `SELECT count(*) FROM hf.events
          WHERE project_id = $1 AND occurred_at AT TIME ZONE 'UTC' >= $2 AND occurred_at AT TIME ZONE 'UTC' < $3`,
    params: (run) => {
      const from = T0 - (2 + run) * HOUR;
      return [[1, 2, 9][run], `${ts(from)}+00`, `${ts(from + HOUR)}+00`];
    },
  },
  {
    // Two statements on one key, each reading other narrow columns: p95 per path over the last day...
    name: 'p95',
    sql: `SELECT path, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FROM hf.events
          WHERE project_id = $1 AND name = 'page_view' AND occurred_at >= $2 GROUP BY path`,
    params: (run) => [[1, 2, 1][run], ts(T0 - 24 * HOUR)],
  },
  {
    // ... and errors per minute without bots over the last three hours.
    name: 'errors',
    sql: `SELECT date_bin('1 minute', occurred_at, timestamp '2000-01-01'), count(*) FROM hf.events
          WHERE project_id = $1 AND name = 'error' AND is_bot IS NOT TRUE AND occurred_at >= $2 GROUP BY 1`,
    params: (run) => [[2, 1, 2][run], ts(T0 - 3 * HOUR)],
  },
  {
    // A user's first and last seen: min() and max() of one column together.
    name: 'first_last_seen',
    sql: 'SELECT min(occurred_at), max(occurred_at) FROM hf.events WHERE user_id = $1',
    params: (run) => [[3, 7, 11][run]],
  },
  {
    // Weekly latency histograms: the rows of one week (a daterange) and one bucket (an int4range).
    name: 'histogram',
    sql: `SELECT endpoint, sum(hits) FROM hf.histograms WHERE period @> $1::date AND latency @> $2::int GROUP BY endpoint`,
    params: (run) => [['2026-02-13', '2025-09-02', '2026-05-20'][run], [1200, 30, 7000][run]],
  },
];

async function load(): Promise<void> {
  // 300k events over 60 days in time order; project 1 sends 40%, project 2 20%, 38 others the rest.
  await client.query(`
    CREATE SCHEMA hf;
    CREATE TABLE hf.events (id bigint PRIMARY KEY, project_id int NOT NULL, name text NOT NULL,
      occurred_at timestamp NOT NULL, path text NOT NULL, duration_ms int, is_bot boolean, user_id int,
      payload text);
    INSERT INTO hf.events
    SELECT g, CASE WHEN h < 40 THEN 1 WHEN h < 60 THEN 2 ELSE 3 + g % 38 END,
      CASE WHEN s < 600 THEN 'page_view' WHEN s < 900 THEN 'click' WHEN s < 940 THEN 'error' ELSE 'signup' END,
      timestamp '2026-06-30' - (300000 - g) * interval '17.28 seconds',
      '/' || (ARRAY['', 'pricing', 'docs', 'blog', 'app', 'settings'])[1 + (g / 7) % 6],
      20 + (g * 37) % 900, CASE WHEN g % 10 = 0 THEN true WHEN g % 10 < 3 THEN false END,
      CASE WHEN g % 100 < 15 THEN 1 + g % 15 ELSE 1000 + (g::bigint * 48271) % 60000 END, repeat('x', 120)
    FROM generate_series(1, 300000) g,
         LATERAL (SELECT (g::bigint * 7919) % 100 AS h, (g::bigint * 104729) % 997 AS s) x;
  `);
  await client.query(`
    CREATE TABLE hf.histograms (project_id int NOT NULL, endpoint text NOT NULL, period daterange NOT NULL,
      latency int4range NOT NULL, hits bigint NOT NULL);
    INSERT INTO hf.histograms
    SELECT p, e, daterange(date '2025-07-07' + 7 * w, date '2025-07-14' + 7 * w), int4range(b.lo, b.hi), (p * 7 + w) % 1000
    FROM generate_series(0, 51) w, generate_series(1, 25) p,
         unnest(ARRAY['/a', '/b', '/c', '/d', '/e', '/f']) e,
         unnest(ARRAY[0, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000],
                ARRAY[10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, NULL]) b(lo, hi)
    ORDER BY w, p, e, b.lo;
  `);
  await client.query('VACUUM ANALYZE hf.events');
  await client.query('VACUUM ANALYZE hf.histograms');
}

const harness = advisedFromLogSuite('hf', SHAPES, async (c) => {
  client = c;
  await load();
});
const served = (name: string) => harness().served(name);

describe('holdout-f gaps, from pg_stat_statements plus literal samples', () => {
  it('a constant the samples give differently gets no partial index: the full key serves every value', () => {
    const { statement, verdict, definitions } = served('hour_window');
    expect(statement.samples?.length ?? 0).toBeGreaterThan(1);
    expect(verdict.verdict).toBe('improved');
    // Before, `project_id = 1` of the first sample made a partial (timezone('UTC', occurred_at)) WHERE
    // project_id = 1: chosen, the planner preferred it on that sample, and the full index was dropped after
    // the build as unused; projects 2 and 9 scanned a fifth of the table.
    const all = harness().advice.recommendations.map((r) => r.definition);
    expect(
      all.some((d) => /WHERE "project_id" (=|IN)/.test(d)),
      all.join('\n'),
    ).toBe(false);
    expect(
      definitions.some((d) => /\("project_id", \(?(pg_catalog\.)?timezone\('UTC'/i.test(d)),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('covering variants of one key for two statements: one index INCLUDE-ing what both read', () => {
    const p95 = served('p95');
    const errors = served('errors');
    expect(p95.verdict.verdict).toBe('improved');
    expect(errors.verdict.verdict).toBe('improved');
    // Before, ("project_id", "name", "occurred_at") came twice, INCLUDE ("duration_ms", "path") for one and
    // INCLUDE ("is_bot") for the other (or one of them only, leaving the other statement its heap visits).
    const both = p95.definitions.filter((d) => errors.definitions.includes(d));
    expect(
      both.some((d) => /INCLUDE \("duration_ms", "is_bot", "path"\)/.test(d)),
      [...p95.definitions, '--', ...errors.definitions].join('\n'),
    ).toBe(true);
  });

  it('min() and max() of one column together: the column after the equality, read from both ends', () => {
    const { verdict, definitions } = served('first_last_seen');
    expect(verdict.verdict).toBe('improved');
    // Before, only a single aggregate (or several of one kind) was read as an order: the pair got
    // ("user_id") INCLUDE ("occurred_at"), every entry of a user with 3,000 events read for two values.
    expect(
      definitions.some((d) => /\("user_id", "occurred_at"\)$/.test(d)),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('range operators on two range columns: one GiST over both', () => {
    const { verdict, definitions } = served('histogram');
    expect(verdict.verdict).toBe('improved');
    // Before, only single-column GiSTs were candidates: ("period") was chosen and the bucket filtered 12
    // rows for each one returned; a second run then tried ("latency") on top (a BitmapAnd, slower).
    expect(
      definitions.some((d) => /USING gist \("period", "latency"\)$/.test(d)),
      definitions.join('\n'),
    ).toBe(true);
  });
});
