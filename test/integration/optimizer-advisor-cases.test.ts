import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureQuerySamples, storedQuerySamples } from '../../functions/optimizer/workload.ts';
import { advise, advisorDatabase } from '../support/advisor-fixture.ts';
import type { TestDatabase } from '../support/db.ts';

// The index advisor on the design's schema and reference query mix, with the design's secondary
// indexes removed: it must find them (or ones that plan better) from the workload alone. PostgreSQL 18
// (embedded) has no HypoPG: candidates are built for real in a rolled-back transaction. The pg15
// server has HypoPG: btree candidates are hypothetical, GIN ones (HypoPG cannot) built and rolled back.
// Its cases beside the reference mix (no help, covered, running statements); the mix: optimizer-advisor.test.ts.

let db: TestDatabase;
let design: Array<{ name: string; definition: string }>;

beforeAll(async () => {
  ({ db, design } = await advisorDatabase());
}, 300_000);
afterAll(async () => db?.drop());

describe('index advisor', () => {
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
