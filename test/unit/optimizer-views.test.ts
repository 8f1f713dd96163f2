import { beforeAll, describe, expect, it } from 'vitest';
import { parseStatements, unwrap } from '../../functions/db/parse-tree.ts';
import { resolveStatement } from '../../functions/optimizer/access.ts';
import {
  analyzeStatementSync,
  loadParser,
  type StatementAnalysis,
} from '../../functions/optimizer/analyze.ts';
import { Catalog, type TableInfo } from '../../functions/optimizer/catalog.ts';
import type { ViewDefinition, ViewLookup } from '../../functions/optimizer/views.ts';
import { noActivity } from '../support/optimizer-fixtures.ts';

beforeAll(async () => {
  await loadParser();
});

/** Views as pg_get_viewdef prints them (a one-table view's columns unqualified). */
function lookupOf(defs: Record<string, string>): ViewLookup {
  const views = new Map<string, ViewDefinition>();
  for (const [qualified, sql] of Object.entries(defs)) {
    const [schema, name] = qualified.split('.') as [string, string];
    const select = unwrap(parseStatements(sql).stmts[0]!.stmt)![1];
    views.set(`${schema}.${name}`, { schema, name, select });
    views.set(`.${name}`, { schema, name, select });
  }
  return (schema, name) => views.get(`${schema ?? ''}.${name}`);
}

let LOOKUP: ViewLookup;
const DEFINITIONS = {
  'app.active_posts': ` SELECT id,\n    "authorId",\n    "categoryId",\n    title,\n    "createdAt",\n    "deletedAt"\n   FROM app."Post"\n  WHERE "deletedAt" IS NULL;`,
  'app.user_keys': ' SELECT id,\n    lower((email)::text) AS email_key\n   FROM app."User";',
  'app.recent_active': ` SELECT id,\n    "categoryId",\n    "createdAt"\n   FROM app.active_posts\n  WHERE "createdAt" > '2025-01-01 00:00:00'::timestamp without time zone;`,
  'app.posts_per_author':
    ' SELECT "authorId",\n    count(*) AS n\n   FROM app."Post"\n  WHERE "categoryId" = 7\n  GROUP BY "authorId";',
  'app.post_authors':
    ' SELECT p.id,\n    p.title,\n    u.email\n   FROM (app."Post" p\n     JOIN app."User" u ON ((u.id = p."authorId")));',
};
beforeAll(() => {
  LOOKUP = lookupOf(DEFINITIONS);
});

function table(oid: number, name: string, columns: string[]) {
  return {
    oid,
    schema: 'app',
    name,
    relkind: 'r',
    isPartition: false,
    leafCount: 1,
    totalBytes: 1e6,
    heapBytes: 1e6,
    reltuples: 10_000,
    activity: noActivity(),
    columns: columns.map((c) => ({
      name: c,
      type: 'text',
      typeCategory: 'S',
      notNull: false,
      nDistinct: null,
      nullFrac: 0,
      avgWidth: 8,
      correlation: null,
    })),
    indexes: [],
    requested: [
      { schema: 'app', name },
      { schema: null, name },
    ],
  } satisfies TableInfo & { requested: unknown };
}

const CATALOG = new Catalog([
  table(1, 'Post', ['id', 'authorId', 'categoryId', 'title', 'createdAt', 'deletedAt', 'viewCount']),
  table(2, 'User', ['id', 'email']),
]);

function analyze(sql: string, views: ViewLookup = LOOKUP): StatementAnalysis {
  const r = analyzeStatementSync(sql, views);
  if (!r.analysis) throw new Error(r.error);
  return r.analysis;
}

const summary = (sql: string) => {
  const r = resolveStatement(analyze(sql), CATALOG);
  return {
    unresolved: r.unresolved,
    accesses: r.accesses.map((a) => ({
      table: a.table.name,
      predicates: a.predicates.map((p) => `${p.expression?.sql ?? p.column} ${p.kind}`).sort(),
      order: a.order?.items.map((i) => `${i.column} ${i.direction}`),
      limit: a.order?.limit,
    })),
  };
};

describe('statements read through views', () => {
  it('reads a simple view as its table: the statement and the view conditions on one access, ORDER BY mapped', () => {
    expect(
      summary(
        'SELECT id, title FROM app.active_posts WHERE "categoryId" = $1 ORDER BY "createdAt" DESC LIMIT 10',
      ),
    ).toEqual({
      unresolved: [],
      accesses: [
        {
          table: 'Post',
          predicates: ['categoryId eq', 'deletedAt is_null'],
          order: ['createdAt desc'],
          limit: true,
        },
      ],
    });
    // Without the views the statement names no table the catalog knows.
    const bare = analyzeStatementSync('SELECT id FROM app.active_posts WHERE "categoryId" = $1');
    expect(resolveStatement(bare.analysis!, CATALOG).unresolved).toEqual(['app.active_posts']);
  });

  it('keeps an aliased view apart from the same table named beside it, and maps computed columns to expressions', () => {
    const r = summary(
      'SELECT p.id FROM app.active_posts p JOIN app."Post" x ON x.id = p.id WHERE p."authorId" = $1 AND x."viewCount" > 10',
    );
    expect(r.unresolved).toEqual([]);
    expect(r.accesses.map((a) => a.predicates)).toEqual([
      ['authorId eq', 'deletedAt is_null'],
      ['viewCount range'],
    ]);
    expect(summary('SELECT k.id FROM app.user_keys k WHERE k.email_key = lower($1)').accesses).toEqual([
      { table: 'User', predicates: ['lower(("email")::text) eq'], order: undefined, limit: undefined },
    ]);
  });

  it('expands a view of a view, a view with a join, and reads a grouped view as a query of its own', () => {
    expect(
      summary('SELECT id FROM app.recent_active WHERE "categoryId" = 3').accesses[0]!.predicates,
    ).toEqual(['categoryId eq', 'createdAt range', 'deletedAt is_null']);
    const joined = summary('SELECT id FROM app.post_authors WHERE email = $1');
    expect(joined.accesses.map((a) => [a.table, a.predicates])).toEqual([
      ['Post', []],
      ['User', ['email eq']],
    ]);
    const grouped = summary('SELECT n FROM app.posts_per_author WHERE "authorId" = $1');
    expect(grouped.unresolved).toEqual([]);
    // The view's own WHERE is read; the outer condition on a grouped column is not pushed into it.
    expect(grouped.accesses.map((a) => [a.table, a.predicates])).toEqual([['Post', ['categoryId eq']]]);
  });

  it('writes through an updatable view to its table, with its condition', () => {
    const a = analyze('UPDATE app.active_posts SET title = $1 WHERE id = $2');
    const r = resolveStatement(a, CATALOG);
    expect(r.writes?.name).toBe('Post');
    expect(r.setColumns).toEqual(['title']);
    expect(r.accesses[0]!.predicates.map((p) => `${p.column} ${p.kind}`).sort()).toEqual([
      'deletedAt is_null',
      'id eq',
    ]);
  });

  it('leaves a CTE named like a view, and a table the lookup does not know, as they are', () => {
    const a = analyze(
      'WITH active_posts AS (SELECT id FROM app."Post" WHERE "authorId" = 1) SELECT id FROM active_posts',
    );
    expect(a.relations.map((r) => r.name)).toEqual(['Post']);
    expect(resolveStatement(a, CATALOG).accesses[0]!.predicates.map((p) => p.column)).toEqual(['authorId']);
  });
});
