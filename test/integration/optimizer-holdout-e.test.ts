import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { adviseIndexes } from '../../functions/optimizer/advisor.ts';
import { normalizeExpression } from '../../functions/optimizer/candidate-merge.ts';
import { likePrefix } from '../../functions/optimizer/candidates.ts';
import { likeEscape } from '../../functions/optimizer/sql-expression.ts';
import { collectWorkload, storedQuerySamples } from '../../functions/optimizer/workload.ts';
import { advisedFromLogSuite } from '../support/advised-from-log.ts';
import { options } from '../support/advisor-fixture.ts';

// The gaps the fifth holdout benchmark (test/bench/optimizer/holdout-e.ts: a firewall event store and a
// multi-tenant payroll) found, end to end as optimizer-holdout-d.test.ts runs them: the application's
// statements with $n parameters, their literal samples from the server log, one advisor run over the
// whole workload.

let client: pg.Client;

const SHAPES: Array<{ name: string; sql: string; params: (run: number) => unknown[] }> = [
  {
    // A jsonpath test on a jsonb column.
    name: 'jsonpath',
    sql: 'SELECT id FROM he.events WHERE payload @? $1::jsonpath',
    params: (run) => [`$.tls.ja4 ? (@ == "fp${101 + run * 977}")`],
  },
  {
    // A prefix with an escaped wildcard: LIKE ... ESCAPE is LIKE like_escape(pattern, escape).
    name: 'like_escape',
    sql: `SELECT id FROM he.events WHERE uri LIKE $1 ESCAPE '!'`,
    params: (run) => [`/files/user!_${123 + run * 4001}/%`],
  },
  {
    // An inet column within a subnet.
    name: 'subnet',
    sql: 'SELECT id, uri FROM he.events WHERE src_ip <<= $1::inet',
    params: (run) => [`10.${run + 1}.7.0/24`],
  },
  {
    // extract(year from d) is parsed as pg_catalog.extract('year', d): a keyword, callable only qualified.
    name: 'hire_year',
    sql: 'SELECT count(*) FROM he.staff WHERE tenant_id = $1 AND extract(year from hired_on) = $2',
    params: (run) => [7 + run, 2001 + run],
  },
  {
    // The few payslips not paid (NULL among them) of a tenant, oldest first.
    name: 'unsettled',
    sql: `SELECT id, period_start FROM he.slips WHERE tenant_id = $1 AND status IS DISTINCT FROM 'paid'
          ORDER BY period_start LIMIT 100`,
    params: (run) => [3 + run],
  },
  {
    // One big tenant and many small ones, the newest sample a small one: run 0 asks for the big tenant.
    name: 'member_nick',
    sql: 'SELECT count(*) FROM he.members WHERE tenant_id = $1 AND lower(nick) = $2',
    params: (run) => (run === 0 ? [1, 'nick77'] : [500 + run, 'nick3']),
  },
];

async function load(): Promise<void> {
  await client.query(`
    CREATE SCHEMA he;
    CREATE TABLE he.events (id bigint PRIMARY KEY, src_ip inet NOT NULL, uri text NOT NULL, payload jsonb NOT NULL);
    INSERT INTO he.events
    SELECT g, '10.0.0.0'::inet + (g::bigint * 2654435761) % 16777216,
      '/files/user_' || g % 20000 || '/' || g || '.pdf',
      jsonb_build_object('tls', jsonb_build_object('ja4', 'fp' || g % 20000, 'sni', 'svc' || g % 300))
    FROM generate_series(1, 200000) g;
    CREATE TABLE he.staff (tenant_id int NOT NULL, id int NOT NULL, hired_on date NOT NULL, PRIMARY KEY (tenant_id, id));
    INSERT INTO he.staff SELECT g % 100, g, date '1990-01-01' + ((g::bigint * 7919) % 12775)::int FROM generate_series(1, 200000) g;
    CREATE TABLE he.slips (tenant_id int NOT NULL, id bigint NOT NULL, period_start date NOT NULL, status text,
      PRIMARY KEY (tenant_id, id));
    INSERT INTO he.slips
    SELECT g % 20, g, date '2023-01-01' + g / 300,
      CASE WHEN g % 500 = 0 THEN 'void' WHEN g % 997 = 0 THEN NULL ELSE 'paid' END
    FROM generate_series(1, 200000) g;
    CREATE TABLE he.members (tenant_id int NOT NULL, id int NOT NULL, nick text NOT NULL, PRIMARY KEY (tenant_id, id));
    INSERT INTO he.members
    SELECT CASE WHEN g <= 100000 THEN 1 ELSE 2 + (g - 100001) / 20 END, g, 'Nick' || (g::bigint * 7919) % 5000
    FROM generate_series(1, 200000) g ORDER BY 1, 2;
  `);
  for (const t of ['events', 'staff', 'slips', 'members']) await client.query(`VACUUM ANALYZE he.${t}`);
}

const harness = advisedFromLogSuite('he', SHAPES, async (c) => {
  client = c;
  await load();
});
const served = (name: string) => harness().served(name);

describe('holdout-e gaps, from pg_stat_statements plus a literal sample', () => {
  it('jsonb @? jsonpath: a GIN on the column', () => {
    const { verdict, definitions } = served('jsonpath');
    // Before, `@?` was no operator an index serves: "no indexable condition", a sequential scan.
    expect(verdict.verdict).toBe('improved');
    expect(
      definitions.some((d) => /ON "he"."events" USING gin \("payload"( jsonb_path_ops)?\)$/.test(d)),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('LIKE ... ESCAPE: the escaped pattern has a prefix, a btree on the column serves it', () => {
    const { verdict, definitions } = served('like_escape');
    // Before, the pattern was a like_escape() call, no literal: no prefix, no candidate.
    expect(verdict.verdict).toBe('improved');
    expect(
      definitions.some((d) => /ON "he"."events" \("uri"( text_pattern_ops)?\)/.test(d)),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('inet <<= subnet: an index on the inet column (btree range or GiST inet_ops)', () => {
    const { verdict, definitions } = served('subnet');
    // Before, `<<=` was no operator an index serves.
    expect(verdict.verdict).toBe('improved');
    expect(
      definitions.some((d) =>
        /ON "he"."events" (\("src_ip"\)|USING gist \("src_ip" inet_ops\))( INCLUDE \([^)]*\))?$/.test(d),
      ),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('extract(year from d): the expression index is valid SQL (pg_catalog.extract)', () => {
    const { verdict, definitions } = served('hire_year');
    // Before, it was rendered extract('year', "hired_on"): a syntax error, the candidate not evaluated,
    // and only ("tenant_id") left.
    expect(verdict.verdict).toBe('improved');
    expect(
      definitions.some(
        (d) =>
          /ON "he"."staff" \(/.test(d) &&
          d.includes(`(pg_catalog.extract('year', "hired_on"))`) &&
          d.includes('"tenant_id"'),
      ),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('IS DISTINCT FROM the common value: a partial index holding the few other rows', () => {
    const { verdict, definitions } = served('unsettled');
    // Before, the inequality was not read: ("tenant_id", "period_start") served it, reading a tenant's
    // paid payslips in order to filter them out.
    expect(verdict.verdict).toBe('improved');
    expect(
      definitions.some((d) =>
        /ON "he"."slips" \("tenant_id", "period_start"\)( INCLUDE \([^)]*\))? WHERE "status" IS DISTINCT FROM 'paid'$/.test(
          d,
        ),
      ),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('the statement is planned with its slowest logged sample, not the newest', () => {
    const { statement, verdict, definitions } = served('member_nick');
    // Before, the newest sample (a tenant of 20 members) was the example: every candidate was judged by
    // what it saves there. On payroll (holdout-e.ts) the expression index its hiring cohort needs for the
    // big tenants was "adds too little" on a small tenant's sample, and the statement kept 2x the DBA's time.
    expect(statement.example!.sql).toMatch(/tenant_id = '?1'? AND/);
    expect(verdict.verdict).toBe('improved');
    expect(
      definitions.some((d) =>
        /ON "he"."members" \("tenant_id", \(lower\("nick"\)\)\)|ON "he"."members" \(\(lower\("nick"\)\), "tenant_id"\)/.test(
          d,
        ),
      ),
      definitions.join('\n'),
    ).toBe(true);
  });

  it('like_escape as the server computes it, and the prefix the planner reads from it', async () => {
    const cases: Array<[string, string]> = [
      ['/files/user!_12/%', '!'],
      ['a!%b!!c\\d%', '!'],
      ['a\\_b%', ''],
      ['a#_b\\%', '#'],
      ['ab\\_c%', '\\'],
    ];
    for (const [pattern, esc] of cases) {
      const { rows } = await harness().client.query<{ v: string }>('SELECT like_escape($1, $2) AS v', [
        pattern,
        esc,
      ]);
      expect(likeEscape(pattern, esc), `${pattern} ESCAPE ${esc}`).toBe(rows[0]!.v);
    }
    expect(likePrefix(likeEscape('/files/user!_12/%', '!')!)).toBe('/files/user_12/');
    expect(likePrefix('a\\%b%')).toBe('a%b');
    expect(likePrefix('%ab')).toBeUndefined();
  });

  it('an expression index built as recommended is the existing index the next run finds', async () => {
    // pg_get_indexdef writes it back as "extract"('year'::text, hired_on): before, that did not match the
    // candidate's pg_catalog.extract('year', "hired_on"), so the next run proposed the same index (the same
    // name) again; so too a full-text GIN on to_tsvector('simple', title), written back with
    // 'simple'::regconfig (a PostgreSQL 15 corpus run stopped on library's second run: the apply of that
    // index, already live under the same name, failed on dgm.auto_indexes' live-name unique index).
    const c = harness().client;
    const def = served('hire_year').definitions.find((d) => d.includes('pg_catalog.extract'))!;
    await c.query(def.replace('NAME', 'he_staff_year'));
    await c.query(`CREATE INDEX he_events_fts ON he.events USING gin (to_tsvector('simple', uri))`);
    await c.query('ANALYZE he.staff');
    const workload = await collectWorkload(c, {
      maxStatements: 50,
      minCalls: 1,
      examples: await storedQuerySamples(c),
    });
    const { rejected } = await adviseIndexes(c, workload, options());
    expect(
      rejected.some(
        (r) =>
          r.definition.includes('pg_catalog.extract') &&
          /covered by existing index he\.he_staff_year$/.test(r.reason),
      ),
      rejected.map((r) => `${r.definition}: ${r.reason}`).join('\n'),
    ).toBe(true);
    const { rows } = await c.query<{ def: string }>(
      `SELECT pg_get_indexdef('he.he_events_fts'::regclass) AS def`,
    );
    const fts = rows[0]!.def.replace(/^.*\((to_tsvector.*)\)$/, '$1');
    expect(normalizeExpression(fts)).toBe(normalizeExpression(`to_tsvector('simple', "uri")`));
  });
});
