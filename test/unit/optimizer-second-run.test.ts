import { beforeAll, describe, expect, it } from 'vitest';
import { resolveStatement } from '../../functions/optimizer/access.ts';
import { analyzeStatementSync, loadParser } from '../../functions/optimizer/analyze.ts';
import { createIndexSql } from '../../functions/optimizer/candidate-sql.ts';
import { candidatesForAccess } from '../../functions/optimizer/candidates.ts';
import { Catalog, type TableInfo } from '../../functions/optimizer/catalog.ts';
import { markVaryingConstants } from '../../functions/optimizer/sample-constants.ts';
import { columnOf as column, noActivity } from '../support/optimizer-fixtures.ts';

// Decisions a second optimize run must agree with (docs/optimizer.md, "A second run"), pure parts: an
// expression carrying one sample's constant, which a later sample writes differently.

beforeAll(async () => {
  await loadParser();
});

const ITEM = {
  oid: 1,
  schema: 'app',
  name: 'item',
  relkind: 'r',
  isPartition: false,
  leafCount: 1,
  totalBytes: 1e8,
  heapBytes: 1e8,
  reltuples: 100_000,
  activity: noActivity(),
  columns: [
    column('id', 'bigint', 'N', -1),
    column('state', 'text', 'S', 3),
    column('doc', 'tsvector', 'U', -1),
    column('attrs', 'jsonb', 'U', -1),
    column('title', 'text', 'S', -1),
  ],
  indexes: [],
  requested: [
    { schema: 'app', name: 'item' },
    { schema: null, name: 'item' },
  ],
} satisfies TableInfo & { requested: unknown };
const CATALOG = new Catalog([ITEM]);

function resolved(sql: string) {
  const r = analyzeStatementSync(sql);
  if (!r.analysis) throw new Error(r.error);
  return resolveStatement(r.analysis, CATALOG);
}

/** The candidates of a statement's first sample, its other samples compared with it. */
function candidates(samples: string[]): string[] {
  const [first, ...others] = samples.map(resolved);
  if (others.length > 0) markVaryingConstants(first!, others);
  return first!.accesses.flatMap((a) =>
    candidatesForAccess(a, 's1').map((c) => createIndexSql(c, { name: 'i' })),
  );
}

const search = (words: string) =>
  `SELECT id, title FROM app.item WHERE state = 'live' ORDER BY ts_rank(doc, websearch_to_tsquery('english', '${words}')) DESC LIMIT 20`;

describe('an expression with one sample constant of many', () => {
  it('gets no index once another sample writes it with other words', () => {
    // One sample alone cannot tell: the expression is indexed as written.
    expect(candidates([search('leather wallet')]).some((d) => d.includes('ts_rank'))).toBe(true);
    const both = candidates([search('leather wallet'), search('wireless headphones')]);
    expect(both.filter((d) => d.includes('ts_rank'))).toEqual([]);
    // The rest of the access keeps its candidates.
    expect(both).toContain('CREATE INDEX "i" ON "app"."item" ("state")');
  });

  it('keeps an expression whose constants every sample writes alike', () => {
    const by = (id: number) =>
      `SELECT id FROM app.item WHERE attrs ->> 'order_ref' = 'R${id}' ORDER BY lower(title) LIMIT 5`;
    const defs = candidates([by(1), by(2), by(3)]);
    expect(defs.some((d) => d.includes(`("attrs" ->> 'order_ref')`))).toBe(true);
    expect(defs.some((d) => d.includes('lower("title")'))).toBe(true);
  });

  it('drops a jsonb key that differs between samples', () => {
    const by = (key: string) => `SELECT id FROM app.item WHERE attrs ->> '${key}' = 'x'`;
    expect(candidates([by('ip')]).some((d) => d.includes(`'ip'`))).toBe(true);
    expect(candidates([by('ip'), by('host')]).filter((d) => d.includes('attrs'))).toEqual([]);
  });
});

describe('a batched cleanup through a sub-select', () => {
  it('gets the candidates of the sub-select: its condition, then its order', () => {
    // Checked for the jobs holdout's cleanup (task: "DELETE ... WHERE id IN (SELECT id ... ORDER BY x
    // LIMIT n) gets no index"): the sub-select's access is read as a SELECT's is.
    for (const write of [
      `DELETE FROM app.item WHERE id IN (SELECT id FROM app.item WHERE state = 'gone' ORDER BY title LIMIT 1000)`,
      `UPDATE app.item SET title = '' WHERE id IN (SELECT id FROM app.item WHERE state = 'gone' ORDER BY title LIMIT 1000)`,
    ]) {
      const defs = candidates([write]);
      expect(defs).toContain('CREATE INDEX "i" ON "app"."item" ("state", "title")');
      expect(defs).toContain(`CREATE INDEX "i" ON "app"."item" ("title") WHERE "state" = 'gone'`);
    }
  });
});
