import { beforeAll, describe, expect, it } from 'vitest';
import { resolveStatement } from '../../functions/optimizer/access.ts';
import {
  analyzeStatementSync,
  loadParser,
  repairNormalizedText,
  type StatementAnalysis,
} from '../../functions/optimizer/analyze.ts';
import { Catalog, type TableInfo } from '../../functions/optimizer/catalog.ts';
import { noActivity } from '../support/optimizer-fixtures.ts';

beforeAll(async () => {
  await loadParser();
});

function analyze(sql: string): StatementAnalysis {
  const r = analyzeStatementSync(sql);
  if (!r.analysis) throw new Error(r.error);
  return r.analysis;
}

function table(
  oid: number,
  name: string,
  columns: string[],
): TableInfo & { requested: Array<{ schema: string | null; name: string }> } {
  return {
    oid,
    schema: 'dgm',
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
      type: c === 'metadata' || c === 'tags' ? 'jsonb' : 'text',
      typeCategory: c === 'metadata' || c === 'tags' ? 'U' : 'S',
      notNull: false,
      nDistinct: null,
      nullFrac: 0,
      avgWidth: 8,
      correlation: null,
    })),
    indexes: [],
    requested: [
      { schema: 'dgm', name },
      { schema: null, name },
    ],
  };
}

describe('statement analysis', () => {
  it('finds equality, range, IN with literals, JSONB containment and existence, ORDER BY with LIMIT', () => {
    const a = analyze(
      `SELECT id FROM dgm.dgm_archive a WHERE a.status = $1 AND a.created_at >= now() - interval '7 days'
         AND a.metadata @> $2::jsonb AND a.tags ? 'x' AND a.kind IN ('one', 'two')
       ORDER BY a.score DESC, a.created_at DESC LIMIT 10`,
    );
    expect(a.operation).toBe('select');
    expect(a.relations).toEqual([{ id: 0, scope: 0, schema: 'dgm', name: 'dgm_archive', alias: 'a' }]);
    const byColumn = Object.fromEntries(a.predicates.map((p) => [p.column.column, p]));
    expect(byColumn.status).toMatchObject({ kind: 'eq', operator: '=', params: [1] });
    expect(byColumn.status!.literals).toBeUndefined();
    expect(byColumn.created_at).toMatchObject({ kind: 'range', operator: '>=' });
    expect(byColumn.metadata).toMatchObject({ kind: 'jsonb_contains', params: [2] });
    expect(byColumn.tags).toMatchObject({ kind: 'jsonb_exists', literals: [{ text: 'x', sql: "'x'" }] });
    expect(byColumn.kind).toMatchObject({
      kind: 'in',
      literals: [
        { text: 'one', sql: "'one'" },
        { text: 'two', sql: "'two'" },
      ],
    });
    expect(a.orders).toEqual([
      {
        scope: 0,
        limit: true,
        limitParam: undefined,
        items: [
          { column: { qualifier: 'a', column: 'score' }, direction: 'desc', nulls: 'default' },
          { column: { qualifier: 'a', column: 'created_at' }, direction: 'desc', nulls: 'default' },
        ],
      },
    ]);
    expect(a.maxParam).toBe(2);
  });

  it('reads a pattern operator applied to ANY(array) as a pattern known only as $n', () => {
    const a = analyze(
      `SELECT id FROM t WHERE plate ILIKE ANY($1::text[]) AND code LIKE ANY(ARRAY['a%', 'b%'])
         AND lower(name) ~* ANY('{x,y}')`,
    );
    expect(a.predicates.map((p) => [p.column.column, p.kind, p.operator, p.params, p.literals])).toEqual([
      ['plate', 'ilike', '~~* ANY', [1], undefined],
      ['code', 'like', '~~ ANY', [], undefined],
      ['name', 'regex', '~* ANY', [], undefined],
    ]);
    expect(a.predicates[2]!.expression?.sql).toBe('lower("name")');
  });

  it('reads normalized pg_stat_statements text, repairing typed literals it cannot parse', () => {
    const normalized =
      'select count(*) from p where ts > now() - interval $1 and s in ($2, $3) order by ts limit $4';
    expect(repairNormalizedText(normalized)).toContain('now() - $1::interval');
    const a = analyze(normalized);
    expect(a.predicates.map((p) => [p.column.column, p.kind, p.params])).toEqual([
      ['ts', 'range', [1]],
      ['s', 'in', [2, 3]],
    ]);
    expect(a.paramRoles).toEqual({ 4: 'limit' });
    // PostgreSQL 18 squashes IN lists into one parameter with a comment.
    expect(analyze('SELECT 1 FROM t WHERE s IN ($1 /*, ... */)').predicates[0]).toMatchObject({
      kind: 'in',
      params: [1],
    });
  });

  it('flips comparisons written value-first and turns BETWEEN into a range', () => {
    const a = analyze('SELECT * FROM t WHERE $1 < created_at AND 5 = kind AND n BETWEEN 1 AND 9');
    expect(a.predicates.map((p) => [p.column.column, p.kind, p.operator])).toEqual([
      ['created_at', 'range', '>'],
      ['kind', 'eq', '='],
      ['n', 'range', 'BETWEEN'],
    ]);
  });

  it('records join keys, and correlated sub-selects as lookups of the inner table', () => {
    const a = analyze(
      `SELECT w.id FROM dgm.workspaces w JOIN dgm.dgm_archive a ON a.workspace_id = w.id
       WHERE EXISTS (SELECT 1 FROM dgm.compliance_logs c WHERE c.workspace_id = w.id AND c.compliance_level = 'critical')`,
    );
    expect(a.joins).toEqual([
      { scope: 0, left: { qualifier: 'a', column: 'workspace_id' }, right: { qualifier: 'w', column: 'id' } },
    ]);
    expect(a.scopes).toHaveLength(2);
    const inner = a.predicates.filter((p) => p.scope === 1).map((p) => [p.column.column, p.kind]);
    expect(inner).toEqual([
      ['workspace_id', 'eq'],
      ['compliance_level', 'eq'],
    ]);
  });

  it('resolves ORDER BY by output position or alias, and notes what no column index serves', () => {
    const a = analyze(
      `SELECT updated_at AS u, name FROM dgm.workspaces WHERE lower(name) = 'x' OR status = 'a' ORDER BY u DESC LIMIT 5`,
    );
    expect(a.orders[0]!.items[0]!.column.column).toBe('updated_at');
    expect(a.predicates).toEqual([]);
    // An OR of two indexable arms is an OR group (one index per arm); an arm with no indexable predicate
    // leaves the disjunction a note.
    expect(a.orGroups.map((g) => g.arms.map((arm) => arm.map((p) => p.column.column)))).toEqual([
      [['name'], ['status']],
    ]);
    expect(a.notes).not.toContain('OR condition');
    const b = analyze(`SELECT name FROM t WHERE a + b = c OR status = 'a'`);
    expect(b.orGroups).toEqual([]);
    expect(b.predicates).toEqual([]);
    expect(b.notes).toContain('OR condition');
    // An expression on one column is an expression index's predicate; so is one on two columns of the
    // same table (holdout probe: coalesce(closed_at, opened_at)), its other columns listed; an expression
    // compared with a column is not.
    expect(analyze('SELECT name FROM t WHERE lower(name) = $1 ORDER BY 1').predicates).toEqual([
      expect.objectContaining({ kind: 'eq', expression: { sql: 'lower("name")', params: [], jsonb: false } }),
    ]);
    expect(analyze('SELECT name FROM t WHERE a + b = $1').predicates).toEqual([
      expect.objectContaining({
        kind: 'eq',
        column: { column: 'a' },
        expression: { sql: '("a" + "b")', params: [], jsonb: false, others: ['b'] },
      }),
    ]);
    expect(analyze('SELECT name FROM t WHERE a + b = c').notes).toContain('expression on a column');
    expect(analyze('SELECT name FROM t WHERE a + b = c').predicates).toEqual([]);
    expect(analyze('SELECT name FROM t ORDER BY 1').orders[0]!.items[0]!.column.column).toBe('name');
  });

  it('knows what INSERT, UPDATE and DELETE write, and treats CTE names as no table', () => {
    const u = analyze(
      'UPDATE dgm.bandit_states SET pull_count = pull_count + 1 WHERE context_key = $1 AND arm_id = $2',
    );
    expect(u.operation).toBe('update');
    expect(u.writes).toBe(0);
    expect(u.predicates.map((p) => p.column.column)).toEqual(['context_key', 'arm_id']);
    const d = analyze('DELETE FROM dgm.workspaces WHERE id = $1');
    expect(d.operation).toBe('delete');
    const i = analyze('INSERT INTO dgm.workspaces (name, status) VALUES ($1, $2)');
    expect(i.operation).toBe('insert');
    const c = analyze(
      'WITH recent AS (SELECT * FROM dgm.workspaces WHERE status = $1) SELECT * FROM recent WHERE name = $2',
    );
    expect(c.relations.map((r) => r.name)).toEqual(['workspaces']);
    expect(analyze('VACUUM dgm.workspaces').operation).toBe('other');
    expect(analyzeStatementSync('SELEC nonsense').error).toBeTruthy();
  });

  it('binds unqualified columns to the one table that has them', () => {
    const catalog = new Catalog([
      table(1, 'workspaces', ['id', 'name', 'status', 'updated_at']),
      table(2, 'dgm_archive', ['id', 'workspace_id', 'metadata', 'created_at']),
    ]);
    const a = analyze(
      `SELECT name FROM dgm.workspaces JOIN dgm_archive ON workspace_id = workspaces.id
       WHERE status = 'active' AND metadata @> $1 ORDER BY created_at DESC LIMIT 3`,
    );
    const r = resolveStatement(a, catalog);
    const ws = r.accesses.find((x) => x.table.name === 'workspaces')!;
    const ar = r.accesses.find((x) => x.table.name === 'dgm_archive')!;
    expect(ws.predicates.map((p) => p.column)).toEqual(['status']);
    expect(ws.joinColumns).toEqual(['id']);
    expect(ar.predicates.map((p) => [p.column, p.kind])).toEqual([['metadata', 'jsonb_contains']]);
    expect(ar.joinColumns).toEqual(['workspace_id']);
    expect(ar.order).toEqual({
      items: [{ column: 'created_at', direction: 'desc', nulls: 'default' }],
      limit: true,
    });
    expect(r.params[1]).toMatchObject({ role: 'value', column: 'metadata', kind: 'jsonb_contains' });
    expect(r.unresolved).toEqual([]);
    expect(resolveStatement(analyze('SELECT 1 FROM nowhere WHERE x = 1'), catalog).unresolved).toEqual([
      'nowhere',
    ]);
  });

  it('reads each arm of an OR as a condition of its own: conjunctions, sub-selects once, no join keys', () => {
    const a = analyze(
      `SELECT d.id FROM deals d JOIN accounts c ON c.id = d.account_id
       WHERE d.stage = $1 AND ((d.email = $2 AND d.created_at > $3) OR d.phone = $4 OR d.owner_id = c.owner_id
         OR d.id IN (SELECT deal_id FROM notes WHERE author = $5))`,
    );
    // The fourth arm is a sub-select membership; the third a join condition, which is not a lookup: the
    // group is kept only when every arm has a predicate, so here it is a note, and the sub-select was read once.
    expect(a.orGroups).toEqual([]);
    expect(a.notes).toContain('OR condition');
    expect(a.relations.map((r) => r.name)).toEqual(['deals', 'accounts', 'notes']);
    expect(a.joins).toHaveLength(1);
    expect(a.predicates.map((p) => [p.column.column, p.kind])).toEqual([
      ['stage', 'eq'],
      ['author', 'eq'],
    ]);
    const b = analyze(
      `SELECT id FROM deals WHERE stage = $1 AND ((email = $2 AND created_at > $3) OR phone = $4 OR tags @> $5)`,
    );
    expect(b.predicates.map((p) => p.column.column)).toEqual(['stage']);
    expect(b.orGroups).toHaveLength(1);
    expect(b.orGroups[0]!.arms.map((arm) => arm.map((p) => `${p.column.column} ${p.kind}`))).toEqual([
      ['email eq', 'created_at range'],
      ['phone eq'],
      ['tags jsonb_contains'],
    ]);
    // A scalar sub-select compared with a column is one scope, not two.
    expect(
      analyze('SELECT * FROM a WHERE a.x = (SELECT max(y) FROM b WHERE b.z = 1)').relations,
    ).toHaveLength(2);
  });

  it('reads a row IN list, (a, b) IN ((..), (..)), as each column with the values of its position', () => {
    // The planner reads it as (currency = 'EUR' AND kind = 'fee') OR (currency = 'USD' AND kind = 'fee'):
    // kind is an equality, currency an IN list, and a btree on (kind, currency, posted_on) serves each arm.
    const a = analyze(
      `SELECT count(*) FROM entries WHERE (currency, kind) IN (('EUR', 'fee'), ('USD', 'fee')) AND posted_on >= $1`,
    );
    expect(a.predicates.map((p) => [p.column.column, p.kind, p.literals?.map((l) => l.text)])).toEqual([
      ['currency', 'in', ['EUR', 'USD']],
      ['kind', 'eq', ['fee']],
      ['posted_on', 'range', undefined],
    ]);
    // With parameters each position is a list of its own; a row equality is a row of one.
    const b = analyze('SELECT 1 FROM entries WHERE (currency, kind) IN (($1, $2), ($3, $4))');
    expect(b.predicates.map((p) => [p.column.column, p.kind, p.params])).toEqual([
      ['currency', 'in', [1, 3]],
      ['kind', 'in', [2, 4]],
    ]);
    const c = analyze(`SELECT 1 FROM entries e WHERE (e.account_id, e.kind) = ($1, 'fee')`);
    expect(c.predicates.map((p) => [p.column.column, p.kind])).toEqual([
      ['account_id', 'eq'],
      ['kind', 'eq'],
    ]);
    // Rows of another arity than the left side's: nothing read, noted.
    expect(analyze('SELECT 1 FROM entries WHERE (a, b) IN ((1, 2), (3))').notes).toContain('row comparison');
  });

  it('reads no IS NULL in WHERE on the nullable side of an outer join as a filter of that table', () => {
    // An anti-join: bank_lines is probed by entry_id for each entry; `b.id IS NULL` holds after the
    // join, for the entries with no line, and restricts no scan of bank_lines.
    const a = analyze(
      `SELECT e.id FROM entries e LEFT JOIN bank_lines b ON b.entry_id = e.id
       WHERE e.account_id = $1 AND b.id IS NULL AND e.voided_at IS NULL`,
    );
    expect(a.predicates.map((p) => [p.column.qualifier, p.column.column, p.kind])).toEqual([
      ['e', 'account_id', 'eq'],
      ['e', 'voided_at', 'is_null'],
    ]);
    expect(a.joins).toHaveLength(1);
    // In the join's own ON clause it restricts the scan of b; and the preserved side of a RIGHT JOIN.
    const b = analyze(
      `SELECT 1 FROM entries e LEFT JOIN bank_lines b ON b.entry_id = e.id AND b.voided_at IS NULL
       RIGHT JOIN books k ON k.id = e.book_id WHERE k.closed_at IS NULL AND e.id IS NULL`,
    );
    expect(b.predicates.map((p) => [p.column.qualifier, p.column.column, p.kind])).toEqual([
      ['b', 'voided_at', 'is_null'],
      ['k', 'closed_at', 'is_null'],
    ]);
  });
});
