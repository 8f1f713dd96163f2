import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Advice } from '../../functions/optimizer/advisor.ts';
import { analyzeStatementSync } from '../../functions/optimizer/analyze.ts';
import { withExplainer } from '../../functions/optimizer/planner.ts';
import type { Workload, WorkloadStatement } from '../../functions/optimizer/workload.ts';
import {
  type AdvisedFromLog,
  adviseFromServerLog,
  definitionsServing,
  fingerprintOf,
} from '../support/advised-from-log.ts';

// One candidate kind per test, on a small application of its own (not the DGM schema), on a server with
// the logging collector on and log_min_duration_statement = 0 for the database: the application runs its
// statements with $n parameters, so pg_stat_statements holds them normalized, and the server log holds
// each with its parameters, from where the optimizer's log reader takes the literal samples
// (readServerLogSamples, through the server as the CLI reads it). The advisor runs once over the whole
// workload; each test asserts the index its kind calls for, and that the statement it serves is planned
// cheaper with it. PostgreSQL 18: real builds rolled back; PostgreSQL 15: HypoPG for btree.

let harness: AdvisedFromLog;
let client: pg.Client;
let workload: Workload;
let advice: Advice;

interface Shape {
  name: string;
  sql: string;
  /** The values of each run (the run's number for statements that change rows). */
  params: unknown[] | ((run: number) => unknown[]);
  /** The literal instance the server log holds of it (the parameters put back as literals). */
  sample: string;
}

const SHAPES: Shape[] = [
  {
    name: 'recent_by_author',
    sql: 'SELECT id, title FROM kinds.articles WHERE author_id = $1 AND published_at > $2 ORDER BY published_at DESC LIMIT $3',
    params: [17, '2024-01-01', 10],
    sample: `SELECT id, title FROM kinds.articles WHERE author_id = '17' AND published_at > '2024-01-01 00:00:00+00' ORDER BY published_at DESC LIMIT '10'`,
  },
  {
    name: 'by_region_in_list',
    sql: 'SELECT count(*) FROM kinds.articles WHERE region IN ($1, $2, $3) AND score > $4',
    params: [3, 77, 140, 90],
    sample: `SELECT count(*) FROM kinds.articles WHERE region IN ('3', '77', '140') AND score > '90'`,
  },
  {
    name: 'unreviewed',
    sql: 'SELECT id, author_id FROM kinds.articles WHERE reviewed_at IS NULL AND region = $1',
    params: [5],
    sample: `SELECT id, author_id FROM kinds.articles WHERE reviewed_at IS NULL AND region = '5'`,
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
    name: 'comment_fulltext',
    sql: `SELECT id FROM kinds.comments WHERE to_tsvector('simple', body) @@ plainto_tsquery('simple', $1)`,
    params: ['needle'],
    sample: `SELECT id FROM kinds.comments WHERE to_tsvector('simple', body) @@ plainto_tsquery('simple', 'needle')`,
  },
  {
    name: 'comments_of_author',
    sql: 'SELECT c.id, c.body FROM kinds.articles a JOIN kinds.comments c ON c.article_id = a.id WHERE a.author_id = $1 AND a.published_at > $2',
    params: [23, '2025-06-01'],
    sample: `SELECT c.id, c.body FROM kinds.articles a JOIN kinds.comments c ON c.article_id = a.id WHERE a.author_id = '23' AND a.published_at > '2025-06-01 00:00:00+00'`,
  },
  {
    name: 'latest_drafts',
    sql: 'SELECT id, title FROM kinds.articles WHERE status IN ($1, $2) ORDER BY updated_at DESC LIMIT $3',
    params: ['draft', 'review', 20],
    sample: `SELECT id, title FROM kinds.articles WHERE status IN ('draft', 'review') ORDER BY updated_at DESC LIMIT '20'`,
  },
  {
    name: 'title_ilike_prefix',
    sql: 'SELECT id FROM kinds.articles WHERE title ILIKE $1',
    params: ['title 0042%'],
    sample: `SELECT id FROM kinds.articles WHERE title ILIKE 'title 0042%'`,
  },
  {
    name: 'by_edition_cast',
    sql: 'SELECT id FROM kinds.articles WHERE edition::int = $1',
    params: [4242],
    sample: `SELECT id FROM kinds.articles WHERE edition::int = '4242'`,
  },
  {
    name: 'by_dims_path',
    sql: `SELECT id FROM kinds.articles WHERE attrs -> 'dims' @> $1`,
    params: ['{"w": 3, "h": 5}'],
    sample: `SELECT id FROM kinds.articles WHERE attrs -> 'dims' @> '{"h": 5, "w": 3}'`,
  },
  {
    name: 'promoted',
    sql: 'SELECT count(*) FROM kinds.articles WHERE flags ? $1',
    params: ['promo'],
    sample: `SELECT count(*) FROM kinds.articles WHERE flags ? 'promo'`,
  },
  {
    name: 'delete_list',
    sql: 'DELETE FROM kinds.lists WHERE id = $1',
    params: (run) => [1 + run],
    sample: `DELETE FROM kinds.lists WHERE id = '3'`,
  },
  {
    name: 'slug_or_edition',
    sql: 'SELECT id, title FROM kinds.articles WHERE slug = $1 OR edition = $2',
    params: ['SLUG-00077', '4343'],
    sample: `SELECT id, title FROM kinds.articles WHERE slug = 'SLUG-00077' OR edition = '4343'`,
  },
  {
    name: 'score_window',
    sql: 'SELECT author_id, score FROM kinds.comments WHERE posted_at BETWEEN $1 AND $2',
    params: ['2024-03-01', '2024-03-02'],
    sample: `SELECT author_id, score FROM kinds.comments WHERE posted_at BETWEEN '2024-03-01 00:00:00+00' AND '2024-03-02 00:00:00+00'`,
  },
  {
    name: 'slots_overlapping',
    sql: 'SELECT id, room FROM kinds.slots WHERE during && tstzrange($1, $2)',
    params: ['2024-03-01 10:00:00+00', '2024-03-01 12:00:00+00'],
    sample: `SELECT id, room FROM kinds.slots WHERE during && tstzrange('2024-03-01 10:00:00+00', '2024-03-01 12:00:00+00')`,
  },
  {
    name: 'slots_at',
    sql: 'SELECT count(*) FROM kinds.slots WHERE during @> $1::timestamptz',
    params: ['2024-04-02 09:30:00+00'],
    sample: `SELECT count(*) FROM kinds.slots WHERE during @> '2024-04-02 09:30:00+00'::timestamptz`,
  },
  {
    name: 'latest_reviewed',
    sql: 'SELECT id, title FROM kinds.articles ORDER BY reviewed_at DESC NULLS LAST LIMIT $1',
    params: [15],
    sample: `SELECT id, title FROM kinds.articles ORDER BY reviewed_at DESC NULLS LAST LIMIT '15'`,
  },
  {
    name: 'cancelled_slots',
    sql: 'SELECT id, room FROM kinds.slots WHERE cancelled_at IS NOT NULL ORDER BY booked_at DESC LIMIT $1',
    params: [15],
    sample: `SELECT id, room FROM kinds.slots WHERE cancelled_at IS NOT NULL ORDER BY booked_at DESC LIMIT '15'`,
  },
  {
    name: 'slot_code_prefix',
    sql: `SELECT id, room FROM kinds.slots WHERE code LIKE $1 || '%'`,
    params: ['R00012'],
    sample: `SELECT id, room FROM kinds.slots WHERE code LIKE 'R00012' || '%'`,
  },
  {
    name: 'to_notify',
    sql: 'SELECT id, room FROM kinds.slots WHERE NOT notified ORDER BY booked_at LIMIT $1',
    params: [20],
    sample: `SELECT id, room FROM kinds.slots WHERE NOT notified ORDER BY booked_at LIMIT '20'`,
  },
  {
    name: 'slots_overlapping_columns',
    sql: 'SELECT id, room FROM kinds.slots WHERE tstzrange(starts_at, ends_at) && tstzrange($1, $2)',
    params: ['2024-05-01 10:00:00+00', '2024-05-01 12:00:00+00'],
    sample: `SELECT id, room FROM kinds.slots WHERE tstzrange(starts_at, ends_at) && tstzrange('2024-05-01 10:00:00+00', '2024-05-01 12:00:00+00')`,
  },
  {
    // Through a view that renames a column: the index is on the table beneath, under the column's own name.
    name: 'feed_through_view',
    sql: 'SELECT id, body FROM kinds.commenter_feed WHERE commenter = $1 ORDER BY posted_at DESC LIMIT 5',
    params: ['77'],
    sample: `SELECT id, body FROM kinds.commenter_feed WHERE commenter = '77' ORDER BY posted_at DESC LIMIT 5`,
  },
];

const ROWS = 30_000;

async function load(): Promise<void> {
  await client.query(`
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE SCHEMA kinds;
    CREATE TABLE kinds.articles (
      id bigint PRIMARY KEY, author_id int NOT NULL, region int NOT NULL, score int NOT NULL,
      status text NOT NULL, slug text NOT NULL, title text NOT NULL,
      published_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, reviewed_at timestamptz,
      attrs jsonb NOT NULL, tags text[] NOT NULL, edition text NOT NULL, flags jsonb NOT NULL);
    CREATE TABLE kinds.comments (
      id bigint PRIMARY KEY, article_id bigint NOT NULL REFERENCES kinds.articles (id),
      author_id int NOT NULL, score int NOT NULL, posted_at timestamptz NOT NULL, body text NOT NULL);
    INSERT INTO kinds.articles
    SELECT g, g % 500, g % 200, g % 100,
      CASE WHEN g % 100 = 0 THEN 'draft' WHEN g % 3 = 0 THEN 'archived' ELSE 'published' END,
      'SLUG-' || lpad(g::text, 5, '0'), 'Title ' || lpad(g::text, 5, '0') || ' about things',
      timestamptz '2023-01-01' + g * interval '1 hour', timestamptz '2023-01-01' + g * interval '1 hour',
      CASE WHEN g % 97 = 0 THEN NULL ELSE timestamptz '2023-01-02' + g * interval '1 hour' END,
      jsonb_build_object('color', 'c-' || (g % 1000), 'sku', 'sku-' || g, 'size', g % 7,
                         'dims', jsonb_build_object('w', g % 50, 'h', g % 7)),
      ARRAY['tag-' || (g % 1000), 'tag-x' || (g % 3)], g::text,
      jsonb_build_object('new', g % 2 = 0)
        || CASE WHEN g % 200 = 0 THEN jsonb_build_object('promo', true) ELSE '{}' END
    FROM generate_series(1, ${ROWS}) g;
    INSERT INTO kinds.comments
    SELECT g, 1 + (g * 7919) % ${ROWS}, g % 300, g % 50,
      timestamptz '2024-01-01' + ((g * 7919) % ${ROWS}) * interval '10 minutes',
      'comment ' || g || ' says ' || CASE WHEN g % 1000 = 0 THEN 'needle-77' ELSE 'nothing much here' END
    FROM generate_series(1, ${ROWS}) g;
    -- A foreign key with no index on its column: every deleted list looks its items up.
    CREATE TABLE kinds.lists (id int PRIMARY KEY, title text NOT NULL);
    CREATE TABLE kinds.list_items (id bigint PRIMARY KEY,
      list_id int NOT NULL REFERENCES kinds.lists (id) ON DELETE CASCADE, body text NOT NULL);
    INSERT INTO kinds.lists SELECT g, 'list ' || g FROM generate_series(1, 3000) g;
    CREATE VIEW kinds.commenter_feed AS
      SELECT c.id, c.author_id AS commenter, c.posted_at, c.body FROM kinds.comments c;
    INSERT INTO kinds.list_items SELECT g, 1 + g % 3000, 'item ' || g FROM generate_series(1, ${ROWS}) g;
    -- Reservations as ranges: an hour or two each, one every 20 minutes.
    -- One in 500 cancelled (cancelled_at set), the rest NULL.
    CREATE TABLE kinds.slots (id bigint PRIMARY KEY, room int NOT NULL, during tstzrange NOT NULL,
      booked_at timestamptz NOT NULL, cancelled_at timestamptz, code text NOT NULL, notified boolean NOT NULL,
      starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL);
    -- Everyone but the latest 1% notified.
    INSERT INTO kinds.slots
    SELECT g, g % 40, tstzrange(s, s + (1 + g % 2) * interval '1 hour'), s - interval '3 days',
      CASE WHEN g % 500 = 3 THEN s - interval '1 day' END, 'R' || lpad(g::text, 6, '0'), g <= ${ROWS} * 0.99,
      s, s + (1 + g % 2) * interval '1 hour'
    FROM generate_series(1, ${ROWS}) g, LATERAL (SELECT timestamptz '2024-01-01' + g * interval '20 minutes' AS s) t;
    -- The application shipped an index on booked_at (its list by booking time).
    CREATE INDEX slots_booked_at ON kinds.slots (booked_at);
  `);
  await client.query('VACUUM ANALYZE kinds.slots');
  await client.query('VACUUM ANALYZE kinds.lists');
  await client.query('VACUUM ANALYZE kinds.list_items');
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

/** The statement pg_stat_statements knows a shape as: same fingerprint (an IN list squashed on 18). */
const fingerprint = fingerprintOf;
const statementOf = (shape: Shape): WorkloadStatement | undefined =>
  workload.statements.find((s) => s.queryid && fingerprint(s.text) === fingerprint(shape.sql));

beforeAll(async () => {
  harness = await adviseFromServerLog('kinds', SHAPES, async (c) => {
    client = c;
    await load();
  });
  ({ workload, advice } = harness);
}, 300_000);
afterAll(async () => {
  await harness?.stop();
});

function verdictOf(statement: WorkloadStatement): { verdict: string; detail: string; definitions: string[] } {
  const v = advice.statements.find((x) => x.id === statement.id)!;
  const definitions = definitionsServing(advice, statement.id);
  return { verdict: v.verdict, detail: v.detail, definitions };
}

/** The statement's verdict and the recommended definitions that serve it (names replaced by NAME). */
function served(name: string): { verdict: string; detail: string; definitions: string[] } {
  const shape = SHAPES.find((s) => s.name === name)!;
  const statement = statementOf(shape);
  expect(statement, `${name} in the workload`).toBeDefined();
  // pg_stat_statements' normalized text, planned with the literal sample the log gave.
  expect(statement!.text).toMatch(/\$1/);
  expect(statement!.example).toMatchObject({ source: 'server_log' });
  expect(statement!.example!.sql).not.toMatch(/\$\d/);
  expect(statement!.samples?.map((x) => x.sql)).toContain(shape.sample);
  return verdictOf(statement!);
}

describe('candidate kinds, from pg_stat_statements plus a literal sample', () => {
  it('every statement of the workload is planned (no "there is no parameter $1")', () => {
    for (const s of SHAPES) {
      const statement = statementOf(s)!;
      expect(statement, s.name).toBeDefined();
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
    const plans = await withExplainer(client, {}, async (explainer) => {
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
    const { rows } = await client.query<{ c: string }>(
      `SELECT datcollate AS c FROM pg_database WHERE datname = current_database()`,
    );
    const r = served('title_prefix');
    expect(r.verdict).toBe('improved');
    const opclass = rows[0]!.c === 'C' || rows[0]!.c === 'POSIX' ? '' : ' text_pattern_ops';
    expect(r.definitions).toContain(`CREATE INDEX NAME ON "kinds"."articles" ((lower("title"))${opclass})`);
  });

  it("LIKE prefix written around a parameter ($1 || '%'): the sample's pattern folded", async () => {
    const { rows } = await client.query<{ c: string }>(
      `SELECT datcollate AS c FROM pg_database WHERE datname = current_database()`,
    );
    const r = served('slot_code_prefix');
    expect(r.verdict).toBe('improved');
    const opclass = rows[0]!.c === 'C' || rows[0]!.c === 'POSIX' ? '' : ' text_pattern_ops';
    expect(
      r.definitions.some((d) => d.startsWith(`CREATE INDEX NAME ON "kinds"."slots" ("code"${opclass})`)),
      r.definitions.join('; '),
    ).toBe(true);
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

  it('full-text search: GIN on the to_tsvector expression the statement matches', () => {
    const r = served('comment_fulltext');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain(
      `CREATE INDEX NAME ON "kinds"."comments" USING gin ((to_tsvector('simple', "body")))`,
    );
  });

  it('join through a foreign key without an index: the join key of the other side', () => {
    const r = served('comments_of_author');
    expect(r.verdict).toBe('improved');
    expect(r.definitions.some((d) => /ON "kinds"."comments" \("article_id"\)/.test(d))).toBe(true);
  });

  it('ILIKE prefix: a pg_trgm GIN index (no btree operator class serves a case-insensitive prefix)', () => {
    const r = served('title_ilike_prefix');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain(
      'CREATE INDEX NAME ON "kinds"."articles" USING gin ("title" "public".gin_trgm_ops)',
    );
  });

  it('OR of two columns: one index per arm, recommended as one bundle (a BitmapOr needs both)', () => {
    const r = served('slug_or_edition');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toEqual(
      expect.arrayContaining([
        'CREATE INDEX NAME ON "kinds"."articles" ("slug")',
        'CREATE INDEX NAME ON "kinds"."articles" ("edition")',
      ]),
    );
    const statement = statementOf(SHAPES.find((s) => s.name === 'slug_or_edition')!)!;
    const bundle = advice.recommendations.filter((x) => x.statements.some((st) => st.id === statement.id));
    expect(new Set(bundle.map((x) => x.group)).size).toBe(1);
    expect(bundle[0]!.group).toMatch(/^or:/);
    // The plan with the chosen set uses both (their scans combined), as the verdict says.
    expect(bundle).toHaveLength(2);
    for (const x of bundle) expect(r.detail).toContain(x.name);
  });

  it('a statement reading a view: the index on the table beneath, with the view column under its own name', () => {
    const r = served('feed_through_view');
    expect(r.verdict).toBe('improved');
    expect(
      r.definitions.some((d) =>
        d.startsWith('CREATE INDEX NAME ON "kinds"."comments" ("author_id", "posted_at" DESC)'),
      ),
    ).toBe(true);
  });

  it('expression index on a cast', () => {
    const r = served('by_edition_cast');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain('CREATE INDEX NAME ON "kinds"."articles" ((("edition")::int4))');
  });

  it('jsonb -> path under containment: GIN on the path expression', () => {
    const r = served('by_dims_path');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain(
      `CREATE INDEX NAME ON "kinds"."articles" USING gin ((("attrs" -> 'dims')) jsonb_path_ops)`,
    );
  });

  it('jsonb key existence: GIN with the default jsonb_ops (jsonb_path_ops has no ?)', () => {
    const r = served('promoted');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain('CREATE INDEX NAME ON "kinds"."articles" USING gin ("flags")');
  });

  it("foreign key without an index: the child's lookups by the parent's DELETE are a statement of their own", () => {
    const parentDelete = statementOf(SHAPES.find((s) => s.name === 'delete_list')!);
    expect(parentDelete?.example).toMatchObject({ source: 'server_log' });
    const lookup = workload.statements.find((s) => s.id.startsWith('fk:') && s.text.includes('list_items'));
    expect(lookup, 'the cascade lookup in the workload').toBeDefined();
    expect(lookup!.text).toBe('SELECT 1 FROM "kinds"."list_items" WHERE "list_id" = $1');
    // Weighed by the rows the parent's DELETE removed (one a call, three calls).
    expect(lookup!.calls).toBe(parentDelete!.calls);
    const r = verdictOf(lookup!);
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain('CREATE INDEX NAME ON "kinds"."list_items" ("list_id")');
    // The parent's own plan (a primary key lookup) is not what the index is for.
    expect(verdictOf(parentDelete!).definitions).toEqual([]);
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

  it('range overlap (&&) and containment (@>): GiST on the range column (GIN has no range operator class)', () => {
    for (const name of ['slots_overlapping', 'slots_at']) {
      const r = served(name);
      expect(r.verdict, name).toBe('improved');
      expect(r.definitions, name).toContain('CREATE INDEX NAME ON "kinds"."slots" USING gist ("during")');
    }
  });

  it('overlap of a range built from two columns: GiST on the range expression', () => {
    const r = served('slots_overlapping_columns');
    expect(r.verdict).toBe('improved');
    expect(r.definitions).toContain(
      'CREATE INDEX NAME ON "kinds"."slots" USING gist ((tstzrange("starts_at", "ends_at")))',
    );
  });

  it('ORDER BY DESC NULLS LAST with LIMIT: the key sorts NULLs last too (a plain DESC index cannot give that order)', () => {
    const r = served('latest_reviewed');
    expect(r.verdict).toBe('improved');
    expect(r.definitions.some((d) => /ON "kinds"."articles" \("reviewed_at" DESC NULLS LAST\)/.test(d))).toBe(
      true,
    );
  });

  it('IS NOT NULL on a mostly NULL column: a partial index WHERE col IS NOT NULL, keyed by the order', () => {
    // Keyed like the existing full index on booked_at, which does not make it redundant: it holds the
    // cancelled rows only.
    const r = served('cancelled_slots');
    expect(r.verdict).toBe('improved');
    expect(
      r.definitions.some((d) =>
        /ON "kinds"."slots" \("booked_at" DESC\)( INCLUDE \([^)]*\))? WHERE "cancelled_at" IS NOT NULL$/.test(
          d,
        ),
      ),
      r.definitions.join('; '),
    ).toBe(true);
  });

  it('NOT on a boolean column (Django writes flag=False so): the flag as an equality, then the order', () => {
    // The existing index on booked_at scans the 99% notified rows first. Served by the flag as the key's
    // equality column, or as the WHERE of a partial index keyed by the order.
    const r = served('to_notify');
    expect(r.verdict).toBe('improved');
    expect(
      r.definitions.some(
        (d) =>
          /ON "kinds"."slots" \("notified", "booked_at"\)/.test(d) ||
          /ON "kinds"."slots" \("booked_at"\)( INCLUDE \([^)]*\))? WHERE "notified" = false$/.test(d),
      ),
      r.definitions.join('; '),
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
