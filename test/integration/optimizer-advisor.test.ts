import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropDesignIndexes } from '../../functions/demo/design-indexes.ts';
import { REFERENCE_QUERIES } from '../../functions/demo/reference-queries.ts';
import { type AdvisorOptions, adviseIndexes } from '../../functions/optimizer/advisor.ts';
import {
  captureQuerySamples,
  collectWorkload,
  type QueryExample,
  storedQuerySamples,
} from '../../functions/optimizer/workload.ts';
import { createTestDatabase, type TestDatabase, testServer } from '../support/db.ts';

// The index advisor on the design's schema and reference query mix, with the design's secondary
// indexes removed: it must find them (or ones that plan better) from the workload alone. PostgreSQL 18
// (embedded) has no HypoPG: candidates are built for real in a rolled-back transaction. The pg15
// server has HypoPG: btree candidates are hypothetical, GIN ones (HypoPG cannot) built and rolled back.

let db: TestDatabase;
let design: Array<{ name: string; definition: string }>;
const examples: QueryExample[] = REFERENCE_QUERIES.map((q) => ({
  sql: q.sql,
  params: q.params(),
  name: q.name,
  source: 'reference mix',
}));

const options = (o: Partial<AdvisorOptions> = {}): AdvisorOptions => ({
  minCostReduction: 0.5,
  hypopg: 'auto',
  realBuildMaxBytes: 512 * 1024 * 1024,
  createExtension: true,
  statementTimeoutMs: 120_000,
  lockTimeoutMs: 2_000,
  ...o,
});

async function runMix(client: pg.Client, times = 3): Promise<void> {
  for (let i = 0; i < times; i++) for (const q of REFERENCE_QUERIES) await client.query(q.sql, q.params());
}

async function advise(client: pg.Client, o: Partial<AdvisorOptions> = {}, ex: QueryExample[] = examples) {
  const workload = await collectWorkload(client, { maxStatements: 50, minCalls: 1, examples: ex });
  return { workload, advice: await adviseIndexes(client, workload, options(o)) };
}

const defs = (a: Awaited<ReturnType<typeof advise>>['advice']) =>
  a.recommendations.map((r) => r.definition.replace(/"dgm_auto_[^"]+"/, 'NAME')).sort();

beforeAll(async () => {
  db = await createTestDatabase({ demoScale: 0.5 });
  design = await dropDesignIndexes(db.client);
  await db.client.query('VACUUM ANALYZE');
  await runMix(db.client);
}, 300_000);
afterAll(async () => db?.drop());

describe('index advisor', () => {
  it("proposes the design's composite, partial and GIN indexes from the reference mix", async () => {
    const { workload, advice } = await advise(db.client);
    expect(
      workload.statements
        .filter((s) => s.example)
        .map((s) => s.name)
        .sort(),
    ).toEqual(REFERENCE_QUERIES.map((q) => q.name).sort());
    const server = testServer().label;
    expect(advice.hypopgAvailable).toBe(server === 'pg15');
    expect(advice.method).toBe(server === 'pg15' ? 'mixed' : 'real_build');
    const found = defs(advice);
    // GIN: containment only -> jsonb_path_ops; key existence -> jsonb_ops. A partial index for the
    // constant IN list.
    expect(found).toEqual(
      expect.arrayContaining([
        'CREATE INDEX NAME ON "dgm"."dgm_archive" USING gin ("metadata" jsonb_path_ops)',
        'CREATE INDEX NAME ON "dgm"."dgm_archive" USING gin ("tags")',
        'CREATE INDEX NAME ON "dgm"."compliance_logs" USING gin ("violations" jsonb_path_ops)',
      ]),
    );
    expect(
      found.some(
        (d) =>
          d.startsWith('CREATE INDEX CONCURRENTLY NAME ON "dgm"."workspaces" ("updated_at" DESC)') &&
          d.endsWith(`WHERE "status" IN ('active', 'pending')`),
      ),
    ).toBe(true);
    // Composite: equality, then the sort order (with INCLUDE columns where an index-only scan pays).
    expect(
      found.some((d) =>
        d.startsWith(
          'CREATE INDEX NAME ON "dgm"."dgm_archive" ("status", "constitutional_compliance_score" DESC, "created_at" DESC)',
        ),
      ),
    ).toBe(true);
    // Every reference query plans at least as cheaply with the advice as with the design's own index
    // for it (each design index built in a transaction that is rolled back).
    for (const q of REFERENCE_QUERIES) {
      const d = design.find((x) => x.name === `dgm.${q.index}`);
      if (!d) continue;
      await db.client.query('BEGIN');
      let designCost: number;
      try {
        await db.client.query(d.definition.replace(' ON ONLY ', ' ON '));
        const { rows } = await db.client.query(`EXPLAIN (FORMAT JSON) ${q.sql}`, q.params());
        designCost = rows[0]['QUERY PLAN'][0].Plan['Total Cost'];
      } finally {
        await db.client.query('ROLLBACK');
      }
      const ours = advice.statements.find((s) => s.name === q.name)!;
      const oursCost = ours.costAfter ?? ours.costBefore!;
      expect(oursCost, `${q.name}: ours ${oursCost}, design ${designCost}`).toBeLessThanOrEqual(
        designCost * 1.05,
      );
    }
    for (const r of advice.recommendations) {
      expect(r.costReduction).toBeGreaterThanOrEqual(0.5);
      expect(r.weightedCostAfter).toBeLessThan(r.weightedCostBefore);
      // GIN cannot be hypothetical, and HypoPG misses partial indexes on partitions: built for real.
      if (r.method === 'gin' || (r.candidate.predicate && r.partitioned))
        expect(r.evaluation).toBe('real_build');
      else expect(r.evaluation).toBe(server === 'pg15' ? 'hypopg' : 'real_build');
    }
    const improved = advice.statements.filter((s) => s.verdict === 'improved').map((s) => s.name);
    expect(improved).toEqual(
      expect.arrayContaining([
        'archive_by_status_compliance',
        'archive_metadata_search',
        'archive_tags_search',
        'violations_search',
        'active_workspaces',
        'critical_compliance',
      ]),
    );
    // Nothing was left behind: no index, no extension.
    const { rows } = await db.client.query(
      `SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE 'dgm\\_whatif%' OR relname LIKE 'dgm\\_auto%')::int AS indexes,
              (SELECT count(*) FROM pg_extension WHERE extname = 'hypopg')::int AS hypopg`,
    );
    expect(rows[0]).toEqual({ indexes: 0, hypopg: 0 });
  });

  it('without HypoPG builds every candidate for real and rolls it back, with the same advice', async () => {
    const real = await advise(db.client, { hypopg: 'off' });
    expect(real.advice.method).toBe('real_build');
    expect(real.advice.recommendations.every((r) => r.evaluation === 'real_build')).toBe(true);
    expect(defs(real.advice)).toContain(
      'CREATE INDEX NAME ON "dgm"."dgm_archive" USING gin ("metadata" jsonb_path_ops)',
    );
    expect(
      defs(real.advice).some((d) =>
        d.startsWith(
          'CREATE INDEX NAME ON "dgm"."dgm_archive" ("status", "constitutional_compliance_score" DESC, "created_at" DESC)',
        ),
      ),
    ).toBe(true);
    // A table above realBuildMaxBytes is not built: said so, not guessed.
    const small = await advise(db.client, { hypopg: 'off', realBuildMaxBytes: 1024 });
    expect(small.advice.recommendations).toEqual([]);
    expect(small.advice.rejected.some((r) => r.reason.includes('above realBuildMaxBytes'))).toBe(true);
  });

  it('gives no recommendation for a statement no index can help', async () => {
    const none = [
      'SELECT status, count(*) FROM dgm.workspaces GROUP BY status',
      'SELECT id FROM dgm.dgm_archive WHERE constitutional_compliance_score >= 0.01',
      "SELECT id FROM dgm.workspaces WHERE lower(name) LIKE '%42'",
    ];
    for (let i = 0; i < 3; i++) for (const q of none) await db.client.query(q);
    const { advice } = await advise(
      db.client,
      {},
      none.map((sql) => ({ sql, source: 'test' })),
    );
    const verdicts = Object.fromEntries(advice.statements.map((s) => [s.query, s]));
    expect(verdicts[none[0]!]).toMatchObject({ verdict: 'no_candidates' });
    expect(verdicts[none[1]!]).toMatchObject({ verdict: 'no_index_helps' });
    expect(verdicts[none[2]!]).toMatchObject({ verdict: 'no_candidates' });
    // The score-only candidate was evaluated and turned down for it: it selects nearly every row.
    const ids = none.map((q) => verdicts[q]!.id);
    expect(advice.recommendations.filter((r) => r.statements.some((s) => ids.includes(s.id)))).toEqual([]);
    expect(advice.rejected.some((r) => r.definition.includes('("constitutional_compliance_score")'))).toBe(
      true,
    );
  });

  it('is suppressed by an existing index that covers the candidate', async () => {
    const composite = design.find((d) => d.name === 'dgm.idx_dgm_archive_status_compliance_created')!;
    await db.client.query(composite.definition.replace(' ON ONLY ', ' ON '));
    try {
      const { advice } = await advise(db.client);
      const covered = advice.rejected.find((r) =>
        r.definition.includes('("status", "constitutional_compliance_score" DESC, "created_at" DESC)'),
      );
      expect(covered?.reason).toBe('covered by existing index dgm.idx_dgm_archive_status_compliance_created');
      expect(
        advice.recommendations.some((r) =>
          r.definition.includes('"status", "constitutional_compliance_score"'),
        ),
      ).toBe(false);
      const stmt = advice.statements.find((s) => s.name === 'archive_by_status_compliance')!;
      expect(stmt.verdict).toBe('already_indexed');
      expect(stmt.indexesBefore).toContain('idx_dgm_archive_status_compliance_created');
    } finally {
      await db.client.query('DROP INDEX dgm.idx_dgm_archive_status_compliance_created');
    }
  });

  it('from pg_stat_statements alone, normalized statements give no partial index (their constants are $n)', async () => {
    const { workload, advice } = await advise(db.client, {}, []);
    const ws = workload.statements.find(
      (s) => s.text.includes('FROM dgm.workspaces') && s.text.includes('updated_at'),
    )!;
    expect(ws.text).toMatch(/status IN \(\$1/);
    expect(ws.example).toBeUndefined();
    expect(advice.recommendations.some((r) => r.candidate.predicate)).toBe(false);
    // Still the composite, judged on generic plans.
    expect(
      defs(advice).some((d) =>
        d.startsWith(
          'CREATE INDEX NAME ON "dgm"."dgm_archive" ("status", "constitutional_compliance_score" DESC, "created_at" DESC)',
        ),
      ),
    ).toBe(true);
  });

  it('learns the constants from a running statement seen in pg_stat_activity', async () => {
    const holder = await db.connect();
    const runner = await db.connect();
    const sql = `SELECT id, name FROM dgm.workspaces WHERE status IN ('active', 'suspended')
                 AND pg_advisory_lock_shared(4242) IS NOT NULL ORDER BY updated_at DESC LIMIT 50`;
    await holder.query('SELECT pg_advisory_lock(4242)');
    const running = runner.query(sql);
    // Wait until it is running (and blocked on the advisory lock), then record it.
    let captured = 0;
    for (let i = 0; i < 100 && captured === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      captured = await captureQuerySamples(db.client);
    }
    await holder.query('SELECT pg_advisory_unlock(4242)');
    await running;
    await runner.end();
    expect(captured).toBeGreaterThan(0);
    const samples = await storedQuerySamples(db.client);
    expect(samples.map((s) => s.sql.replace(/\s+/g, ' '))).toContain(sql.replace(/\s+/g, ' '));
    const { workload, advice } = await advise(db.client, {}, samples);
    const stmt = workload.statements.find((s) => s.example?.sql === samples.find((x) => x.sql === sql)?.sql);
    expect(stmt?.queryid).toBeTruthy();
    expect(stmt?.text).toMatch(/status IN \(\$1/);
    const all = [
      ...advice.recommendations.map((r) => r.definition),
      ...advice.rejected.map((r) => r.definition),
    ];
    expect(all.some((d) => d.includes(`WHERE "status" IN ('active', 'suspended')`))).toBe(true);
  });
});
