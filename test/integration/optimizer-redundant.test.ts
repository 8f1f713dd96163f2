import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveStatement } from '../../functions/optimizer/access.ts';
import { analyzeStatement } from '../../functions/optimizer/analyze.ts';
import { createIndexSql } from '../../functions/optimizer/candidate-sql.ts';
import { type CandidateIndex, candidatesForAccess } from '../../functions/optimizer/candidates.ts';
import { loadCatalog } from '../../functions/optimizer/catalog.ts';
import { withWhatIf } from '../../functions/optimizer/planner.ts';
import { type ChosenUnit, redundantUnits } from '../../functions/optimizer/redundant.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { WHAT_IF_OPTIONS } from '../support/optimizer-fixtures.ts';

// The advisor's last pass (redundant.ts) on real PostgreSQL: of two chosen indexes that serve the same
// statement about as well, the less valuable goes; an index sharing their leading column but serving a
// lookup the others cannot (another ORDER BY) stays. PostgreSQL 18: real builds rolled back; 15: HypoPG.

let db: TestDatabase;
const STATEMENTS: Record<string, string> = {
  live: 'SELECT id, title FROM red.posts WHERE author = 7 AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 20',
  recent: 'SELECT id FROM red.posts WHERE author = 8 ORDER BY created_at DESC LIMIT 10',
  top: 'SELECT id FROM red.posts WHERE author = 9 ORDER BY score DESC LIMIT 5',
};
const PARTIAL = 'CREATE INDEX "x" ON "red"."posts" ("author", "created_at" DESC) WHERE "deleted_at" IS NULL';
const FULL = 'CREATE INDEX "x" ON "red"."posts" ("author", "created_at" DESC)';
const SCORE = 'CREATE INDEX "x" ON "red"."posts" ("author", "score" DESC)';

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  await db.client.query(`
    CREATE SCHEMA red;
    CREATE TABLE red.posts (id bigint PRIMARY KEY, author int NOT NULL, score int NOT NULL, title text NOT NULL,
      created_at timestamptz NOT NULL, deleted_at timestamptz);
    INSERT INTO red.posts SELECT g, g % 600, (g * 7919) % 1000, 'post ' || g,
      timestamptz '2024-01-01' + g * interval '1 minute', CASE WHEN g % 50 = 0 THEN now() END
    FROM generate_series(1, 60000) g;
    ANALYZE red.posts;`);
}, 120_000);
afterAll(async () => db?.drop());

/** The candidates the optimizer proposes for the statements, by their definition. */
async function candidates(): Promise<Map<string, CandidateIndex>> {
  const out = new Map<string, CandidateIndex>();
  for (const [id, sql] of Object.entries(STATEMENTS)) {
    const a = (await analyzeStatement(sql)).analysis!;
    const r = resolveStatement(a, await loadCatalog(db.client, a.relations));
    for (const c of candidatesForAccess(r.accesses[0]!, id)) out.set(createIndexSql(c, { name: 'x' }), c);
  }
  return out;
}

/** What redundantUnits drops of the chosen set, trying them in the given order (least valuable first). */
async function dropped(order: string[]): Promise<string[]> {
  const all = await candidates();
  const chosen: ChosenUnit[] = order.map((definition) => {
    const c = all.get(definition);
    expect(c, `${definition} among ${[...all.keys()].join('; ')}`).toBeDefined();
    return { key: c!.key, candidate: c!, members: [c!] };
  });
  const definition = (e: ChosenUnit) => createIndexSql(e.candidate, { name: 'x' });
  const out = await withWhatIf(db.client, WHAT_IF_OPTIONS, (session) =>
    redundantUnits({
      chosen,
      session,
      statementsOn: () => Object.keys(STATEMENTS),
      explain: (id) => session.explain({ sql: STATEMENTS[id]!, maxParam: 0 }),
      valueOf: (e) => order.indexOf(definition(e)),
    }),
  );
  return out.map(definition);
}

describe('redundant chosen indexes', () => {
  it('drops an index another chosen one serves its statements as well as, in whatever order they are tried', async () => {
    // The full (author, created_at DESC) serves the live list within a few percent (2% of rows deleted);
    // the partial one cannot serve the list that includes deleted rows; the score index is another order.
    expect(await dropped([PARTIAL, FULL, SCORE])).toEqual([PARTIAL]);
    expect(await dropped([FULL, PARTIAL, SCORE])).toEqual([PARTIAL]);
    expect(await dropped([SCORE, FULL, PARTIAL])).toEqual([PARTIAL]);
  });

  it('keeps indexes sharing a leading column when each serves a lookup the others cannot', async () => {
    expect(await dropped([PARTIAL, SCORE])).toEqual([]);
    expect(await dropped([FULL, SCORE])).toEqual([]);
  });
});
