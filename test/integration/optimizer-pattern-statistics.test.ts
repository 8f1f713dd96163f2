import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditTrail } from '../../functions/compliance/audit.ts';
import { ddlOptions, dropAutoIndex } from '../../functions/optimizer/apply.ts';
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
// The plain-column case (the marketing holdout's contact search): the estimate reads the column's own
// histogram, so the column gets the target (3 ANALYZEs in 30 walked the key at the default on PostgreSQL 15).
const SEARCH = `SELECT id, full_name FROM pat.people WHERE full_name ~* 'okonkwo' ORDER BY id LIMIT 25`;
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
    FROM generate_series(1, 150000) g;
    CREATE TABLE pat.people (id bigint PRIMARY KEY, full_name text NOT NULL);
    INSERT INTO pat.people
    SELECT g, CASE WHEN g % 1500 = 0 THEN 'Siobhan Okonkwo-Whitfield'
                   ELSE (ARRAY['Anna', 'Ben', 'Chloe', 'David', 'Emma', 'Felix', 'Grace', 'Hugo', 'Ines', 'Jonas',
                               'Karin', 'Liam', 'Mia', 'Noah', 'Olga', 'Paul', 'Rosa', 'Sam', 'Tina', 'Uwe'])[1 + g % 20]
                        || ' ' || (ARRAY['Smith', 'Miller', 'Schmidt', 'Garcia', 'Rossi', 'Dubois', 'Nowak', 'Jensen',
                                         'Silva', 'Kowalski', 'Brown', 'Wilson', 'Meyer', 'Lopez', 'Martin'])[1 + (g / 20) % 15] END
    FROM generate_series(1, 150000) g;`);
  await db.client.query('VACUUM ANALYZE pat.posts');
  await db.client.query('VACUUM ANALYZE pat.people');
  for (let i = 0; i < 3; i++) await db.client.query(CONTAINS);
  for (let i = 0; i < 3; i++) await db.client.query(SEARCH);
}, 300_000);
afterAll(async () => db?.drop());

async function trigramCandidate(sql = CONTAINS): Promise<{ s: WorkloadStatement; c: CandidateIndex }> {
  const w = await collectWorkload(db.client, {
    maxStatements: 50,
    minCalls: 1,
    examples: [{ sql, source: 'test', name: 'contains' }],
  });
  const s = w.statements.find((x) => x.name === 'contains')!;
  const c = candidatesForAccess(s.resolved!.accesses[0]!, s.id, { extensions: w.catalog.extensions }).find(
    (x) =>
      x.method === 'gin' &&
      x.opclass?.endsWith('gin_trgm_ops') &&
      (sql !== CONTAINS || x.columns[0]?.expression),
  );
  expect(c, 'a trigram candidate').toBeDefined();
  return { s, c: c! };
}

const columnTarget = async (table: string, column: string) =>
  (
    await db.client.query<{ t: number | null }>(
      'SELECT attstattarget AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2',
      [table, column],
    )
  ).rows[0]?.t ?? null;

const targetOf = async (index: string) =>
  Number(
    (
      await db.client.query(
        'SELECT attstattarget AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum = 1',
        [index],
      )
    ).rows[0]?.t,
  );

/**
 * The candidate's build plan (the CREATE, then the statistics step) applied and verified: kept, its plan
 * using it. Returns the index's name and the audit trail the build wrote to.
 */
async function buildKept(s: WorkloadStatement, c: CandidateIndex) {
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
  return { name, audit };
}

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
    const { name, audit } = await buildKept(s, c);
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

describe('the statistics of a trigram index on a plain column', () => {
  it('are evaluated with the column target the build gives it, rolled back after', async () => {
    const { c } = await trigramCandidate(SEARCH);
    expect(c.columns[0]).toMatchObject({ column: 'full_name' });
    const options = {
      hypopg: 'auto' as const,
      realBuildMaxBytes: 1 << 30,
      createExtension: true,
      statementTimeoutMs: 60_000,
      lockTimeoutMs: 2_000,
    };
    const target = await withWhatIf(db.client, options, async (session) => {
      const added = await session.add(c);
      expect(added.error).toBeUndefined();
      return columnTarget('pat.people', 'full_name');
    });
    expect(target).toBe(PATTERN_STATISTICS_TARGET);
    // The what-if's transaction is rolled back: the column is at its default again (-1 before 17).
    expect([null, -1]).toContain(await columnTarget('pat.people', 'full_name'));
  });

  it('are raised by the build, and the statement plans on the index after every ANALYZE', async () => {
    const { s, c } = await trigramCandidate(SEARCH);
    const { name, audit } = await buildKept(s, c);
    expect(await columnTarget('pat.people', 'full_name')).toBe(PATTERN_STATISTICS_TARGET);
    // With the default target, 1 in 10 ANALYZEs made the plan walk the key on this table.
    const plans: string[] = [];
    for (let i = 0; i < 30; i++) {
      await db.client.query('ANALYZE pat.people');
      const { rows } = await db.client.query(`EXPLAIN (FORMAT JSON) ${SEARCH}`);
      plans.push(JSON.stringify(rows[0]['QUERY PLAN']).includes(name) ? 'trigram' : 'other');
    }
    expect(plans).toEqual(Array(30).fill('trigram'));

    // The column's target is the table's: dropping the index (probation, a failed check) puts it back.
    const { rows: reg } = await db.client.query(
      `SELECT id, review -> 'column_statistics' AS cols FROM dgm.auto_indexes
       WHERE index_name = $1 AND status = 'active'`,
      [name],
    );
    expect(reg[0].cols).toEqual(['full_name']);
    const dropped = await dropAutoIndex(
      db.client,
      {
        id: Number(reg[0].id),
        index_schema: 'pat',
        index_name: name,
        table_schema: 'pat',
        table_name: 'people',
      },
      'unused',
      'test',
      { audit, ddl: ddlOptions(db.config.maintenance) },
    );
    expect(dropped.status).toBe('dropped');
    expect(dropped.sql).toContain('ALTER COLUMN "full_name" SET STATISTICS -1');
    expect([null, -1]).toContain(await columnTarget('pat.people', 'full_name'));
  });

  it('are left as they are on drop while another trigram index reads the column', async () => {
    const { s, c } = await trigramCandidate(SEARCH);
    const { name, audit } = await buildKept(s, c);
    const { rows: reg } = await db.client.query(
      `SELECT id FROM dgm.auto_indexes WHERE index_name = $1 AND status = 'active'`,
      [name],
    );
    const row = {
      id: Number(reg[0].id),
      index_schema: 'pat',
      index_name: name,
      table_schema: 'pat',
      table_name: 'people',
    };
    await db.client.query('CREATE INDEX people_name_trgm ON pat.people USING gin (full_name gin_trgm_ops)');
    const ctx = { audit, ddl: ddlOptions(db.config.maintenance) };
    expect((await dropAutoIndex(db.client, row, 'unused', 'test', ctx)).sql).not.toContain('SET STATISTICS');
    expect(await columnTarget('pat.people', 'full_name')).toBe(PATTERN_STATISTICS_TARGET);
    await db.client.query(
      'DROP INDEX pat.people_name_trgm; ALTER TABLE pat.people ALTER COLUMN full_name SET STATISTICS -1',
    );
  });
});
