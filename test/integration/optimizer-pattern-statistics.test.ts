import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditTrail } from '../../functions/compliance/audit.ts';
import { ddlOptions } from '../../functions/optimizer/apply.ts';
import { candidateName, PATTERN_STATISTICS_TARGET } from '../../functions/optimizer/candidate-sql.ts';
import { type CandidateIndex, candidatesForAccess } from '../../functions/optimizer/candidates.ts';
import { withWhatIf } from '../../functions/optimizer/planner.ts';
import { reconcileStatisticsTargets } from '../../functions/optimizer/reconcile.ts';
import { applyIndexPlan } from '../../functions/optimizer/verify.ts';
import { collectWorkload, type WorkloadStatement } from '../../functions/optimizer/workload.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { buildPlanOf, recommendationOf, WHAT_IF_OPTIONS } from '../support/optimizer-fixtures.ts';

// A trigram index on an expression, for an ORM's case-insensitive "contains" with a LIMIT. The planner
// reads the pattern's selectivity from the expression's histogram: with the default statistics target a
// histogram entry holding the rare word (0.1% of the rows) makes the estimate 1%, and the planner walks
// the primary key backwards for the 21 rows instead (1 to 2 ANALYZEs in 20 on this table, 7 in 30 on a
// wider one, measured on PostgreSQL 18). The evaluation would then see no plan using the candidate, and the application would
// lose the built index at the next autovacuum ANALYZE. The index's expression gets a higher target.

let db: TestDatabase;
const CONTAINS = `SELECT id, title FROM pat.posts WHERE upper(title::text) LIKE upper('%lighthouse%') ORDER BY id DESC LIMIT 21`;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.client.query(`
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE SCHEMA pat;
    CREATE TABLE pat.posts (id serial PRIMARY KEY, title varchar(200) NOT NULL, created_at timestamptz NOT NULL);
    INSERT INTO pat.posts (title, created_at)
    SELECT (ARRAY['Notes on', 'Thoughts about', 'A guide to', 'Why I like', 'Against'])[1 + g % 5] || ' ' ||
           (ARRAY['gardens', 'rust', 'sailing', 'databases', 'tea', 'chess', 'trains'])[1 + (g / 5) % 7] || ' #' || g
           || CASE WHEN g % 1000 = 0 THEN ' lighthouse' ELSE '' END,
           timestamptz '2024-01-01' + g * interval '3 minutes'
    FROM generate_series(1, 150000) g;`);
  await db.client.query('VACUUM ANALYZE pat.posts');
  for (let i = 0; i < 3; i++) await db.client.query(CONTAINS);
}, 300_000);
afterAll(async () => db?.drop());

async function trigramCandidate(): Promise<{ s: WorkloadStatement; c: CandidateIndex }> {
  const w = await collectWorkload(db.client, {
    maxStatements: 50,
    minCalls: 1,
    examples: [{ sql: CONTAINS, source: 'test', name: 'contains' }],
  });
  const s = w.statements.find((x) => x.name === 'contains')!;
  const c = candidatesForAccess(s.resolved!.accesses[0]!, s.id, { extensions: w.catalog.extensions }).find(
    (x) => x.method === 'gin' && x.opclass?.endsWith('gin_trgm_ops') && x.columns[0]?.expression,
  );
  expect(c, 'a trigram candidate on upper(title)').toBeDefined();
  return { s, c: c! };
}

const targetOf = async (index: string) =>
  Number(
    (
      await db.client.query(
        'SELECT attstattarget AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum = 1',
        [index],
      )
    ).rows[0]?.t,
  );

describe('the statistics of a trigram expression index', () => {
  it('are evaluated with the target the build gives them', async () => {
    const { c } = await trigramCandidate();
    const target = await withWhatIf(db.client, WHAT_IF_OPTIONS, async (session) => {
      const added = await session.add(c);
      expect(added.error).toBeUndefined();
      expect(added.method).toBe('real_build');
      return targetOf(`pat.${added.realName}`);
    });
    expect(target).toBe(PATTERN_STATISTICS_TARGET);
  });

  it('are raised by the build (and on a kept index by the next run), and the statement plans on the index after every ANALYZE', async () => {
    const { s, c } = await trigramCandidate();
    const name = candidateName(c);
    const plan = await buildPlanOf(db.client, recommendationOf(c, s), db.config.optimization);
    expect(plan.steps[0]!.statements.map((x) => x.kind)).toEqual(['create_concurrently', 'statistics']);
    const audit = new AuditTrail(db.client, 'optimize', db.config.constitutionalHash);
    const out = await applyIndexPlan(db.client, plan, {
      audit,
      config: db.config,
      statements: new Map([[s.id, s]]),
    });
    expect(out.verification[0]).toMatchObject({ plan_uses: true, verdict: 'keep' });
    expect(await targetOf(`pat.${name}`)).toBe(PATTERN_STATISTICS_TARGET);
    // Each ANALYZE draws another sample: with the default target, 1 to 2 in 20 made the plan walk the key here.
    const plans: string[] = [];
    for (let i = 0; i < 20; i++) {
      await db.client.query('ANALYZE pat.posts');
      const { rows } = await db.client.query(`EXPLAIN (FORMAT JSON) ${CONTAINS}`);
      plans.push(JSON.stringify(rows[0]['QUERY PLAN']).includes(name) ? 'trigram' : 'other');
    }
    expect(plans).toEqual(Array(20).fill('trigram'));

    // A kept database: the same index as an earlier version built it, at the default target. The next
    // run's reconciliation sets the target (once: a second run finds nothing to do).
    await db.client.query(`ALTER INDEX pat.${name} ALTER COLUMN 1 SET STATISTICS -1`);
    expect(await targetOf(`pat.${name}`)).not.toBe(PATTERN_STATISTICS_TARGET);
    const ctx = { audit, ddl: ddlOptions(db.config.maintenance) };
    const fixed = await reconcileStatisticsTargets(db.client, db.config.target, ctx);
    expect(fixed).toMatchObject([
      { index: `pat.${name}`, outcome: 'statistics', sql: [expect.stringContaining('SET STATISTICS 1000')] },
    ]);
    expect(await targetOf(`pat.${name}`)).toBe(PATTERN_STATISTICS_TARGET);
    expect(await reconcileStatisticsTargets(db.client, db.config.target, ctx)).toEqual([]);
    await db.client.query(`DROP INDEX pat.${name}`);
  });
});
