import { fingerprintSync } from 'libpg-query';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Advice, adviseIndexes } from '../../functions/optimizer/advisor.ts';
import { analyzeStatementSync, loadParser, repairNormalizedText } from '../../functions/optimizer/analyze.ts';
import { withExplainer } from '../../functions/optimizer/planner.ts';
import {
  collectWorkload,
  storedQuerySamples,
  storeQuerySamples,
  type Workload,
} from '../../functions/optimizer/workload.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// One candidate kind per test, on a small application of its own (not the DGM schema): the statements
// run with $n parameters, so pg_stat_statements holds them normalized, and a literal sample of each is
// stored where the optimizer reads samples (dgm.query_samples), as the sampler or the server log would.
// The advisor runs once over the whole workload; each test asserts the index its kind calls for, and
// that the statement it serves is planned cheaper with it. PostgreSQL 18: real builds rolled back;
// PostgreSQL 15: HypoPG for btree.

let db: TestDatabase;
let workload: Workload;
let advice: Advice;

interface Shape {
  name: string;
  sql: string;
  params: unknown[];
  /** The literal instance the log or sampler would have seen. */
  sample: string;
}

const SHAPES: Shape[] = [
  {
    name: 'recent_by_author',
    sql: 'SELECT id, title FROM kinds.articles WHERE author_id = $1 AND published_at > $2 ORDER BY published_at DESC LIMIT $3',
    params: [17, '2024-01-01', 10],
    sample: `SELECT id, title FROM kinds.articles WHERE author_id = 17 AND published_at > '2024-01-01' ORDER BY published_at DESC LIMIT 10`,
  },
  {
    name: 'by_region_in_list',
    sql: 'SELECT count(*) FROM kinds.articles WHERE region IN ($1, $2, $3) AND score > $4',
    params: [3, 77, 140, 90],
    sample: 'SELECT count(*) FROM kinds.articles WHERE region IN (3, 77, 140) AND score > 90',
  },
  {
    name: 'unreviewed',
    sql: 'SELECT id, author_id FROM kinds.articles WHERE reviewed_at IS NULL AND region = $1',
    params: [5],
    sample: 'SELECT id, author_id FROM kinds.articles WHERE reviewed_at IS NULL AND region = 5',
  },
  {
    name: 'by_lower_slug',
    sql: 'SELECT id FROM kinds.articles WHERE lower(slug) = $1',
    params: ['slug-00042'],
    sample: `SELECT id FROM kinds.articles WHERE lower(slug) = 'slug-00042'`,
  },
  {
    name: 'title_prefix',
    sql: 'SELECT id, title FROM kinds.articles WHERE lower(title) LIKE $1',
    params: ['title 0042%'],
    sample: `SELECT id, title FROM kinds.articles WHERE lower(title) LIKE 'title 0042%'`,
  },
  {
    name: 'by_attr_key',
    sql: 'SELECT id FROM kinds.articles WHERE attrs ->> $1 = $2',
    params: ['color', 'c-123'],
    sample: `SELECT id FROM kinds.articles WHERE attrs ->> 'color' = 'c-123'`,
  },
  {
    name: 'by_attr_containment',
    sql: 'SELECT id FROM kinds.articles WHERE attrs @> $1',
    params: ['{"sku": "sku-4242"}'],
    sample: `SELECT id FROM kinds.articles WHERE attrs @> '{"sku": "sku-4242"}'`,
  },
  {
    name: 'by_tag',
    sql: 'SELECT id FROM kinds.articles WHERE tags && $1::text[]',
    params: [['tag-311']],
    sample: `SELECT id FROM kinds.articles WHERE tags && '{tag-311}'::text[]`,
  },
  {
    name: 'comment_search',
    sql: 'SELECT id FROM kinds.comments WHERE body LIKE $1',
    params: ['%needle-77%'],
    sample: `SELECT id FROM kinds.comments WHERE body LIKE '%needle-77%'`,
  },
  {
    name: 'comments_of_author',
    sql: 'SELECT c.id, c.body FROM kinds.articles a JOIN kinds.comments c ON c.article_id = a.id WHERE a.author_id = $1 AND a.published_at > $2',
    params: [23, '2025-06-01'],
    sample: `SELECT c.id, c.body FROM kinds.articles a JOIN kinds.comments c ON c.article_id = a.id WHERE a.author_id = 23 AND a.published_at > '2025-06-01'`,
  },
  {
    name: 'latest_drafts',
    sql: 'SELECT id, title FROM kinds.articles WHERE status IN ($1, $2) ORDER BY updated_at DESC LIMIT $3',
    params: ['draft', 'review', 20],
    sample: `SELECT id, title FROM kinds.articles WHERE status IN ('draft', 'review') ORDER BY updated_at DESC LIMIT 20`,
  },
  {
    name: 'score_window',
    sql: 'SELECT author_id, score FROM kinds.comments WHERE posted_at BETWEEN $1 AND $2',
    params: ['2024-03-01', '2024-03-02'],
    sample: `SELECT author_id, score FROM kinds.comments WHERE posted_at BETWEEN '2024-03-01' AND '2024-03-02'`,
  },
];

const ROWS = 30_000;

async function load(client: pg.Client): Promise<void> {
  await client.query(`
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE SCHEMA kinds;
    CREATE TABLE kinds.articles (
      id bigint PRIMARY KEY, author_id int NOT NULL, region int NOT NULL, score int NOT NULL,
      status text NOT NULL, slug text NOT NULL, title text NOT NULL,
      published_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, reviewed_at timestamptz,
      attrs jsonb NOT NULL, tags text[] NOT NULL);
    CREATE TABLE kinds.comments (
      id bigint PRIMARY KEY, article_id bigint NOT NULL REFERENCES kinds.articles (id),
      author_id int NOT NULL, score int NOT NULL, posted_at timestamptz NOT NULL, body text NOT NULL);
    INSERT INTO kinds.articles
    SELECT g, g % 500, g % 200, g % 100,
      CASE WHEN g % 100 = 0 THEN 'draft' WHEN g % 3 = 0 THEN 'archived' ELSE 'published' END,
      'SLUG-' || lpad(g::text, 5, '0'), 'Title ' || lpad(g::text, 5, '0') || ' about things',
      timestamptz '2023-01-01' + g * interval '1 hour', timestamptz '2023-01-01' + g * interval '1 hour',
      CASE WHEN g % 97 = 0 THEN NULL ELSE timestamptz '2023-01-02' + g * interval '1 hour' END,
      jsonb_build_object('color', 'c-' || (g % 1000), 'sku', 'sku-' || g, 'size', g % 7),
      ARRAY['tag-' || (g % 1000), 'tag-x' || (g % 3)]
    FROM generate_series(1, ${ROWS}) g;
    INSERT INTO kinds.comments
    SELECT g, 1 + (g * 7919) % ${ROWS}, g % 300, g % 50,
      timestamptz '2024-01-01' + ((g * 7919) % ${ROWS}) * interval '10 minutes',
      'comment ' || g || ' says ' || CASE WHEN g % 1000 = 0 THEN 'needle-77' ELSE 'nothing much here' END
    FROM generate_series(1, ${ROWS}) g;
  `);
  await client.query('VACUUM ANALYZE kinds.articles');
  // An index-only scan is planned only on all-visible pages; VACUUM cannot mark them while another
  // session's older snapshot (a parallel test file) may still see the load's rows: until it can.
  for (let attempt = 0; ; attempt++) {
    await client.query('VACUUM ANALYZE kinds.comments');
    const { rows } = await client.query<{ done: boolean }>(
      `SELECT relallvisible >= relpages AS done FROM pg_class WHERE oid = 'kinds.comments'::regclass`,
    );
    if (rows[0]!.done) break;
    if (attempt >= 600) throw new Error('kinds.comments never became all-visible');
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  await load(db.client);
  for (let i = 0; i < 3; i++) for (const s of SHAPES) await db.client.query(s.sql, s.params);
  // The samples, keyed by the statement pg_stat_statements knows them as.
  // Matched by fingerprint, as the log reader does: PostgreSQL 18 squashes an IN list to ($1 /*, ... */).
  const { rows } = await db.client.query<{ queryid: string; query: string }>(
    `SELECT queryid::text, query FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query LIKE '%kinds.%'`,
  );
  await loadParser();
  const fp = (sql: string) => {
    try {
      return fingerprintSync(repairNormalizedText(sql));
    } catch {
      return undefined;
    }
  };
  const samples = SHAPES.map((s) => {
    const row = rows.find((r) => fp(r.query) === fp(s.sample));
    if (!row) throw new Error(`${s.name} is not in pg_stat_statements`);
    return { queryid: row.queryid, sql: s.sample, source: 'server log' };
  });
  await storeQuerySamples(db.client, samples);
  workload = await collectWorkload(db.client, {
    maxStatements: 50,
    minCalls: 1,
    examples: await storedQuerySamples(db.client),
  });
  advice = await adviseIndexes(db.client, workload, {
    minCostReduction: 0.5,
    hypopg: 'auto',
    realBuildMaxBytes: 512 * 1024 * 1024,
    createExtension: true,
    statementTimeoutMs: 120_000,
    lockTimeoutMs: 2_000,
  });
}, 300_000);
afterAll(async () => db?.drop());

/** The statement's verdict and the recommended definitions that serve it (names replaced by NAME). */
function served(name: string): { verdict: string; detail: string; definitions: string[] } {
  const shape = SHAPES.find((s) => s.name === name)!;
  const statement = workload.statements.find((s) => s.example?.sql === shape.sample);
  expect(statement, `${name} in the workload`).toBeDefined();
  expect(statement!.text).not.toBe(shape.sample);
  const v = advice.statements.find((x) => x.id === statement!.id)!;
  const definitions = advice.recommendations
    .filter((r) => r.statements.some((x) => x.id === statement!.id))
    .map((r) => r.definition.replace(/"dgm_auto_[^"]+"/, 'NAME').replace(' CONCURRENTLY', ''));
  return { verdict: v.verdict, detail: v.detail, definitions };
}

describe('candidate kinds, from pg_stat_statements plus a literal sample', () => {
  it('every statement of the workload is planned (no "there is no parameter $1")', () => {
    for (const s of SHAPES) {
      const statement = workload.statements.find((x) => x.example?.sql === s.sample)!;
      const v = advice.statements.find((x) => x.id === statement.id)!;
      expect(v.detail, s.name).not.toMatch(/cannot be planned/);
      expect(v.costBefore, s.name).toBeGreaterThan(0);
    }
  });

  it('plans normalized statements whose $n no indexable predicate holds, or whose type nothing determines', async () => {
    const texts = [
      'SELECT id FROM kinds.articles WHERE lower(title) LIKE $1',
      'SELECT $1 AS label, id FROM kinds.articles WHERE ($2 IS NULL OR region = $3) AND score > $4',
      'SELECT id FROM kinds.articles WHERE attrs ->> $1 = $2 LIMIT $3',
    ];
    const plans = await withExplainer(db.client, {}, async (explainer) => {
      const out = [];
      for (const sql of texts) {
        const maxParam = analyzeStatementSync(sql).analysis!.maxParam;
        out.push({ maxParam, plan: await explainer.explain({ sql, maxParam }) });
      }
      return out;
    });
    expect(plans.map((p) => p.maxParam)).toEqual([1, 4, 3]);
    for (const p of plans) {
      expect(p.plan.error).toBeUndefined();
      expect(p.plan.cost).toBeGreaterThan(0);
    }
  });

  it('multi-column btree: equality, then the ORDER BY DESC a LIMIT stops early on', () => {
    const r = served('recent_by_author');
    expect(r.verdict).toBe('improved');
    expect(r.definitions.some((d) => /\("author_id", "published_at" DESC\)/.test(d))).toBe(true);
  });

  it('IN list: equality columns first, then the IN column, then the range', () => {
    const r = served('by_region_in_list');
    expect(r.verdict).toBe('improved');
    expect(r.definitions.some((d) => /\("region", "score"\)/.test(d))).toBe(true);
  });

  it('IS NULL is an equality column', () => {
    const r = served('unreviewed');
    expect(r.verdict).toBe('improved');
    expect(r.definitions.some((d) => /"reviewed_at"/.test(d) && /"region"/.test(d))).toBe(true);
  });

  it('expression index on a function call', () => {
    const r = served('by_lower_slug');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain('CREATE INDEX NAME ON "kinds"."articles" ((lower("slug")))');
  });

  it('LIKE prefix: an expression index with the pattern operator class (the collation is not C)', async () => {
    const { rows } = await db.client.query<{ c: string }>(
      `SELECT datcollate AS c FROM pg_database WHERE datname = current_database()`,
    );
    const r = served('title_prefix');
    expect(r.verdict).toBe('improved');
    const opclass = rows[0]!.c === 'C' || rows[0]!.c === 'POSIX' ? '' : ' text_pattern_ops';
    expect(r.definitions).toContain(`CREATE INDEX NAME ON "kinds"."articles" ((lower("title"))${opclass})`);
  });

  it('jsonb ->> path whose key pg_stat_statements replaced by $1: the key comes from the sample', () => {
    const statement = workload.statements.find((s) => s.text.includes('attrs ->> $1'))!;
    expect(statement.text).toContain('$1');
    const r = served('by_attr_key');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain(`CREATE INDEX NAME ON "kinds"."articles" ((("attrs" ->> 'color')))`);
  });

  it('jsonb containment: GIN jsonb_path_ops, judged with the selective constant of the sample', () => {
    const r = served('by_attr_containment');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain(
      'CREATE INDEX NAME ON "kinds"."articles" USING gin ("attrs" jsonb_path_ops)',
    );
  });

  it('array overlap: GIN on the array column', () => {
    const r = served('by_tag');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain('CREATE INDEX NAME ON "kinds"."articles" USING gin ("tags")');
  });

  it('infix LIKE: a pg_trgm GIN index (the extension is installed)', () => {
    const r = served('comment_search');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain(
      'CREATE INDEX NAME ON "kinds"."comments" USING gin ("body" "public".gin_trgm_ops)',
    );
  });

  it('join through a foreign key without an index: the join key of the other side', () => {
    const r = served('comments_of_author');
    expect(r.verdict).toBe('improved');
    expect(r.definitions.some((d) => /ON "kinds"."comments" \("article_id"\)/.test(d))).toBe(true);
  });

  it('partial index where the sample shows a fixed, selective list of constants', () => {
    // A list of several constants is written into the application's SQL (a single `= 'draft'` may be one
    // value of many, and ranks behind a full index); across the IN list no composite key gives the order.
    const r = served('latest_drafts');
    expect(r.verdict).toBe('improved');
    expect(
      r.definitions.some((d) => /\("updated_at" DESC\).* WHERE "status" IN \('draft', 'review'\)/.test(d)),
    ).toBe(true);
  });

  it("INCLUDE columns turn the range scan's heap fetches into an index-only scan", () => {
    const r = served('score_window');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain(
      'CREATE INDEX NAME ON "kinds"."comments" ("posted_at") INCLUDE ("author_id", "score")',
    );
  });
});
