import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_QUERIES } from '../../functions/demo/reference-queries.ts';
import { advise, advisorDatabase, defs } from '../support/advisor-fixture.ts';
import { type TestDatabase, testServer } from '../support/db.ts';

// The index advisor on the design's schema and reference query mix, with the design's secondary
// indexes removed: it must find them (or ones that plan better) from the workload alone. PostgreSQL 18
// (embedded) has no HypoPG: candidates are built for real in a rolled-back transaction. The pg15
// server has HypoPG: btree candidates are hypothetical, GIN ones (HypoPG cannot) built and rolled back.
// The rest of its cases: optimizer-advisor-cases.test.ts.

let db: TestDatabase;
let design: Array<{ name: string; definition: string }>;

beforeAll(async () => {
  ({ db, design } = await advisorDatabase());
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
});
