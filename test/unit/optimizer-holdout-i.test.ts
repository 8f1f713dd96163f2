import { describe, expect, it } from 'vitest';
import type { AccessPredicate, TableAccess } from '../../functions/optimizer/access.ts';
import { analyzeStatement } from '../../functions/optimizer/analyze.ts';
import { createIndexSql } from '../../functions/optimizer/candidate-sql.ts';
import { candidatesForAccess, regexPrefix } from '../../functions/optimizer/candidates.ts';
import type { TableInfo } from '../../functions/optimizer/catalog.ts';
import { noActivity } from '../support/optimizer-fixtures.ts';

// The gaps the ninth holdout benchmark (test/bench/optimizer/holdout-i.ts: a pharmacy and a fleet depot)
// found, in the analysis and the candidate rules (pure: no server). The integration test
// optimizer-holdout-i.test.ts runs them end to end on PostgreSQL.

function table(collation = 'en_US.UTF-8'): TableInfo {
  return {
    oid: 9,
    schema: 'Pharma',
    name: 'prescriptions',
    relkind: 'r',
    isPartition: false,
    leafCount: 1,
    totalBytes: 1e8,
    heapBytes: 1e8,
    reltuples: 300_000,
    activity: noActivity(),
    columns: [
      {
        name: 'rx_number',
        type: 'text',
        typeCategory: 'S',
        notNull: true,
        nDistinct: -1,
        nullFrac: 0,
        avgWidth: 10,
        correlation: null,
        collation,
        collationC: collation === 'C',
      },
    ],
    indexes: [],
  };
}

const regex = (pattern: string, operator = '~'): TableAccess => ({
  table: table(),
  occurrence: 0,
  predicates: [
    {
      column: 'rx_number',
      kind: 'regex',
      operator,
      literals: [{ text: pattern, sql: `'${pattern}'` }],
      params: [],
    } as AccessPredicate,
  ],
  orGroups: [],
  joinColumns: [],
  columns: new Set(),
  allColumns: true,
});

const sqlOf = (a: TableAccess, env = {}) =>
  candidatesForAccess(a, 's1', env).map((c) => createIndexSql(c, { name: 'i' }));

describe('holdout-i gaps: analysis and candidates', () => {
  it('an anchored regular expression has the fixed prefix the planner turns into a btree range', () => {
    expect(regexPrefix('^RX00123')).toBe('RX00123');
    expect(regexPrefix('^ab\\.c[0-9]')).toBe('ab.c');
    // A quantified last character may be absent ('+' keeps it once).
    expect(regexPrefix('^abc*')).toBe('ab');
    expect(regexPrefix('^abc?d')).toBe('ab');
    expect(regexPrefix('^abc+')).toBe('abc');
    expect(regexPrefix('^a{2}')).toBeUndefined();
    // Unanchored, an alternation, a class escape first: no prefix.
    expect(regexPrefix('RX001')).toBeUndefined();
    expect(regexPrefix('^ab|^cd')).toBeUndefined();
    expect(regexPrefix('^\\d+')).toBeUndefined();
  });

  it('`~ ^prefix` gets the btree LIKE prefix gets; unanchored or `~*` only a trigram index', () => {
    expect(sqlOf(regex('^RX00123'))).toEqual([
      'CREATE INDEX "i" ON "Pharma"."prescriptions" ("rx_number" text_pattern_ops)',
    ]);
    const c = regex('^RX00123');
    c.table = table('C');
    expect(sqlOf(c)).toEqual(['CREATE INDEX "i" ON "Pharma"."prescriptions" ("rx_number")']);
    expect(sqlOf(regex('RX00123'))).toEqual([]);
    expect(sqlOf(regex('^RX00123', '~*'))).toEqual([]);
    const trgm = { extensions: new Map([['pg_trgm', 'ext']]) };
    expect(sqlOf(regex('^RX00123'), trgm)).toEqual([
      'CREATE INDEX "i" ON "Pharma"."prescriptions" ("rx_number" text_pattern_ops)',
    ]);
    expect(sqlOf(regex('00123'), trgm)).toEqual([
      'CREATE INDEX "i" ON "Pharma"."prescriptions" USING gin ("rx_number" "ext".gin_trgm_ops)',
    ]);
  });

  it('a function of a mixed-case schema is an expression key, its name quoted', async () => {
    const { analysis } = await analyzeStatement(
      `SELECT id FROM "Pharma".patients WHERE "Pharma".digits(phone) = '2125550001' AND app.norm(name) = $1`,
    );
    expect(analysis!.predicates.map((p) => [p.kind, p.expression?.sql])).toEqual([
      ['eq', '"Pharma".digits("phone")'],
      ['eq', 'app.norm("name")'],
    ]);
  });

  it('MERGE is read as an UPDATE of its target, joined to its source by the ON condition', async () => {
    const { analysis } = await analyzeStatement(
      `MERGE INTO depot.stock s USING (SELECT $1::text AS sku, $2::int AS site_id, $3::int AS delta) v
       ON s.sku = v.sku AND s.site_id = v.site_id
       WHEN MATCHED AND s.qty + v.delta = 0 THEN DELETE
       WHEN MATCHED THEN UPDATE SET qty = s.qty + v.delta, updated_at = now()
       WHEN NOT MATCHED THEN INSERT (sku, site_id, qty, updated_at) VALUES (v.sku, v.site_id, v.delta, now())`,
    );
    const a = analysis!;
    expect(a.operation).toBe('update');
    expect(a.relations.map((r) => [r.schema, r.name, r.alias])).toEqual([['depot', 'stock', 's']]);
    expect(a.writes).toBe(0);
    expect(a.joins.map((j) => [j.left.qualifier, j.left.column, j.right.qualifier, j.right.column])).toEqual([
      ['s', 'sku', 'v', 'sku'],
      ['s', 'site_id', 'v', 'site_id'],
    ]);
    expect(a.setColumns).toEqual(['qty', 'updated_at']);
    expect(a.maxParam).toBe(3);
  });
});
