import { describe, expect, it } from 'vitest';
import { OptimizationConfigSchema } from '../../functions/config.ts';
import type { IndexRecommendation } from '../../functions/optimizer/advisor.ts';
import { compareWindows, windowOf } from '../../functions/optimizer/baselines.ts';
import {
  buildStatements,
  type PartitionNode,
  partitionIndexName,
  planIndexBuilds,
} from '../../functions/optimizer/build-plan.ts';
import { candidateName, createIndexSql } from '../../functions/optimizer/candidate-sql.ts';
import type { CandidateIndex } from '../../functions/optimizer/candidates.ts';
import type { TableInfo } from '../../functions/optimizer/catalog.ts';
import { judgeBuild } from '../../functions/optimizer/judge.ts';
import { type AutoIndexRow, reviewDecision } from '../../functions/optimizer/review.ts';
import { recommendSettings, type SettingsFacts, settingBytes } from '../../functions/optimizer/settings.ts';
import { noActivity } from '../support/optimizer-fixtures.ts';

const config = OptimizationConfigSchema.parse({});

function table(oid: number, name: string, relkind = 'r'): TableInfo {
  return {
    oid,
    schema: 'dgm',
    name,
    relkind,
    isPartition: false,
    leafCount: 1,
    totalBytes: 1e7,
    heapBytes: 1e7,
    reltuples: 100_000,
    activity: noActivity(),
    columns: [
      {
        name: 'created_at',
        type: 'timestamptz',
        typeCategory: 'D',
        notNull: true,
        nDistinct: -1,
        nullFrac: 0,
        avgWidth: 8,
        correlation: null,
      },
    ],
    indexes: [],
  };
}

function candidate(t: TableInfo, column = 'created_at'): CandidateIndex {
  return {
    key: `${t.oid}|btree|${column}`,
    table: t,
    method: 'btree',
    columns: [{ column, desc: true, ordered: true }],
    eqPrefix: 0,
    reason: 'order by',
    statements: new Set(['q']),
  };
}

function recommendation(t: TableInfo, gain: number, bytes: number | null = 1000): IndexRecommendation {
  const c = candidate(t);
  const name = candidateName(c);
  return {
    kind: 'index',
    name,
    table: `${t.schema}.${t.name}`,
    schema: t.schema,
    tableName: t.name,
    method: 'btree',
    partitioned: t.relkind === 'p',
    definition: createIndexSql(c, { name }),
    reason: c.reason,
    evaluation: 'hypopg',
    statements: [{ id: 'q', queryid: '1', calls: 1, costBefore: gain + 1, costAfter: 1 }],
    weightedCostBefore: gain + 1,
    weightedCostAfter: 1,
    costReduction: 0.9,
    estimatedBytes: bytes,
    candidate: c,
  };
}

describe('build plan', () => {
  it('builds the biggest savings first, within the caps per run, per table and on size', () => {
    const a = table(1, 'a');
    const b = table(2, 'b');
    const c = table(3, 'c');
    const plan = planIndexBuilds({
      recommendations: [recommendation(a, 10), recommendation(b, 500), recommendation(c, 100, 5e9)],
      config: { ...config, maxIndexesPerRun: 3, maxIndexBytesPerRun: 1e9 },
      existingPerTable: new Map(),
      mix: new Map(),
      trees: new Map(),
    });
    expect(plan.steps.map((s) => s.tableName)).toEqual(['b', 'a']);
    expect(plan.skipped).toEqual([
      expect.objectContaining({ table: 'dgm.c', reason: expect.stringContaining('maxIndexBytesPerRun') }),
    ]);
    const capped = planIndexBuilds({
      recommendations: [recommendation(a, 10), recommendation(b, 500)],
      config: { ...config, maxIndexesPerRun: 1 },
      existingPerTable: new Map(),
      mix: new Map(),
      trees: new Map(),
    });
    expect(capped.steps.map((s) => s.tableName)).toEqual(['b']);
    expect(capped.skipped[0]!.reason).toContain('maxIndexesPerRun (1)');
    const perTable = planIndexBuilds({
      recommendations: [recommendation(a, 10)],
      config: { ...config, maxIndexesPerTable: 2 },
      existingPerTable: new Map([[1, 2]]),
      mix: new Map(),
      trees: new Map(),
    });
    expect(perTable.steps).toEqual([]);
    expect(perTable.skipped[0]!.reason).toContain('maxIndexesPerTable (2)');
  });

  it("builds an OR bundle's indexes together or not at all", () => {
    const a = table(1, 'a');
    const b = table(2, 'b');
    const arm1 = { ...recommendation(a, 300), name: 'arm_1', group: 'or:arm_1+arm_2' };
    const arm2 = { ...recommendation(a, 200), name: 'arm_2', group: 'or:arm_1+arm_2' };
    const other = recommendation(b, 250);
    const plan = (over: Partial<typeof config>) =>
      planIndexBuilds({
        recommendations: [arm1, other, arm2],
        config: { ...config, ...over },
        existingPerTable: new Map(),
        mix: new Map(),
        trees: new Map(),
      });
    // The bundle goes where its best member ranks, both members at once.
    expect(plan({ maxIndexesPerRun: 3 }).steps.map((s) => s.name)).toEqual(['arm_1', 'arm_2', other.name]);
    // Room for two: the bundle, not one arm of it and the other table's index.
    const two = plan({ maxIndexesPerRun: 2 });
    expect(two.steps.map((s) => s.name)).toEqual(['arm_1', 'arm_2']);
    expect(two.skipped.map((s) => s.name)).toEqual([other.name]);
    // Room for one: not half a bundle.
    const one = plan({ maxIndexesPerRun: 1 });
    expect(one.steps.map((s) => s.name)).toEqual([other.name]);
    expect(one.skipped).toEqual([
      expect.objectContaining({
        name: 'arm_1',
        reason: expect.stringMatching(/maxIndexesPerRun \(1\).*OR bundle/),
      }),
      expect.objectContaining({
        name: 'arm_2',
        reason: expect.stringMatching(/maxIndexesPerRun \(1\).*OR bundle/),
      }),
    ]);
    // The per-table cap counts the whole bundle too.
    const perTable = plan({ maxIndexesPerTable: 1 });
    expect(perTable.steps.map((s) => s.name)).toEqual([other.name]);
  });

  it('skips write-heavy tables', () => {
    const a = table(1, 'events');
    const plan = planIndexBuilds({
      recommendations: [recommendation(a, 100)],
      config: { ...config, writeHeavyRatio: 1 },
      existingPerTable: new Map(),
      mix: new Map([[1, { readCalls: 10, writeCalls: 500 }]]),
      trees: new Map(),
    });
    expect(plan.steps).toEqual([]);
    expect(plan.skipped[0]!.reason).toMatch(/^write-heavy table: 500 write calls against 10 reads/);
  });

  it('counts a DELETE or UPDATE the index makes cheaper as a read it serves, not only a write', () => {
    // A purge `DELETE FROM r USING p WHERE r.p_id = p.id AND p.owner = $1` is the table's only statement:
    // 22 calls, all writes. The index on r (p_id) is what finds its rows (the pharmacy holdout).
    const r = table(1, 'refill_requests');
    const rec = recommendation(r, 100);
    rec.statements = [{ id: 'purge', queryid: '9', calls: 22, costBefore: 5000, costAfter: 40 }];
    const run = (findingWrites?: Map<string, number>) =>
      planIndexBuilds({
        recommendations: [rec],
        config,
        existingPerTable: new Map(),
        mix: new Map([[1, { readCalls: 0, writeCalls: 22, ...(findingWrites ? { findingWrites } : {}) }]]),
        trees: new Map(),
      });
    expect(run(new Map([['purge', 22]])).steps.map((s) => s.name)).toEqual([rec.name]);
    // An INSERT finds no rows (no findingWrites entry): the table stays write-heavy.
    expect(run().skipped[0]!.reason).toMatch(/^write-heavy table: 22 write calls against 0 reads/);
    // A write the index does not make cheaper is no read it serves.
    rec.statements = [{ id: 'purge', queryid: '9', calls: 22, costBefore: 40, costAfter: 40 }];
    expect(run(new Map([['purge', 22]])).skipped[0]!.reason).toMatch(/^write-heavy table/);
  });

  it('on a partitioned table: ON ONLY every partitioned level, concurrently on each leaf, attached bottom-up', () => {
    const t = table(7, 'archive', 'p');
    const tree: PartitionNode[] = [
      { schema: 'dgm', name: 'archive', isLeaf: false, level: 0 },
      { schema: 'dgm', name: 'archive_m1', parent: '"dgm"."archive"', isLeaf: false, level: 1 },
      { schema: 'dgm', name: 'archive_m1_done', parent: '"dgm"."archive_m1"', isLeaf: true, level: 2 },
      { schema: 'dgm', name: 'archive_default', parent: '"dgm"."archive"', isLeaf: true, level: 1 },
    ];
    const name = 'dgm_auto_archive_x';
    const stmts = buildStatements(candidate(t), name, tree);
    const m1 = partitionIndexName(name, 'archive_m1');
    const done = partitionIndexName(name, 'archive_m1_done');
    const def = partitionIndexName(name, 'archive_default');
    expect(stmts.map((s) => s.sql)).toEqual([
      `CREATE INDEX IF NOT EXISTS "${name}" ON ONLY "dgm"."archive" ("created_at" DESC)`,
      `CREATE INDEX IF NOT EXISTS "${m1}" ON ONLY "dgm"."archive_m1" ("created_at" DESC)`,
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS "${done}" ON "dgm"."archive_m1_done" ("created_at" DESC)`,
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS "${def}" ON "dgm"."archive_default" ("created_at" DESC)`,
      `ALTER INDEX "dgm"."${m1}" ATTACH PARTITION "dgm"."${done}"`,
      `ALTER INDEX "dgm"."${name}" ATTACH PARTITION "dgm"."${m1}"`,
      `ALTER INDEX "dgm"."${name}" ATTACH PARTITION "dgm"."${def}"`,
    ]);
    for (const n of [m1, done, def]) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(63);
    expect(buildStatements(candidate(table(8, 'plain')), 'i', undefined).map((s) => s.sql)).toEqual([
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "i" ON "dgm"."plain" ("created_at" DESC)',
    ]);
  });
});

describe('verdict after a build', () => {
  it('drops an index no plan uses, or one that measures no faster; keeps one that does', () => {
    expect(judgeBuild([], [], 0.1)).toMatchObject({ verdict: 'drop', plan_uses: false });
    const slow = [{ id: 'q', before_ms: 10, after_ms: 9.5, improvement: 0.05 }];
    expect(judgeBuild(['q'], slow, 0.1)).toMatchObject({ verdict: 'drop', plan_uses: true, measured: true });
    const fast = [{ id: 'q', before_ms: 10, after_ms: 1, improvement: 0.9 }];
    expect(judgeBuild(['q'], fast, 0.1)).toMatchObject({
      verdict: 'keep',
      reason: 'measured latency improved up to 90.0%',
    });
    // Used but not measurable now: kept, probation decides from pg_stat_statements.
    expect(judgeBuild(['q'], [], 0.1)).toMatchObject({ verdict: 'keep', measured: false });
  });

  it('judges by the buffers the statement touched as well: a busy machine does not hide a real gain', () => {
    // The timing says nothing (a loaded machine), the work fell from 5,000 to 40 buffers: kept.
    const noisy = [
      {
        id: 'q',
        before_ms: 2,
        after_ms: 2.1,
        improvement: -0.05,
        before_blocks: 5000,
        after_blocks: 40,
        blocks_improvement: 0.992,
      },
    ];
    expect(judgeBuild(['q'], noisy, 0.1)).toMatchObject({
      verdict: 'keep',
      reason: 'measured latency improved up to 99.2% (time -5.0%, buffers touched 99.2%)',
    });
    // Neither the time nor the work moved: dropped, and the reason gives both.
    const flat = [
      {
        id: 'q',
        before_ms: 2,
        after_ms: 1.95,
        improvement: 0.025,
        before_blocks: 100,
        after_blocks: 98,
        blocks_improvement: 0.02,
      },
    ];
    expect(judgeBuild(['q'], flat, 0.1)).toMatchObject({
      verdict: 'drop',
      reason: 'measured latency did not improve by 10% (best 2.5%) (time 2.5%, buffers touched 2.0%)',
    });
  });
});

describe('probation', () => {
  const row: AutoIndexRow = {
    id: 1,
    index_schema: 'dgm',
    index_name: 'dgm_auto_x',
    table_schema: 'dgm',
    table_name: 't',
    definition: '',
    status: 'active',
    run_id: null,
    created_at: new Date(),
    scans_at_creation: 5,
    baseline_id: 1,
    target_queries: [{ queryid: '1' }],
  };
  const facts = { exists: true, valid: true, scansNow: 5, ageDays: 1 };

  it('drops an index whose statements did not get faster, measured over enough calls', () => {
    const d = reviewDecision(
      row,
      { ...facts, scansNow: 50, before: { calls: 100, totalMs: 1000 }, after: { calls: 40, totalMs: 380 } },
      config,
    );
    expect(d).toMatchObject({ action: 'drop', reason: 'no_benefit' });
    expect(d.figures).toMatchObject({ mean_ms_before: 10, mean_ms_after: 9.5, improvement: 0.05 });
  });

  it('verifies one that made them faster, and waits while there are too few calls', () => {
    const ok = reviewDecision(
      row,
      { ...facts, scansNow: 50, before: { calls: 100, totalMs: 1000 }, after: { calls: 40, totalMs: 40 } },
      config,
    );
    expect(ok).toMatchObject({ action: 'verify', reason: 'improved' });
    const few = reviewDecision(
      row,
      { ...facts, before: { calls: 100, totalMs: 1000 }, after: { calls: 3, totalMs: 300 } },
      config,
    );
    expect(few).toMatchObject({ action: 'keep', reason: 'on_probation' });
  });

  it('drops one unused through the probation period, and forgets one that is gone', () => {
    expect(reviewDecision(row, { ...facts, ageDays: 15 }, config)).toMatchObject({
      action: 'drop',
      reason: 'unused',
    });
    expect(reviewDecision(row, { ...facts, ageDays: 13 }, config)).toMatchObject({ action: 'keep' });
    expect(reviewDecision(row, { ...facts, scansNow: 6, ageDays: 30 }, config)).toMatchObject({
      action: 'keep',
    });
    expect(reviewDecision(row, { ...facts, exists: false }, config)).toMatchObject({
      action: 'forget',
      reason: 'gone',
    });
    expect(reviewDecision(row, { ...facts, valid: false }, config)).toMatchObject({
      action: 'drop',
      reason: 'invalid',
    });
  });
});

describe('improvement between windows', () => {
  it('is per query and overall, weighted by the after window’s calls', () => {
    const s0 = new Map([
      ['a', { calls: 10, totalMs: 100 }],
      ['b', { calls: 10, totalMs: 20 }],
    ]);
    const s1 = new Map([
      ['a', { calls: 20, totalMs: 200 }],
      ['b', { calls: 30, totalMs: 60 }],
      ['gone', { calls: 1, totalMs: 1 }],
    ]);
    const s2 = new Map([
      ['a', { calls: 40, totalMs: 220 }],
      ['b', { calls: 50, totalMs: 100 }],
      ['new', { calls: 5, totalMs: 5 }],
    ]);
    const before = windowOf(s0, s1);
    const after = windowOf(s1, s2);
    expect(before.get('a')).toEqual({ calls: 10, totalMs: 100 });
    const cmp = compareWindows(before, after, new Map([['a', 'SELECT a']]));
    expect(cmp.per_query.map((q) => [q.queryid, q.mean_ms_before, q.mean_ms_after, q.improvement])).toEqual([
      ['a', 10, 1, 0.9],
      ['b', 2, 2, 0],
    ]);
    // a: 20 calls at 10 ms would have been 200 ms, took 20; b: 20 calls, 40 ms either way.
    expect(cmp.overall).toMatchObject({
      queries: 2,
      calls_after: 40,
      total_ms_at_before_speed: 240,
      total_ms_after: 60,
      improvement: 0.75,
      speedup: 4,
    });
    // A statement whose counters went down (evicted and re-entered) has no usable window; one that is
    // new since the start counts from zero.
    expect([...windowOf(s2, s1).keys()]).toEqual(['gone']);
  });
});

describe('settings advice', () => {
  const facts: SettingsFacts = {
    database: 'orders',
    versionNum: 180000,
    isRds: true,
    settings: {
      work_mem: { setting: '4096', unit: 'kB', context: 'user' },
      random_page_cost: { setting: '4', unit: null, context: 'user' },
      effective_io_concurrency: { setting: '1', unit: null, context: 'user' },
      autovacuum_vacuum_scale_factor: { setting: '0.2', unit: null, context: 'sighup' },
      autovacuum_vacuum_threshold: { setting: '50', unit: null, context: 'sighup' },
      autovacuum_vacuum_cost_limit: { setting: '-1', unit: null, context: 'sighup' },
      vacuum_cost_limit: { setting: '200', unit: null, context: 'user' },
      autovacuum_max_workers: { setting: '3', unit: null, context: 'postmaster' },
    },
    tempFiles: 10,
    tempBytes: 50 * 1024 ** 2,
    statsResetAgeSeconds: 3600,
    heapHit: 990,
    heapRead: 10,
    tables: [
      ...['a', 'b', 'c'].map((name) => ({
        schema: 'dgm',
        name,
        liveTuples: 10_000,
        deadTuples: 5_000,
        modsSinceAnalyze: 0,
        insertsSinceVacuum: 0,
        lastAutovacuumAgeSeconds: null,
        autovacuumCount: 0,
        options: [],
      })),
      {
        schema: 'dgm',
        name: 'big',
        liveTuples: 20_000_000,
        deadTuples: 0,
        modsSinceAnalyze: 0,
        insertsSinceVacuum: 0,
        lastAutovacuumAgeSeconds: 60,
        autovacuumCount: 1,
        options: [],
      },
    ],
  };

  it('derives each from the statistics, with the statement or parameter group that applies it', () => {
    const recs = recommendSettings(facts, {
      storage: 'ssd',
      spills: [{ queryid: '1', tempBytesPerCall: 20 * 1024 ** 2, calls: 3 }],
    });
    const by = Object.fromEntries(recs.map((r) => [`${r.name}${r.scope === 'table' ? ':table' : ''}`, r]));
    expect(by.work_mem).toMatchObject({
      current: '4MB',
      recommended: '64MB',
      statement: `ALTER DATABASE "orders" SET work_mem = '64MB'`,
      parameterGroup: { name: 'work_mem', value: '65536' },
    });
    expect(by.random_page_cost).toMatchObject({
      recommended: '1.1',
      statement: 'ALTER DATABASE "orders" SET random_page_cost = 1.1',
    });
    expect(by.effective_io_concurrency).toMatchObject({ recommended: '200' });
    expect(by.autovacuum_vacuum_cost_limit).toMatchObject({
      scope: 'server',
      parameterGroup: { name: 'autovacuum_vacuum_cost_limit', value: '2000' },
    });
    expect(by.autovacuum_vacuum_cost_limit!.statement).toBeUndefined();
    expect(by['autovacuum_vacuum_scale_factor:table']).toMatchObject({
      recommended: '0.01',
      statement:
        'ALTER TABLE "dgm"."big" SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.005)',
    });
  });

  it('recommends nothing the statistics do not call for', () => {
    const quiet: SettingsFacts = {
      ...facts,
      tempFiles: 0,
      tempBytes: 0,
      settings: {
        ...facts.settings,
        random_page_cost: { setting: '1.1', unit: null, context: 'user' },
        effective_io_concurrency: { setting: '200', unit: null, context: 'user' },
      },
      tables: [],
    };
    expect(recommendSettings(quiet, { storage: 'ssd', spills: [] })).toEqual([]);
    // Spinning disks keep random_page_cost at 4.
    expect(
      recommendSettings({ ...facts, tables: [] }, { storage: 'hdd', spills: [] }).map((r) => r.name),
    ).toEqual(['work_mem']);
    expect(settingBytes({ setting: '8', unit: '8kB' })).toBe(8 * 8 * 1024);
  });
});
