import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditTrail } from '../../functions/compliance/audit.ts';
import { ConstitutionMismatchError } from '../../functions/compliance/constitution.ts';
import { parseConfig, type RuntimeConfig } from '../../functions/config.ts';
import { ADVISORY_LOCKS, withAdvisoryLock } from '../../functions/db/locks.ts';
import { dropDesignIndexes } from '../../functions/demo/design-indexes.ts';
import { REFERENCE_QUERIES } from '../../functions/demo/reference-queries.ts';
import { optimizeDatabase } from '../../functions/jobs/optimize.ts';
import type { IndexRecommendation } from '../../functions/optimizer/advisor.ts';
import { type DdlOptions, dropAutoIndex, executeBuild } from '../../functions/optimizer/apply.ts';
import { type IndexBuildStep, readPartitionTrees } from '../../functions/optimizer/build-plan.ts';
import { type CandidateIndex, candidatesForAccess } from '../../functions/optimizer/candidates.ts';
import { applyIndexPlan } from '../../functions/optimizer/verify.ts';
import { collectWorkload, type WorkloadStatement } from '../../functions/optimizer/workload.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { buildPlanOf, recommendationOf } from '../support/optimizer-fixtures.ts';

// Automatic index creation: concurrent builds (per partition on partitioned tables), caps, lock_timeout
// with retries, the check right after a build and the drop of an index that brings nothing, probation,
// and the governance of the run (constitutional hash, one run at a time, dry run).

let db: TestDatabase;
const ddl: DdlOptions = { lockTimeoutMs: 500, retries: 2, backoffMs: 20, statementTimeoutMs: 120_000 };

beforeAll(async () => {
  db = await createTestDatabase({ demoScale: 0.2 });
  await dropDesignIndexes(db.client);
  await db.client.query('VACUUM ANALYZE');
  // A read-mostly workload, as the design's is: the loader's bulk INSERTs are a few calls.
  for (let i = 0; i < 5; i++) for (const q of REFERENCE_QUERIES) await db.client.query(q.sql, q.params());
}, 300_000);
afterAll(async () => db?.drop());

/** The workload statement of one literal SQL, run a few times first. */
async function statementOf(sql: string): Promise<WorkloadStatement> {
  for (let i = 0; i < 3; i++) await db.client.query(sql);
  const w = await collectWorkload(db.client, {
    maxStatements: 50,
    minCalls: 1,
    examples: [{ sql, source: 'test', name: 'test statement' }],
  });
  const s = w.statements.find((x) => x.example?.sql === sql);
  if (!s?.resolved) throw new Error(`statement not found: ${sql}`);
  return s;
}

function recommendationFor(s: WorkloadStatement, pick: (c: CandidateIndex) => boolean): IndexRecommendation {
  const access = s.resolved!.accesses[0]!;
  const c = candidatesForAccess(access, s.id).find(pick);
  if (!c) throw new Error('no such candidate');
  return recommendationOf(c, s);
}

async function stepFor(rec: IndexRecommendation, config: RuntimeConfig): Promise<IndexBuildStep> {
  const plan = await buildPlanOf(db.client, rec, config.optimization);
  expect(plan.skipped).toEqual([]);
  return plan.steps[0]!;
}

async function auditRows(runId: string) {
  const { rows } = await db.client.query<{ action: string; status: string; target: string }>(
    'SELECT action, status, target FROM dgm.optimization_audit WHERE run_id = $1 ORDER BY id',
    [runId],
  );
  return rows;
}

async function registry(name: string) {
  const { rows } = await db.client.query(
    'SELECT status, drop_reason, bytes, verification FROM dgm.auto_indexes WHERE index_name = $1 ORDER BY id DESC LIMIT 1',
    [name],
  );
  return rows[0];
}

const exists = async (name: string) =>
  (await db.client.query('SELECT to_regclass($1) IS NOT NULL AS e', [`dgm.${name}`])).rows[0].e as boolean;

describe('automatic index creation', () => {
  it('builds on every partition of a two-level partitioned table concurrently and attaches them to one index', async () => {
    const s = await statementOf(
      `SELECT id FROM dgm.dgm_archive WHERE workspace_id = 17 ORDER BY created_at DESC LIMIT 10`,
    );
    const rec = recommendationFor(
      s,
      (c) => c.columns.map((x) => x.column).join() === 'workspace_id,created_at',
    );
    const step = await stepFor(rec, db.config);
    const audit = new AuditTrail(db.client, 'optimize', db.config.constitutionalHash);
    const out = await executeBuild(db.client, step, {
      audit,
      ddl,
      target: 'local',
      hash: db.config.constitutionalHash,
    });
    expect(out).toMatchObject({ status: 'created', retries: 0 });
    const { rows } = await db.client.query(
      `SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)) AS valid,
              (SELECT count(*) FROM pg_partition_tree(to_regclass($1)))::int AS index_nodes,
              (SELECT count(*) FROM pg_partition_tree('dgm.dgm_archive'))::int AS table_nodes,
              (SELECT count(*) FROM pg_partition_tree(to_regclass($1)) t JOIN pg_index i ON i.indexrelid = t.relid
                WHERE NOT i.indisvalid)::int AS invalid`,
      [`dgm.${step.name}`],
    );
    expect(rows[0].valid).toBe(true);
    expect(rows[0].index_nodes).toBe(rows[0].table_nodes);
    expect(rows[0].invalid).toBe(0);
    // The month partitions of the archive are themselves list-partitioned: three levels in all.
    const trees = await readPartitionTrees(db.client, [rec.candidate.table]);
    const levels = new Set(trees.get(rec.candidate.table.oid)!.map((n) => n.level));
    expect([...levels].sort()).toEqual([0, 1, 2]);
    expect(await registry(step.name)).toMatchObject({ status: 'active', drop_reason: null });
    expect(Number((await registry(step.name)).bytes)).toBeGreaterThan(0);
    const audited = await auditRows(audit.runId);
    const leaves = trees.get(rec.candidate.table.oid)!.filter((n) => n.isLeaf).length;
    expect(audited.filter((a) => a.action === 'create_index' && a.status === 'succeeded')).toHaveLength(
      step.statements.filter((x) => x.kind !== 'attach').length,
    );
    expect(step.statements.filter((x) => x.kind === 'create_concurrently')).toHaveLength(leaves);
    expect(audited.filter((a) => a.action === 'attach_index')).toHaveLength(rows[0].table_nodes - 1);

    // Dropping one of ours takes its partitions' indexes with it, audited.
    const dropped = await dropAutoIndex(
      db.client,
      {
        id: out.registryId,
        index_schema: 'dgm',
        index_name: step.name,
        table_schema: 'dgm',
        table_name: step.tableName,
      },
      'manual',
      'test',
      { audit, ddl },
    );
    expect(dropped).toMatchObject({ status: 'dropped', sql: `DROP INDEX IF EXISTS "dgm"."${step.name}"` });
    expect(await exists(step.name)).toBe(false);
    const { rows: left } = await db.client.query(
      `SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE '%dgm\\_auto\\_%' AND relkind IN ('i', 'I')`,
    );
    expect(left[0].n).toBe(0);
  });

  it('waits at most lock_timeout for its lock, retries with backoff, then fails and leaves nothing behind', async () => {
    const s = await statementOf(`SELECT id FROM dgm.workspaces WHERE owner = 'team-5'`);
    const rec = recommendationFor(s, (c) => c.columns[0]!.column === 'owner' && !c.predicate);
    const step = await stepFor(rec, db.config);
    const holder = await db.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE dgm.workspaces IN SHARE UPDATE EXCLUSIVE MODE');
    const audit = new AuditTrail(db.client, 'optimize', db.config.constitutionalHash);
    const started = performance.now();
    const out = await executeBuild(db.client, step, {
      audit,
      ddl,
      target: 'local',
      hash: db.config.constitutionalHash,
    });
    const elapsed = performance.now() - started;
    await holder.query('ROLLBACK');
    expect(out.status).toBe('failed');
    expect(out.error).toMatch(/lock timeout/);
    // Three attempts of 500 ms each plus 20 + 40 ms of backoff: never queued behind the holder for long.
    expect(elapsed).toBeGreaterThanOrEqual(3 * 500);
    expect(elapsed).toBeLessThan(10_000);
    expect(await exists(step.name)).toBe(false);
    const { rows } = await db.client.query(
      `SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid`,
    );
    expect(rows[0].n).toBe(0);
    expect(await registry(step.name)).toMatchObject({ status: 'failed' });
    const audited = await auditRows(audit.runId);
    expect(audited).toContainEqual(expect.objectContaining({ action: 'create_index', status: 'failed' }));
  });

  it('drops an index right after creation when no plan of its statements uses it, and audits both', async () => {
    const s = await statementOf(`SELECT * FROM dgm.workspaces WHERE status IN ('archived', 'suspended')`);
    const rec = recommendationFor(
      s,
      (c) => c.columns.map((x) => x.column).join() === 'status' && !c.predicate,
    );
    const step = await stepFor(rec, db.config);
    const audit = new AuditTrail(db.client, 'optimize', db.config.constitutionalHash);
    const out = await applyIndexPlan(
      db.client,
      { steps: [step], skipped: [] },
      {
        audit,
        config: db.config,
        statements: new Map([[s.id, s]]),
      },
    );
    expect(out.verification).toEqual([
      expect.objectContaining({ index: `dgm.${step.name}`, plan_uses: false, verdict: 'drop' }),
    ]);
    expect(out.changes).toEqual([]);
    expect(await exists(step.name)).toBe(false);
    expect(await registry(step.name)).toMatchObject({ status: 'dropped', drop_reason: 'not_used_by_plans' });
    expect((await auditRows(audit.runId)).map((a) => `${a.action}:${a.status}`)).toEqual([
      'create_index:succeeded',
      'verify_index:succeeded',
      'drop_index:succeeded',
    ]);
  });

  it('ANALYZEs the table of an expression index right after the build: its statistics exist before the check', async () => {
    const s = await statementOf(`SELECT id FROM dgm.workspaces WHERE lower(name) = 'workspace 42'`);
    const rec = recommendationFor(s, (c) => c.columns.some((x) => x.expression?.includes('lower')));
    const step = await stepFor(rec, db.config);
    const stats = async () =>
      Number(
        (
          await db.client.query(
            `SELECT count(*) AS n FROM pg_stats WHERE schemaname = 'dgm' AND tablename = $1`,
            [step.name],
          )
        ).rows[0].n,
      );
    const audit = new AuditTrail(db.client, 'optimize', db.config.constitutionalHash);
    const out = await applyIndexPlan(
      db.client,
      { steps: [step], skipped: [] },
      { audit, config: db.config, statements: new Map([[s.id, s]]) },
    );
    expect(out.actions[0]).toMatchObject({ action: 'create_index', status: 'succeeded' });
    // Statistics on the expression (pg_stats lists them under the index's name) only come from ANALYZE.
    expect(await stats()).toBe(1);
    if (await exists(step.name)) await db.client.query(`DROP INDEX dgm.${step.name}`);
  });

  it('rolls back an index whose measured latency does not improve enough', async () => {
    const s = await statementOf(`SELECT id, name FROM dgm.workspaces WHERE owner = 'team-7'`);
    const rec = recommendationFor(s, (c) => c.columns.map((x) => x.column).join() === 'owner');
    // An index that helps, held to a bar it cannot reach: 99% faster than a scan of a small table.
    const config = parseConfig({ optimization: { minLatencyImprovement: 0.99, verifyRuns: 3 } });
    const step = await stepFor(rec, config);
    const audit = new AuditTrail(db.client, 'optimize', config.constitutionalHash);
    const out = await applyIndexPlan(
      db.client,
      { steps: [step], skipped: [] },
      {
        audit,
        config,
        statements: new Map([[s.id, s]]),
      },
    );
    const v = out.verification[0]!;
    expect(v).toMatchObject({ plan_uses: true, measured: true, verdict: 'drop' });
    expect(v.reason).toMatch(/^measured latency did not improve by 99%/);
    expect(v.latency[0]!.before_ms).toBeGreaterThan(0);
    expect(await exists(step.name)).toBe(false);
    expect(await registry(step.name)).toMatchObject({ status: 'dropped', drop_reason: 'no_benefit' });
    expect(out.actions.map((a) => `${a.action}:${a.status}`)).toEqual([
      'create_index:succeeded',
      'verify_index:succeeded',
      'drop_index:succeeded',
    ]);
    // With the default bar the same index is kept: it is measurably faster.
    const kept = await applyIndexPlan(
      db.client,
      { steps: [step], skipped: [] },
      {
        audit,
        config: db.config,
        statements: new Map([[s.id, s]]),
      },
    );
    expect(kept.verification[0]).toMatchObject({ verdict: 'keep', plan_uses: true, measured: true });
    expect(await exists(step.name)).toBe(true);
    await db.client.query(`DROP INDEX dgm.${step.name}`);
    await db.client.query(`UPDATE dgm.auto_indexes SET status = 'dropped' WHERE index_name = $1`, [
      step.name,
    ]);
  });
});

describe('optimize --apply', () => {
  const examples = REFERENCE_QUERIES.map((q) => ({
    sql: q.sql,
    params: q.params(),
    name: q.name,
    source: 'test',
  }));
  const config = parseConfig({ optimization: { maxIndexesPerRun: 1 } });

  it('a dry run plans and changes nothing', async () => {
    for (const q of REFERENCE_QUERIES) await db.client.query(q.sql, q.params());
    const counts = async () =>
      (
        await db.client.query(
          `SELECT (SELECT count(*) FROM dgm.optimizer_runs)::int AS runs,
                  (SELECT count(*) FROM dgm.performance_baselines)::int AS baselines,
                  (SELECT count(*) FROM dgm.optimization_audit WHERE job = 'optimize')::int AS audit,
                  (SELECT count(*) FROM pg_class WHERE relname LIKE 'dgm\\_auto%')::int AS indexes`,
        )
      ).rows[0];
    const before = await counts();
    const r = await optimizeDatabase(db.client, config, { apply: true, dryRun: true, examples });
    expect(r.status).toBe('planned');
    expect(r.recommendations.filter((x) => x.kind === 'index').length).toBeGreaterThanOrEqual(2);
    expect(r.plan.builds).toHaveLength(1);
    expect(r.actions).toEqual([]);
    expect(await counts()).toEqual(before);
  });

  it('builds within the cap per run, verifies, and records the change', async () => {
    const r = await optimizeDatabase(db.client, config, { apply: true, examples });
    expect(r.status).toBe('succeeded');
    expect(r.applied).toBe(true);
    const created = r.actions.filter((a) => a.action === 'create_index' && a.status === 'succeeded');
    expect(created).toHaveLength(1);
    expect(r.plan.skipped).toContainEqual(
      expect.objectContaining({ reason: 'maxIndexesPerRun (1) reached' }),
    );
    expect(r.verification[0]).toMatchObject({ verdict: 'keep', plan_uses: true });
    const { rows } = await db.client.query(
      `SELECT kind, jsonb_array_length(changes) AS n FROM dgm.performance_baselines WHERE run_id = $1 ORDER BY id`,
      [r.runId],
    );
    expect(rows).toEqual([
      { kind: 'optimize_start', n: 0 },
      { kind: 'optimize_end', n: 1 },
    ]);
    const { rows: run } = await db.client.query(
      'SELECT status, applied FROM dgm.optimizer_runs WHERE run_id = $1',
      [r.runId],
    );
    expect(run).toEqual([{ status: 'succeeded', applied: true }]);
  });

  it('drops an auto-created index still unused after the probation period, audited', async () => {
    const { rows } = await db.client.query<{ index_name: string }>(
      `UPDATE dgm.auto_indexes SET created_at = now() - interval '20 days', scans_at_creation = 1000000
       WHERE status = 'active' RETURNING index_name`,
    );
    expect(rows.length).toBeGreaterThan(0);
    const name = rows[0]!.index_name;
    // Report only: the drop is recommended, nothing dropped.
    const looked = await optimizeDatabase(db.client, config, { examples });
    expect(looked.recommendations).toContainEqual(
      expect.objectContaining({ kind: 'drop_index', index: `"dgm"."${name}"`, reason: 'unused' }),
    );
    expect(await exists(name)).toBe(true);
    const r = await optimizeDatabase(db.client, config, { apply: true, examples });
    expect(r.probation.find((d) => d.index === `"dgm"."${name}"`)).toMatchObject({
      action: 'drop',
      reason: 'unused',
    });
    expect(r.actions).toContainEqual(
      expect.objectContaining({ action: 'drop_index', target: `"dgm"."${name}"`, status: 'succeeded' }),
    );
    expect(await exists(name)).toBe(false);
    expect(await registry(name)).toMatchObject({ status: 'dropped', drop_reason: 'unused' });
    expect(
      (await auditRows(r.runId!)).some((a) => a.action === 'drop_index' && a.status === 'succeeded'),
    ).toBe(true);
  });

  it('runs once at a time, and refuses on a constitutional hash that does not match', async () => {
    const other = await db.connect();
    const held = await withAdvisoryLock(other, ADVISORY_LOCKS.optimize, () =>
      optimizeDatabase(db.client, config, { examples }),
    );
    expect(held.acquired && held.value).toMatchObject({
      status: 'skipped',
      // The holder is named, so a person can tell a run in progress from a stuck one.
      message: expect.stringMatching(/^skipped: another optimize run holds the lock \(pid \d+/),
    });
    const wrong = parseConfig({ constitutionalHash: 'abcdef0123456789' });
    await expect(optimizeDatabase(db.client, wrong, { apply: true })).rejects.toBeInstanceOf(
      ConstitutionMismatchError,
    );
    const { rows } = await db.client.query(
      `SELECT status, error FROM dgm.optimization_audit WHERE job = 'optimize' ORDER BY id DESC LIMIT 1`,
    );
    expect(rows[0]).toMatchObject({ status: 'refused' });
    expect(rows[0].error).toMatch(/constitutional hash mismatch/);
  });
});
