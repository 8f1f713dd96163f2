import { describe, expect, it } from 'vitest';
import type { AccessPredicate, TableAccess } from '../../functions/optimizer/access.ts';
import { coveringIndex, mergeCandidates } from '../../functions/optimizer/candidate-merge.ts';
import { candidateName, createIndexSql } from '../../functions/optimizer/candidate-sql.ts';
import { candidatesForAccess } from '../../functions/optimizer/candidates.ts';
import type { IndexInfo, TableInfo } from '../../functions/optimizer/catalog.ts';
import { bundlesForAccess, mergeBundles, withoutCovered } from '../../functions/optimizer/or-bundles.ts';
import { noActivity } from '../support/optimizer-fixtures.ts';

const COLUMNS: Record<string, { type: string; cat: string; nd: number }> = {
  id: { type: 'bigint', cat: 'N', nd: -1 },
  status: { type: 'text', cat: 'S', nd: 5 },
  score: { type: 'double precision', cat: 'N', nd: -0.5 },
  created_at: { type: 'timestamp with time zone', cat: 'D', nd: -0.9 },
  updated_at: { type: 'timestamp with time zone', cat: 'D', nd: -0.9 },
  name: { type: 'text', cat: 'S', nd: -1 },
  workspace_id: { type: 'bigint', cat: 'N', nd: 20_000 },
  metadata: { type: 'jsonb', cat: 'U', nd: -1 },
  tags: { type: 'jsonb', cat: 'U', nd: -1 },
  labels: { type: 'text[]', cat: 'A', nd: -1 },
};

function tableInfo(indexes: IndexInfo[] = [], relkind = 'r'): TableInfo {
  return {
    oid: 42,
    schema: 'dgm',
    name: 'dgm_archive',
    relkind,
    isPartition: false,
    leafCount: 1,
    totalBytes: 1e8,
    heapBytes: 1e8,
    reltuples: 1_000_000,
    activity: noActivity(),
    columns: Object.entries(COLUMNS).map(([name, c]) => ({
      name,
      type: c.type,
      typeCategory: c.cat,
      notNull: false,
      nDistinct: c.nd,
      nullFrac: 0,
      avgWidth: name === 'name' ? 64 : 8,
      correlation: null,
    })),
    indexes,
  };
}

function access(
  predicates: AccessPredicate[],
  extra: Partial<TableAccess> = {},
  table = tableInfo(),
): TableAccess {
  return {
    table,
    occurrence: 0,
    predicates,
    orGroups: [],
    joinColumns: [],
    columns: new Set(),
    allColumns: true,
    ...extra,
  };
}

const p = (
  column: string,
  kind: AccessPredicate['kind'],
  extra: Partial<AccessPredicate> = {},
): AccessPredicate => ({
  column,
  kind,
  operator: kind === 'range' ? '>=' : '=',
  params: [1],
  ...extra,
});

const lit = (...xs: string[]) => xs.map((x) => ({ text: x, sql: `'${x}'` }));

function index(name: string, keys: Array<[string, boolean?]>, extra: Partial<IndexInfo> = {}): IndexInfo {
  return {
    oid: 1,
    name,
    schema: 'dgm',
    method: 'btree',
    valid: true,
    unique: false,
    primary: false,
    keyCount: keys.length,
    predicate: null,
    definition: '',
    keys: keys.map(([column, desc]) => ({
      column,
      expression: null,
      desc: desc ?? false,
      // As the catalog reports a key written without NULLS FIRST / LAST: NULLs first when DESC.
      nullsFirst: desc ?? false,
      opclass: 'text_ops',
      included: false,
    })),
    bytes: 0,
    scans: 0,
    ...extra,
  };
}

const sqlOf = (cs: ReturnType<typeof candidatesForAccess>) => cs.map((c) => createIndexSql(c, { name: 'i' }));

describe('candidate indexes', () => {
  it('orders a composite btree as equality, then the sort order (which also serves the range)', () => {
    const cs = candidatesForAccess(
      access([p('status', 'eq'), p('score', 'range')], {
        order: {
          items: [
            { column: 'score', direction: 'desc', nulls: 'default' },
            { column: 'created_at', direction: 'desc', nulls: 'default' },
          ],
          limit: true,
        },
      }),
      's1',
    );
    expect(sqlOf(cs)).toEqual([
      'CREATE INDEX "i" ON "dgm"."dgm_archive" ("status", "score" DESC, "created_at" DESC)',
      'CREATE INDEX "i" ON "dgm"."dgm_archive" ("status", "score")',
    ]);
    expect(cs[0]!.reason).toBe('equality on status; order by score DESC, created_at DESC with LIMIT');
    // The shorter one is a prefix of the longer: merged into it.
    const merged = mergeCandidates(cs);
    expect(sqlOf(merged)).toEqual([
      'CREATE INDEX "i" ON "dgm"."dgm_archive" ("status", "score" DESC, "created_at" DESC)',
    ]);
  });

  it('puts an IS NULL column after the sort order: it makes no order redundant, an equality does', () => {
    const cs = candidatesForAccess(
      access([p('workspace_id', 'eq'), p('updated_at', 'is_null', { params: [] })], {
        order: { items: [{ column: 'created_at', direction: 'desc', nulls: 'default' }], limit: true },
      }),
      's1',
    );
    const ordered = cs.find((c) => c.reason.includes('order by'))!;
    expect(createIndexSql(ordered, { name: 'i' })).toBe(
      'CREATE INDEX "i" ON "dgm"."dgm_archive" ("workspace_id", "created_at" DESC, "updated_at")',
    );
    expect(ordered.eqPrefix).toBe(1);
    expect(ordered.reason).toBe(
      'equality on workspace_id; order by created_at DESC; IS NULL on updated_at with LIMIT',
    );
    // No candidate puts the IS NULL column before the order column.
    const keys = cs.map((c) => c.columns.map((x) => x.column).join());
    expect(keys).not.toContain('workspace_id,updated_at,created_at');
    // The partial index holding only the NULL rows, keyed by the equality and the order.
    expect(sqlOf(cs)).toContain(
      'CREATE INDEX "i" ON "dgm"."dgm_archive" ("workspace_id", "created_at" DESC) WHERE "updated_at" IS NULL',
    );
  });

  it('puts the most selective equality first, then IN lists, then one range column', () => {
    const cs = candidatesForAccess(
      access([p('status', 'eq'), p('workspace_id', 'eq'), p('name', 'in'), p('created_at', 'range')]),
      's1',
    );
    expect(sqlOf(cs)).toEqual([
      'CREATE INDEX "i" ON "dgm"."dgm_archive" ("workspace_id", "status", "name", "created_at")',
    ]);
  });

  it('makes a partial index of a constant IN list on a low-cardinality column', () => {
    const cs = candidatesForAccess(
      access([p('status', 'in', { literals: lit('pending', 'active'), params: [] })], {
        order: { items: [{ column: 'updated_at', direction: 'desc', nulls: 'default' }], limit: true },
      }),
      's1',
    );
    expect(sqlOf(cs)).toContain(
      `CREATE INDEX "i" ON "dgm"."dgm_archive" ("updated_at" DESC) WHERE "status" IN ('active', 'pending')`,
    );
    // $n values (normalized text) give no partial index: the constants are unknown.
    const normalized = candidatesForAccess(access([p('status', 'in', { params: [1, 2] })]), 's2');
    expect(normalized.some((c) => c.predicate)).toBe(false);
    // Nor does a constant on a high-cardinality column (that is a plain lookup).
    const lookup = candidatesForAccess(access([p('name', 'eq', { literals: lit('x'), params: [] })]), 's3');
    expect(lookup.some((c) => c.predicate)).toBe(false);
  });

  it('chooses the GIN operator class the operators need', () => {
    const contains = candidatesForAccess(access([p('metadata', 'jsonb_contains')]), 's1');
    expect(sqlOf(contains)).toEqual([
      'CREATE INDEX "i" ON "dgm"."dgm_archive" USING gin ("metadata" jsonb_path_ops)',
    ]);
    const exists = candidatesForAccess(access([p('tags', 'jsonb_exists')]), 's2');
    expect(sqlOf(exists)).toEqual(['CREATE INDEX "i" ON "dgm"."dgm_archive" USING gin ("tags")']);
    const arrays = candidatesForAccess(access([p('labels', 'array_overlap')]), 's3');
    expect(sqlOf(arrays)).toEqual(['CREATE INDEX "i" ON "dgm"."dgm_archive" USING gin ("labels")']);
    // Both on one column: jsonb_ops serves containment as well, one index.
    const both = mergeCandidates([
      ...candidatesForAccess(access([p('tags', 'jsonb_contains')]), 'a'),
      ...exists,
    ]);
    expect(sqlOf(both)).toEqual(['CREATE INDEX "i" ON "dgm"."dgm_archive" USING gin ("tags")']);
    expect([...both[0]!.statements].sort()).toEqual(['a', 's2']);
    // JSON columns get no btree.
    expect(candidatesForAccess(access([p('metadata', 'eq')]), 's4')).toEqual([]);
  });

  it('proposes join-key lookups and nothing for an access without conditions', () => {
    expect(sqlOf(candidatesForAccess(access([], { joinColumns: ['workspace_id'] }), 's1'))).toEqual([
      'CREATE INDEX "i" ON "dgm"."dgm_archive" ("workspace_id")',
    ]);
    expect(candidatesForAccess(access([]), 's2')).toEqual([]);
  });

  it('recognizes an existing index that already serves a candidate', () => {
    const [c] = mergeCandidates(
      candidatesForAccess(
        access([p('status', 'eq')], {
          order: { items: [{ column: 'created_at', direction: 'desc', nulls: 'default' }], limit: true },
        }),
        's1',
      ),
    );
    expect(coveringIndex(c!, [index('exact', [['status'], ['created_at', true]])])?.name).toBe('exact');
    // Longer, and read backwards: still serves it.
    expect(coveringIndex(c!, [index('longer', [['status'], ['created_at', false], ['id']])])?.name).toBe(
      'longer',
    );
    expect(coveringIndex(c!, [index('other_order', [['created_at', true], ['status']])])).toBeUndefined();
    expect(
      coveringIndex(c!, [index('invalid', [['status'], ['created_at', true]], { valid: false })]),
    ).toBeUndefined();
    expect(
      coveringIndex(c!, [
        index('partial', [['status'], ['created_at', true]], { predicate: "(name = 'x'::text)" }),
      ]),
    ).toBeUndefined();
    // Equality columns match in any order.
    const [eq2] = candidatesForAccess(access([p('status', 'eq'), p('workspace_id', 'eq')]), 's2');
    expect(coveringIndex(eq2!, [index('swapped', [['status'], ['workspace_id']])])?.name).toBe('swapped');
    // A partial candidate is served by an index with the same predicate (as PostgreSQL prints it).
    const partial = candidatesForAccess(
      access([p('status', 'in', { literals: lit('active', 'pending'), params: [] })], {
        order: { items: [{ column: 'updated_at', direction: 'desc', nulls: 'default' }], limit: true },
      }),
      's3',
    ).find((x) => x.predicate)!;
    expect(
      coveringIndex(partial, [
        index('design', [['updated_at', true]], {
          predicate: "(status = ANY (ARRAY['active'::text, 'pending'::text]))",
        }),
      ])?.name,
    ).toBe('design');
    expect(
      coveringIndex(partial, [
        index('other', [['updated_at', true]], { predicate: "(status = ANY (ARRAY['archived'::text]))" }),
      ]),
    ).toBeUndefined();
    // A full index on the same key does not: the IN list is written into the statement, and the partial
    // index holds only its rows (the planner judges it against the full one).
    expect(coveringIndex(partial, [index('full', [['updated_at', true]])])).toBeUndefined();
    // A partial candidate on one constant of a sample (maybe one value of many) is served by the full one.
    const oneConstant = candidatesForAccess(
      access([p('status', 'eq', { literals: lit('active'), params: [] })], {
        order: { items: [{ column: 'updated_at', direction: 'desc', nulls: 'default' }], limit: true },
      }),
      's5',
    ).find((x) => x.predicate)!;
    expect(oneConstant.predicate!.fixed).toBeUndefined();
    expect(coveringIndex(oneConstant, [index('full', [['updated_at', true]])])?.name).toBe('full');
    // GIN: jsonb_ops serves containment; jsonb_path_ops does not serve existence.
    const [gin] = candidatesForAccess(access([p('tags', 'jsonb_exists')]), 's4');
    const pathOps = index('g', [['tags']], { method: 'gin' });
    pathOps.keys[0]!.opclass = 'jsonb_path_ops';
    expect(coveringIndex(gin!, [pathOps])).toBeUndefined();
    pathOps.keys[0]!.opclass = 'jsonb_ops';
    expect(coveringIndex(gin!, [pathOps])?.name).toBe('g');
  });

  it('names indexes within 63 bytes and quotes every identifier', () => {
    const t = tableInfo();
    t.name = 'a "weird" Täble name that is rather long indeed, really very long';
    t.schema = 'My Schema';
    const [c] = candidatesForAccess(access([p('status', 'eq')], {}, t), 's1');
    const name = candidateName(c!);
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^dgm_auto_[a-z0-9_]+_[0-9a-f]{8}$/);
    expect(createIndexSql(c!, { name, concurrently: true, ifNotExists: true })).toBe(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS "${name}" ON "My Schema"."a ""weird"" Täble name that is rather long indeed, really very long" ("status")`,
    );
    expect(createIndexSql(c!, { name: 'x', only: true })).toContain('ON ONLY "My Schema"');
  });
});

describe('covering candidates', () => {
  it('adds the statement’s other narrow columns as INCLUDE, never wide ones or for SELECT *', () => {
    const order = {
      items: [{ column: 'created_at', direction: 'desc' as const, nulls: 'default' as const }],
      limit: true,
    };
    const narrow = candidatesForAccess(
      access([p('status', 'eq')], {
        order,
        columns: new Set(['status', 'created_at', 'score', 'id']),
        allColumns: false,
      }),
      's1',
    );
    expect(sqlOf(narrow)).toContain(
      'CREATE INDEX "i" ON "dgm"."dgm_archive" ("status", "created_at" DESC) INCLUDE ("id", "score")',
    );
    expect(candidateName(narrow.find((c) => c.include)!)).toMatch(/_cov_[0-9a-f]{8}$/);
    // A wide column (name averages 64 bytes here) would make the index as wide as the table.
    const wide = candidatesForAccess(
      access([p('status', 'eq')], {
        order,
        columns: new Set(['status', 'created_at', 'name']),
        allColumns: false,
      }),
      's2',
    );
    expect(wide.some((c) => c.include)).toBe(false);
    const star = candidatesForAccess(access([p('status', 'eq')], { order, columns: new Set(['id']) }), 's3');
    expect(star.some((c) => c.include)).toBe(false);
    // An index with the same key already serves it: no second index for the INCLUDE columns.
    const cov = narrow.find((c) => c.include)!;
    expect(coveringIndex(cov, [index('plain', [['status'], ['created_at', true]])])?.name).toBe('plain');
    expect(coveringIndex(cov, [index('other', [['score']])])).toBeUndefined();
  });
});

describe('OR bundles', () => {
  const p = (column: string, kind: AccessPredicate['kind'], operator = '=') =>
    ({ column, kind, operator, params: [1] }) as AccessPredicate;
  const sql = (c: Parameters<typeof createIndexSql>[0]) => createIndexSql(c, { name: 'i' });

  it('one index per arm, each arm read alone (no order, join or covering columns of the statement)', () => {
    const a = access([p('status', 'eq')], {
      orGroups: [
        [
          [p('name', 'eq')],
          [p('workspace_id', 'eq'), p('created_at', 'range', '>')],
          [p('metadata', 'jsonb_contains', '@>')],
        ],
      ],
      order: { items: [{ column: 'updated_at', direction: 'desc', nulls: 'default' }], limit: true },
      joinColumns: ['id'],
      allColumns: false,
      columns: new Set(['id', 'score']),
    });
    const bundles = bundlesForAccess(a, 'q');
    expect(bundles).toHaveLength(1);
    expect(bundles[0]!.members.map(sql)).toEqual([
      'CREATE INDEX "i" ON "dgm"."dgm_archive" ("name")',
      'CREATE INDEX "i" ON "dgm"."dgm_archive" ("workspace_id", "created_at")',
      'CREATE INDEX "i" ON "dgm"."dgm_archive" USING gin ("metadata" jsonb_path_ops)',
    ]);
    expect(bundles[0]!.statements).toEqual(new Set(['q']));
  });

  it('none when an arm has no index; arms an identical index serves share it', () => {
    // An arm on a jsonb column compared with `=`: no btree, no GIN serves it.
    const none = access([], { orGroups: [[[p('name', 'eq')], [p('tags', 'eq')]]] });
    expect(bundlesForAccess(none, 'q')).toEqual([]);
    const same = access([], { orGroups: [[[p('status', 'eq')], [p('status', 'eq')]]] });
    expect(bundlesForAccess(same, 'q')[0]!.members.map(sql)).toEqual([
      'CREATE INDEX "i" ON "dgm"."dgm_archive" ("status")',
    ]);
  });

  it('merges the same bundle from several statements, and drops the arms an existing index serves', () => {
    const a = access([], { orGroups: [[[p('name', 'eq')], [p('score', 'eq')]]] });
    const merged = mergeBundles([...bundlesForAccess(a, 'q1'), ...bundlesForAccess(a, 'q2')]);
    expect(merged).toHaveLength(1);
    expect(merged[0]!.statements).toEqual(new Set(['q1', 'q2']));
    expect(merged[0]!.members.map((m) => [...m.statements])).toEqual([
      ['q1', 'q2'],
      ['q1', 'q2'],
    ]);
    const left = withoutCovered(merged[0]!, (m) => m.columns[0]!.column === 'name');
    expect(left!.members.map(sql)).toEqual(['CREATE INDEX "i" ON "dgm"."dgm_archive" ("score")']);
    expect(left!.key).not.toBe(merged[0]!.key);
    expect(withoutCovered(merged[0]!, () => true)).toBeUndefined();
  });
});
