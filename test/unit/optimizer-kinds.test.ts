import { describe, expect, it } from 'vitest';
import type { AccessPredicate, TableAccess } from '../../functions/optimizer/access.ts';
import { analyzeStatement } from '../../functions/optimizer/analyze.ts';
import { buildStatements } from '../../functions/optimizer/build-plan.ts';
import { coveringIndex } from '../../functions/optimizer/candidate-merge.ts';
import { columnStatisticsSql, createIndexSql } from '../../functions/optimizer/candidate-sql.ts';
import { candidatesForAccess, likePrefix } from '../../functions/optimizer/candidates.ts';
import type { IndexInfo, TableInfo } from '../../functions/optimizer/catalog.ts';
import { writeCostOf } from '../../functions/optimizer/write-cost.ts';
import { noActivity } from '../support/optimizer-fixtures.ts';

// The candidate kinds a DBA writes, from the access a statement makes (pure: no server). The
// integration test optimizer-kinds.test.ts checks the same kinds end to end on PostgreSQL.

function table(schema = 'app', indexes: IndexInfo[] = [], collation = 'en_US.UTF-8'): TableInfo {
  const col = (name: string, type: string, typeCategory: string, nDistinct: number) => ({
    name,
    type,
    typeCategory,
    notNull: true,
    nDistinct,
    nullFrac: 0,
    avgWidth: 8,
    correlation: null,
    collation: typeCategory === 'S' ? collation : null,
    collationC: typeCategory === 'S' ? collation === 'C' : null,
  });
  return {
    oid: 7,
    schema,
    name: 'items',
    relkind: 'r',
    isPartition: false,
    leafCount: 1,
    totalBytes: 1e8,
    heapBytes: 1e8,
    reltuples: 500_000,
    activity: noActivity(),
    columns: [
      col('id', 'bigint', 'N', -1),
      col('title', 'text', 'S', -1),
      col('code', 'character varying(20)', 'S', -1),
      col('state', 'text', 'S', 4),
      col('doc', 'jsonb', 'U', -1),
      col('labels', 'text[]', 'A', -1),
      col('at', 'timestamp without time zone', 'D', -1),
      col('span', 'tstzrange', 'R', -1),
    ],
    indexes,
  };
}

function access(predicates: AccessPredicate[], t = table()): TableAccess {
  return {
    table: t,
    occurrence: 0,
    predicates,
    orGroups: [],
    joinColumns: [],
    columns: new Set(),
    allColumns: true,
  };
}

const pred = (column: string, kind: AccessPredicate['kind'], extra: Partial<AccessPredicate> = {}) =>
  ({ column, kind, operator: '=', params: [1], ...extra }) as AccessPredicate;

const sqlOf = (a: TableAccess, env = {}) =>
  candidatesForAccess(a, 's1', env).map((c) => createIndexSql(c, { name: 'i' }));

describe('expression and pattern candidates', () => {
  it('reads expressions on one column from the parser, with the jsonb key as written', async () => {
    const { analysis } = await analyzeStatement(
      `SELECT id FROM app.items WHERE lower(title) LIKE 'abc%' AND (doc ->> 'kind') = $1 AND at::date = $2`,
    );
    expect(analysis!.predicates.map((p) => [p.kind, p.expression?.sql])).toEqual([
      ['like', 'lower("title")'],
      ['eq', `("doc" ->> 'kind')`],
      ['eq', '("at")::date'],
    ]);
    // Normalized by pg_stat_statements, the key is a $n: kept, but marked as needing a sample.
    const normalized = await analyzeStatement('SELECT id FROM app.items WHERE doc ->> $1 = $2');
    expect(normalized.analysis!.predicates[0]!.expression).toEqual({
      sql: '("doc" ->> $1)',
      params: [1],
      jsonb: false,
    });
    expect(normalized.analysis!.maxParam).toBe(2);
  });

  it("folds a pattern written around a parameter ($1 || '%') from its sample: a LIKE prefix", async () => {
    const { analysis } = await analyzeStatement(
      `SELECT id FROM app.items WHERE lower(title) LIKE 'abc' || '%' AND code LIKE ('x' || 'y')::text || '%'`,
    );
    expect(analysis!.predicates.map((p) => [p.kind, p.literals?.map((l) => l.text)])).toEqual([
      ['like', ['abc%']],
      ['like', ['xy%']],
    ]);
    // Normalized, the parts are $n: no literal until a sample gives them.
    const normalized = await analyzeStatement('SELECT id FROM app.items WHERE lower(title) LIKE $1 || $2');
    expect(normalized.analysis!.predicates[0]!.literals ?? []).toEqual([]);
  });

  it('builds an expression index, and none while the jsonb key is still a $n', () => {
    const known = pred('doc', 'eq', { expression: { sql: `("doc" ->> 'kind')`, params: [], jsonb: false } });
    expect(sqlOf(access([known]))).toEqual([`CREATE INDEX "i" ON "app"."items" ((("doc" ->> 'kind')))`]);
    const unknown = pred('doc', 'eq', { expression: { sql: '("doc" ->> $1)', params: [1], jsonb: false } });
    expect(sqlOf(access([unknown]))).toEqual([]);
  });

  it('LIKE with a constant prefix: btree with the pattern operator class unless the collation is C', () => {
    const like = (column: string, pattern: string) =>
      pred(column, 'like', {
        operator: '~~',
        literals: [{ text: pattern, sql: `'${pattern}'` }],
        params: [],
      });
    expect(sqlOf(access([like('title', 'abc%')]))).toEqual([
      'CREATE INDEX "i" ON "app"."items" ("title" text_pattern_ops)',
    ]);
    expect(sqlOf(access([like('code', 'X1%')]))).toEqual([
      'CREATE INDEX "i" ON "app"."items" ("code" varchar_pattern_ops)',
    ]);
    expect(sqlOf(access([like('title', 'abc%')], table('app', [], 'C')))).toEqual([
      'CREATE INDEX "i" ON "app"."items" ("title")',
    ]);
    // An infix pattern: no btree; a trigram index only where pg_trgm is installed.
    expect(sqlOf(access([like('title', '%abc%')]))).toEqual([]);
    expect(sqlOf(access([like('title', '%abc%')]), { extensions: new Map([['pg_trgm', 'ext']]) })).toEqual([
      'CREATE INDEX "i" ON "app"."items" USING gin ("title" "ext".gin_trgm_ops)',
    ]);
    expect(likePrefix('ab_c%')).toBe('ab');
    expect(likePrefix('%x')).toBeUndefined();
  });

  it('a regular expression (~, ~*) on a text column or expression: a pg_trgm GIN index, as for ILIKE', async () => {
    const { analysis } = await analyzeStatement(
      `SELECT id FROM app.items WHERE title ~* 'okonkwo' AND lower(code) ~ $1 AND state !~ 'x'`,
    );
    expect(analysis!.predicates.map((p) => [p.kind, p.operator, p.expression?.sql])).toEqual([
      ['regex', '~*', undefined],
      ['regex', '~', 'lower("code")'],
    ]);
    const regex = (column: string, extra: Partial<AccessPredicate> = {}) =>
      pred(column, 'regex', {
        operator: '~*',
        literals: [{ text: 'abc', sql: `'abc'` }],
        params: [],
        ...extra,
      });
    const trgm = { extensions: new Map([['pg_trgm', 'ext']]) };
    expect(sqlOf(access([regex('title')]), trgm)).toEqual([
      'CREATE INDEX "i" ON "app"."items" USING gin ("title" "ext".gin_trgm_ops)',
    ]);
    expect(
      sqlOf(
        access([regex('code', { expression: { sql: 'lower("code")', params: [], jsonb: false } })]),
        trgm,
      ),
    ).toEqual(['CREATE INDEX "i" ON "app"."items" USING gin ((lower("code")) "ext".gin_trgm_ops)']);
    // No extension, or not a string column: nothing.
    expect(sqlOf(access([regex('title')]))).toEqual([]);
    expect(sqlOf(access([regex('id')]), trgm)).toEqual([]);
  });

  it('a trigram index on a plain column raises the column statistics target, unless the user set one', () => {
    const regex = pred('title', 'regex', {
      operator: '~*',
      literals: [{ text: 'abc', sql: `'abc'` }],
      params: [],
    });
    const trgm = { extensions: new Map([['pg_trgm', 'ext']]) };
    const withTarget = (target: number | null) => {
      const t = table();
      t.columns = t.columns.map((c) => (c.name === 'title' ? { ...c, statisticsTarget: target } : c));
      return candidatesForAccess(access([regex], t), 's1', trgm)[0]!;
    };
    const alter = 'ALTER TABLE "app"."items" ALTER COLUMN "title" SET STATISTICS 1000';
    // The default: -1 before PostgreSQL 17, NULL from 17.
    expect(columnStatisticsSql(withTarget(-1))).toEqual([alter]);
    expect(columnStatisticsSql(withTarget(null))).toEqual([alter]);
    expect(columnStatisticsSql(withTarget(250))).toEqual([]);
    // A step of the build, after the index.
    expect(buildStatements(withTarget(null), 'i', undefined).map((s) => [s.kind, s.sql])).toEqual([
      [
        'create_concurrently',
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "i" ON "app"."items" USING gin ("title" "ext".gin_trgm_ops)',
      ],
      ['statistics', alter],
    ]);
    // An expression's target is the index's own (statisticsSql); a btree's column is left alone.
    const expr = pred('title', 'regex', {
      operator: '~*',
      params: [],
      expression: { sql: 'lower("title")', params: [], jsonb: false },
    });
    expect(columnStatisticsSql(candidatesForAccess(access([expr]), 's1', trgm)[0]!)).toEqual([]);
    expect(columnStatisticsSql(candidatesForAccess(access([pred('title', 'eq')]), 's1')[0]!)).toEqual([]);
  });

  it('GIN: array_ops for array operators, jsonb_ops for existence, jsonb_path_ops for containment only', () => {
    expect(sqlOf(access([pred('labels', 'array_contained')]))).toEqual([
      'CREATE INDEX "i" ON "app"."items" USING gin ("labels")',
    ]);
    expect(sqlOf(access([pred('doc', 'jsonb_exists')]))).toEqual([
      'CREATE INDEX "i" ON "app"."items" USING gin ("doc")',
    ]);
    expect(sqlOf(access([pred('doc', 'jsonb_contains')]))).toEqual([
      'CREATE INDEX "i" ON "app"."items" USING gin ("doc" jsonb_path_ops)',
    ]);
  });

  it('GiST for range operators (GIN has no range operator class), covered by an existing GiST on the column', () => {
    for (const kind of ['array_overlap', 'jsonb_contains', 'array_contained'] as const)
      expect(sqlOf(access([pred('span', kind, { operator: '&&' })])), kind).toEqual([
        'CREATE INDEX "i" ON "app"."items" USING gist ("span")',
      ]);
    const [c] = candidatesForAccess(access([pred('span', 'array_overlap', { operator: '&&' })]), 's1');
    const existing = (method: string): IndexInfo => ({
      oid: 1,
      name: 'items_span',
      schema: 'app',
      method,
      valid: true,
      unique: false,
      primary: false,
      keyCount: 1,
      predicate: null,
      definition: '',
      keys: [
        {
          column: 'span',
          expression: null,
          desc: false,
          nullsFirst: false,
          opclass: 'range_ops',
          included: false,
        },
      ],
      bytes: 0,
      scans: 0,
    });
    expect(coveringIndex(c!, [existing('gist')])?.name).toBe('items_span');
    // A btree on the range column serves none of these operators.
    expect(coveringIndex(c!, [existing('btree')])).toBeUndefined();
    // A GiST insertion costs more than a btree's, less than a GIN's several keys.
    const writes = { insertRows: 100, updates: [], deleteRows: 0 };
    expect(writeCostOf(c!, writes)).toBe(100 * 1.5);
  });

  it("ORDER BY ... NULLS LAST/FIRST against the direction's default: the key sorts its NULLs as asked", () => {
    const ordered = (nulls: 'first' | 'last' | 'default', direction: 'asc' | 'desc' = 'desc') => {
      const a = access([pred('state', 'eq')]);
      a.order = { items: [{ column: 'at', direction, nulls }], limit: true };
      return candidatesForAccess(a, 's1').find((c) => c.columns.some((x) => x.ordered))!;
    };
    const sql = (c: ReturnType<typeof ordered>) => createIndexSql(c, { name: 'i' });
    expect(sql(ordered('last'))).toBe('CREATE INDEX "i" ON "app"."items" ("state", "at" DESC NULLS LAST)');
    expect(sql(ordered('first', 'asc'))).toBe(
      'CREATE INDEX "i" ON "app"."items" ("state", "at" NULLS FIRST)',
    );
    // The direction's default is written as such.
    expect(sql(ordered('first'))).toBe('CREATE INDEX "i" ON "app"."items" ("state", "at" DESC)');
    expect(sql(ordered('default'))).toBe('CREATE INDEX "i" ON "app"."items" ("state", "at" DESC)');
    expect(ordered('last').key).not.toBe(ordered('default').key);
    // An existing (state, at) serves DESC NULLS FIRST read backwards, not DESC NULLS LAST; one with
    // (state, at DESC NULLS LAST) or (state, at NULLS FIRST) read backwards does.
    const existing = (desc: boolean, nullsFirst: boolean): IndexInfo => ({
      oid: 1,
      name: 'x',
      schema: 'app',
      method: 'btree',
      valid: true,
      unique: false,
      primary: false,
      keyCount: 2,
      predicate: null,
      definition: '',
      keys: [
        {
          column: 'state',
          expression: null,
          desc: false,
          nullsFirst: false,
          opclass: 'text_ops',
          included: false,
        },
        { column: 'at', expression: null, desc, nullsFirst, opclass: 'timestamp_ops', included: false },
      ],
      bytes: 0,
      scans: 0,
    });
    expect(coveringIndex(ordered('default'), [existing(false, false)])?.name).toBe('x');
    expect(coveringIndex(ordered('last'), [existing(false, false)])).toBeUndefined();
    expect(coveringIndex(ordered('last'), [existing(true, false)])?.name).toBe('x');
    expect(coveringIndex(ordered('last'), [existing(false, true)])?.name).toBe('x');
  });

  it('reads IS NOT NULL as a predicate of its own, and not as an OR arm', async () => {
    const { analysis } = await analyzeStatement(
      'SELECT id FROM app.items WHERE at IS NOT NULL AND title IS NULL ORDER BY id DESC LIMIT 5',
    );
    expect(analysis!.predicates.map((p) => [p.column.column, p.kind, p.operator])).toEqual([
      ['at', 'not_null', 'IS NOT NULL'],
      ['title', 'is_null', 'IS NULL'],
    ]);
    const or = await analyzeStatement('SELECT id FROM app.items WHERE at IS NOT NULL OR state = $1');
    expect(or.analysis!.orGroups).toEqual([]);
  });

  it('reads NOT on a boolean column as = false (a partial index WHERE NOT flag serves it), and other NOTs not', async () => {
    const { analysis } = await analyzeStatement(
      'SELECT id FROM app.items WHERE NOT done AND state = $1 AND NOT (title = $2) ORDER BY at LIMIT 5',
    );
    expect(analysis!.predicates.map((p) => [p.column.column, p.kind, p.literals?.map((l) => l.sql)])).toEqual(
      [
        ['done', 'eq', ['false']],
        ['state', 'eq', undefined],
      ],
    );
    expect(analysis!.notes).toContain('NOT condition');
  });

  it('IS NOT NULL on a mostly NULL column: a partial index WHERE col IS NOT NULL, keyed by the order', () => {
    const withNulls = (nullFrac: number) => {
      const t = table();
      t.columns = t.columns.map((c) => (c.name === 'at' ? { ...c, notNull: false, nullFrac } : c));
      return t;
    };
    const a = access([pred('at', 'not_null', { operator: 'IS NOT NULL', params: [] })], withNulls(0.98));
    a.order = { items: [{ column: 'id', direction: 'desc', nulls: 'default' }], limit: true };
    expect(sqlOf(a)).toContain('CREATE INDEX "i" ON "app"."items" ("id" DESC) WHERE "at" IS NOT NULL');
    // No order: the column itself is the key.
    expect(
      sqlOf(access([pred('at', 'not_null', { operator: 'IS NOT NULL', params: [] })], withNulls(0.98))),
    ).toEqual(['CREATE INDEX "i" ON "app"."items" ("at") WHERE "at" IS NOT NULL']);
    // Most rows have a value: the condition selects nothing worth an index.
    expect(
      sqlOf(access([pred('at', 'not_null', { operator: 'IS NOT NULL', params: [] })], withNulls(0.1))),
    ).toEqual([]);
  });

  it('a range built from two columns (tstzrange(a, b) && ...): GiST on the expression, whose write cost reads both', async () => {
    const { analysis } = await analyzeStatement(
      'SELECT id FROM app.items WHERE tstzrange(at, at2) && tstzrange($1, $2) AND lower(title || code) = $3',
    );
    // The range is read over two columns, marked as a range; since the holdout-b merge any expression
    // of one table's columns is too (coalesce(closed_at, opened_at)), as an expression btree.
    expect(
      analysis!.predicates.map((p) => [p.column.column, p.kind, p.expression?.sql, p.expression?.range]),
    ).toEqual([
      ['at', 'array_overlap', 'tstzrange("at", "at2")', true],
      ['title', 'eq', 'lower(("title" || "code"))', undefined],
    ]);
    const expression = { sql: 'tstzrange("at", "at2")', params: [], jsonb: false, range: true };
    const [c] = candidatesForAccess(
      access([pred('at', 'array_overlap', { operator: '&&', expression })]),
      's1',
    );
    expect(createIndexSql(c!, { name: 'i' })).toBe(
      'CREATE INDEX "i" ON "app"."items" USING gist ((tstzrange("at", "at2")))',
    );
    const existing: IndexInfo = {
      oid: 1,
      name: 'items_span',
      schema: 'app',
      method: 'gist',
      valid: true,
      unique: false,
      primary: false,
      keyCount: 1,
      predicate: null,
      definition: '',
      keys: [
        {
          column: null,
          expression: 'tstzrange(at, at2)',
          desc: false,
          nullsFirst: false,
          opclass: 'range_ops',
          included: false,
        },
      ],
      bytes: 0,
      scans: 0,
    };
    expect(coveringIndex(c!, [existing])?.name).toBe('items_span');
    // An UPDATE of the second column changes the range: it is no longer HOT, and takes an entry.
    const writes = { insertRows: 0, updates: [{ rows: 10, setColumns: ['at2'] }], deleteRows: 0 };
    expect(writeCostOf(c!, writes)).toBe(10 * 1.5);
  });

  it('IS NULL with a sort order: a partial index WHERE col IS NULL, so the order comes from the key', () => {
    const a = access([pred('state', 'eq'), pred('at', 'is_null', { operator: 'IS NULL', params: [] })]);
    a.order = { items: [{ column: 'id', direction: 'asc', nulls: 'default' }], limit: true };
    const cs = candidatesForAccess(a, 's1');
    const partial = cs.find((c) => c.predicate?.fixed);
    expect(partial && createIndexSql(partial, { name: 'i' })).toBe(
      'CREATE INDEX "i" ON "app"."items" ("state", "id") WHERE "at" IS NULL',
    );
    // An existing index with the same WHERE covers it; one with another condition does not.
    const existing = (predicate: string): IndexInfo => ({
      oid: 1,
      name: 'x',
      schema: 'app',
      method: 'btree',
      valid: true,
      unique: false,
      primary: false,
      keyCount: 2,
      predicate,
      definition: '',
      keys: ['state', 'id'].map((column) => ({
        column,
        expression: null,
        desc: false,
        nullsFirst: false,
        opclass: 'text_ops',
        included: false,
      })),
      bytes: 0,
      scans: 0,
    });
    expect(coveringIndex(partial!, [existing('(at IS NULL)')])?.name).toBe('x');
    expect(coveringIndex(partial!, [existing('(at IS NOT NULL)')])).toBeUndefined();
  });

  it('never proposes an index on a system catalog', () => {
    expect(sqlOf(access([pred('id', 'eq')], table('pg_catalog')))).toEqual([]);
    expect(sqlOf(access([pred('id', 'eq')], table('information_schema')))).toEqual([]);
  });

  it('an existing expression index covers the same expression written differently', () => {
    const existing: IndexInfo = {
      oid: 1,
      name: 'items_lower_title',
      schema: 'app',
      method: 'btree',
      valid: true,
      unique: false,
      primary: false,
      keyCount: 1,
      predicate: null,
      definition: '',
      keys: [
        {
          column: null,
          expression: "(doc ->> 'kind'::text)",
          desc: false,
          nullsFirst: false,
          opclass: 'text_ops',
          included: false,
        },
      ],
      bytes: 0,
      scans: 0,
    };
    const [c] = candidatesForAccess(
      access([pred('doc', 'eq', { expression: { sql: `("doc" ->> 'kind')`, params: [], jsonb: false } })]),
      's1',
    );
    expect(coveringIndex(c!, [existing])?.name).toBe('items_lower_title');
  });
});

describe('write cost', () => {
  const [onState] = candidatesForAccess(access([pred('state', 'eq')]), 's1');
  const [onTitle] = candidatesForAccess(access([pred('title', 'eq')]), 's1');

  it('counts every inserted row, and an updated row only when the UPDATE sets a column the index reads', () => {
    const writes = { insertRows: 100, updates: [{ rows: 1000, setColumns: ['state'] }], deleteRows: 0 };
    expect(writeCostOf(onTitle!, writes)).toBe(100 * 0.5);
    // The table has no index on state: its updates were HOT; this index stops that, and the table's
    // existing indexes (none here) would take an entry as well.
    expect(writeCostOf(onState!, writes)).toBe(100 * 0.5 + 1000 * 0.5);
    expect(writeCostOf(onState!, undefined)).toBe(0);
  });
});
