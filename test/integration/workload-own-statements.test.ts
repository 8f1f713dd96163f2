import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoWorkload } from '../../functions/demo/workload.ts';
import { maintain } from '../../functions/jobs/maintain.ts';
import { optimizeDatabase } from '../../functions/jobs/optimize.ts';
import { getPerformanceReport } from '../../functions/jobs/report.ts';
import { collect } from '../../functions/monitor/collect.ts';
import { notWorkloadReason } from '../../functions/monitor/own-statements.ts';
import type { StatementStats } from '../../functions/monitor/snapshot.ts';
import { loadStatementParser, shapeOf } from '../../functions/monitor/statement-shape.ts';
import { collectWorkload } from '../../functions/optimizer/workload.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;

/** Why a listed text is not the application's, or null: every list below must hold only nulls. */
function notApplication(text: string): string | null {
  const shape = shapeOf(text);
  const reason = notWorkloadReason(text, shape);
  if (reason) return reason;
  if (/dgm-db-ops|pg_catalog|information_schema|\bANALYZE\b|\bVACUUM\b/i.test(text)) return 'tool text';
  return null;
}

beforeAll(async () => {
  await loadStatementParser();
  db = await createTestDatabase();
  // The demo's loaders, the reference mix (the application), maintenance and the sampler have all run.
  await loadDemoWorkload(db.client, { scale: 0.005, months: 3 });
  const app = await db.connect();
  for (let i = 0; i < 3; i++) {
    await app.query(
      `SELECT id, status FROM dgm.workspaces WHERE status = 'active' ORDER BY updated_at DESC LIMIT 10`,
    );
    await app.query('SELECT count(*) FROM dgm.dgm_archive WHERE created_at > now() - $1::interval', [
      '7 days',
    ]);
    await app.query(`UPDATE dgm.bandit_states SET pull_count = pull_count + 1 WHERE context_key = $1`, [
      'ctx-1',
    ]);
  }
  await maintain(db.client, db.config, { task: 'all' });
  await db.client.query('SELECT dgm.daily_partition_maintenance()');
  await collect(db.client, { target: 'own', monitoring: db.config.monitoring, full: true });
});
afterAll(async () => db?.drop());

describe("only the application's statements, everywhere", () => {
  it("the sampler's top and slow lists and operation/table figures hold none of the tool's statements", async () => {
    // Every statement counts as slow here, so the slow list shows whatever is left in.
    const monitoring = db.config.monitoring;
    const slowQueryThresholdMs = 0.000001;
    const app = await db.connect();
    await app.query(
      `SELECT id, status FROM dgm.workspaces WHERE status = 'active' ORDER BY updated_at DESC LIMIT 10`,
    );
    await maintain(db.client, db.config, { task: 'statistics' });
    const first = await collect(db.client, { target: 'own', monitoring, slowQueryThresholdMs, full: true });
    await app.query(
      `SELECT id, status FROM dgm.workspaces WHERE status = 'active' ORDER BY updated_at DESC LIMIT 10`,
    );
    const second = await collect(db.client, { target: 'own', monitoring, slowQueryThresholdMs, full: false });
    for (const snap of [first, second]) {
      const st = snap.statements as StatementStats;
      const listed = [...st.top, ...st.slowPatterns];
      expect(listed.length).toBeGreaterThan(0);
      expect(listed.filter((s) => notApplication(s.normalized)).map((s) => s.normalized)).toEqual([]);
      for (const s of listed) {
        expect(s.mainTable?.schema ?? '').not.toMatch(/^(pg_catalog|information_schema)$/);
        if (s.mainTable?.schema === 'dgm')
          expect([
            'workspaces',
            'bandit_states',
            'dgm_archive',
            'performance_metrics',
            'compliance_logs',
          ]).toContain(s.mainTable.name.replace(/_(default|p\d.*|\d{4}.*)$/, ''));
      }
      for (const d of st.byOperationTable) {
        expect(d.table).not.toBe('');
        expect(d.table).not.toMatch(/^pg_/);
      }
    }
    // Judged once per queryid: the tool's statements are stored with their reason.
    const { rows } = await db.client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM dgm.statement_shapes WHERE not_workload IS NOT NULL',
    );
    expect(rows[0]!.n).toBeGreaterThan(0);
    // A statement not called in the interval is not slow in it.
    const quiet = await collect(db.client, { target: 'own', monitoring, slowQueryThresholdMs, full: false });
    for (const s of (quiet.statements as StatementStats).slowPatterns)
      expect(s.intervalCalls).toBeGreaterThan(0);
  });

  it('a statement not called in the interval is not listed as slow in it', async () => {
    await db.client.query('CREATE TABLE public.slow_probe (x int)');
    await db.client.query('INSERT INTO public.slow_probe VALUES (1)');
    await collect(db.client, { target: 'slow', monitoring: db.config.monitoring, full: false });
    await db.client.query('SELECT pg_sleep(0.25), count(*) FROM public.slow_probe');
    const called = await collect(db.client, {
      target: 'slow',
      monitoring: db.config.monitoring,
      full: false,
    });
    const listed = (s: typeof called) =>
      (s.statements as StatementStats).slowPatterns.filter((p) => p.normalized.includes('slow_probe'));
    expect(listed(called)).toHaveLength(1);
    expect(listed(called)[0]!.intervalCalls).toBe(1);
    const idle = await collect(db.client, { target: 'slow', monitoring: db.config.monitoring, full: false });
    expect(listed(idle)).toEqual([]);
  });

  it('the optimizer never analyzes its own statements or system catalogs, and counts what it left out', async () => {
    const workload = await collectWorkload(db.client, { maxStatements: 200, minCalls: 1 });
    expect(workload.statements.length).toBeGreaterThan(0);
    expect(workload.statements.filter((s) => notApplication(s.text)).map((s) => s.text)).toEqual([]);
    for (const s of workload.statements)
      for (const t of s.resolved?.tables ?? [])
        expect(t.schema).not.toMatch(/^(pg_catalog|information_schema)$/);
    expect(workload.leftOut.total).toBeGreaterThan(0);
    expect(workload.leftOut.byReason.utility).toBeGreaterThan(0);

    const result = await optimizeDatabase(db.client, db.config, { dryRun: true });
    expect(result.workload.analyzed).toBeGreaterThan(0);
    expect(result.workload.leftOutAsOwn).toBeGreaterThan(0);
    expect(result.statements.filter((s) => notApplication(s.query)).map((s) => s.query)).toEqual([]);
    const indexed = [...result.recommendations, ...result.rejected].map((r) =>
      'definition' in r ? String(r.definition) : JSON.stringify(r),
    );
    for (const d of indexed) {
      expect(d).not.toMatch(/"?pg_catalog"?\.|information_schema/);
      expect(d).not.toMatch(
        /"dgm"\."(optimization_audit|stat_snapshots|statement_shapes|query_samples|auto_indexes)"/,
      );
    }
  });

  it("the report's slow and top statements are the application's", async () => {
    const config = { ...db.config, slowQueryThresholdMs: 0.000001 };
    const report = await getPerformanceReport(db.client, config);
    expect(report.slow_queries.length).toBeGreaterThan(0);
    expect(report.slow_queries.filter((q) => notApplication(q.query)).map((q) => q.query)).toEqual([]);
    expect(report.top_queries.filter((q) => notApplication(q.query)).map((q) => q.query)).toEqual([]);
  });
});
