import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { BadInputError } from '../../functions/errors.ts';
import { maintain } from '../../functions/jobs/maintain.ts';
import { backoffMs } from '../../functions/maintenance/executor.ts';
import {
  type BtreeWidthRow,
  estimateBtreeBloat,
  type IndexFacts,
  type IndexRow,
  planIndexMaintenance,
} from '../../functions/maintenance/indexes.ts';
import { type PartitionPlanRow, partitionActions } from '../../functions/maintenance/partitions.ts';
import { fitIdentifier } from '../../functions/maintenance/plan.ts';
import {
  planRollingIndex,
  type RollingIndexFacts,
  type RollingIndexRow,
  type RollingPartitionRow,
  rollingCutoff,
} from '../../functions/maintenance/rolling-index.ts';
import {
  type ColumnStatsRow,
  distinctEstimate,
  planStatistics,
} from '../../functions/maintenance/statistics.ts';
import { isHighWrite, planVacuum, renderSetting, sameSetting } from '../../functions/maintenance/vacuum.ts';

const maint = parseConfig({}).maintenance;

describe('retry backoff', () => {
  it('doubles from the configured base, with at most 20% jitter', () => {
    expect([1, 2, 3, 4].map((a) => backoffMs(500, a, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffMs(500, 2, () => 0.999)).toBe(1200);
  });
});

describe('fitIdentifier', () => {
  it('keeps short names, and shortens long ones to 63 bytes keeping them distinct and whole characters', () => {
    expect(fitIdentifier('metrics_y2026m01', '_c20260101')).toBe('metrics_y2026m01_c20260101');
    const a = fitIdentifier(`${'é'.repeat(40)}_y2026m01`, '_c20260101');
    const b = fitIdentifier(`${'é'.repeat(40)}_y2026m02`, '_c20260101');
    for (const n of [a, b]) {
      expect(Buffer.byteLength(n)).toBeLessThanOrEqual(63);
      expect(n.endsWith('_c20260101')).toBe(true);
      expect(n).not.toContain('\uFFFD');
    }
    expect(a).not.toBe(b);
  });
});

describe('btree bloat estimate', () => {
  const index = (over: Partial<IndexRow> = {}): IndexRow => ({
    oid: '1',
    schema_name: 's',
    table_name: 't',
    index_name: 'i',
    index_kind: 'i',
    table_kind: 'r',
    am: 'btree',
    is_valid: true,
    is_unique: false,
    is_primary: false,
    constraint_type: null,
    is_partition: false,
    parent_index: null,
    bytes: 5468 * 8192,
    relpages: 5468,
    reltuples: 1_000_000,
    fillfactor: 90,
    scans: 5,
    identity: 'x',
    definition: '',
    being_built: false,
    table_live_rows: 1_000_000,
    table_mods_since_analyze: 0,
    table_analyzed: true,
    ...over,
  });
  const width: BtreeWidthRow = {
    oid: '1',
    data_width: 4,
    has_nulls: false,
    stats_missing: false,
    has_name_type: false,
    block_size: 8192,
  };

  it("follows ioguix's formula: an int4 key at fillfactor 90 needs 2734 leaf pages for a million rows", () => {
    // tuple = 8 header + 8 (4 bytes aligned) = 16; per page floor(8152 * 90 / (100 * 20)) = 366.
    const est = estimateBtreeBloat(index(), width);
    expect(est.ratio).toBe(0.5);
    expect(est.bloatBytes).toBe((5468 - 2734) * 8192);
    expect(est.reliable).toBe(true);
  });

  it('does not trust estimates from stale or missing statistics', () => {
    expect(estimateBtreeBloat(index({ table_mods_since_analyze: 300_000 }), width).note).toBe(
      'statistics are stale',
    );
    expect(estimateBtreeBloat(index(), { ...width, stats_missing: true }).reliable).toBe(false);
    expect(estimateBtreeBloat(index({ reltuples: -1 }), width).reliable).toBe(false);
  });
});

describe('index plan', () => {
  const row = (name: string, over: Partial<IndexRow> = {}): IndexRow => ({
    oid: String(name.length * 1000 + name.charCodeAt(0)),
    schema_name: 'app',
    table_name: 't',
    index_name: name,
    index_kind: 'i',
    table_kind: 'r',
    am: 'btree',
    is_valid: true,
    is_unique: false,
    is_primary: false,
    constraint_type: null,
    is_partition: false,
    parent_index: null,
    bytes: 100 * 1024 * 1024,
    relpages: 12800,
    reltuples: 1_000_000,
    fillfactor: 90,
    scans: 10,
    identity: `id-${name}`,
    definition: '',
    being_built: false,
    table_live_rows: 1_000_000,
    table_mods_since_analyze: 0,
    table_analyzed: true,
    ...over,
  });
  const width = (oid: string): BtreeWidthRow => ({
    oid,
    data_width: 4,
    has_nulls: false,
    stats_missing: false,
    has_name_type: false,
    block_size: 8192,
  });
  const facts = (indexes: IndexRow[], over: Partial<IndexFacts> = {}): IndexFacts => ({
    indexes,
    widths: indexes.map((i) => width(i.oid)),
    audited: [],
    statsAgeDays: 30,
    rolling: [],
    optimizer: [],
    ...over,
  });

  it('reindexes concurrently what is bloated and big enough, and cleans up after itself on failure', () => {
    const big = row('big');
    const small = row('small', { bytes: 1024 * 1024, relpages: 128, reltuples: 100 });
    const plan = planIndexMaintenance(facts([big, small]), maint, { allowAnalyze: true });
    expect(plan.actions).toEqual([
      expect.objectContaining({
        kind: 'reindex',
        target: '"app"."big"',
        statements: ['REINDEX INDEX CONCURRENTLY "app"."big"'],
        mode: 'autocommit',
        cleanup: { schema: 'app', table: 't', ccOf: 'big' },
      }),
    ]);
  });

  it('analyzes first when the statistics behind an estimate are stale', () => {
    const stale = row('stale', { table_mods_since_analyze: 500_000 });
    const first = planIndexMaintenance(facts([stale]), maint, { allowAnalyze: true });
    expect(first.recheck).toBe(true);
    expect(first.actions.map((a) => [a.kind, a.target])).toEqual([['analyze', '"app"."t"']]);
    const second = planIndexMaintenance(facts([stale]), maint, { allowAnalyze: false });
    expect(second.actions).toEqual([]);
    expect(second.findings.bloated[0]?.action).toBe('report');
  });

  it('drops only the invalid indexes the audit knows as ours (their _ccnew/_ccold too), never one being built', () => {
    const plan = planIndexMaintenance(
      facts(
        [
          row('ours', { is_valid: false }),
          row('rebuilt_ccnew1', { is_valid: false }),
          row('theirs', { is_valid: false }),
          row('building', { is_valid: false, being_built: true }),
        ],
        { audited: [{ schema: 'app', name: 'ours' }, { name: 'rebuilt' }, { name: 'building' }] },
      ),
      maint,
      { allowAnalyze: true },
    );
    expect(plan.actions.map((a) => [a.kind, a.target, a.statements[0]])).toEqual([
      ['drop_invalid_index', '"app"."ours"', 'DROP INDEX CONCURRENTLY IF EXISTS "app"."ours"'],
      [
        'drop_invalid_index',
        '"app"."rebuilt_ccnew1"',
        'DROP INDEX CONCURRENTLY IF EXISTS "app"."rebuilt_ccnew1"',
      ],
    ]);
    expect(plan.findings.invalid.map((f) => [f.index, f.action])).toEqual([
      ['"app"."ours"', 'drop'],
      ['"app"."rebuilt_ccnew1"', 'drop'],
      ['"app"."theirs"', 'report'],
    ]);
  });

  it('judges unused on identical copies together and never drops what backs a constraint', () => {
    const drop = { ...maint, dropUnusedIndexes: true, dropDuplicateIndexes: true };
    const plan = planIndexMaintenance(
      facts(
        [
          row('pk', { is_primary: true, is_unique: true, constraint_type: 'p', scans: 0, identity: 'k' }),
          row('copy_of_pk', { is_unique: true, scans: 0, identity: 'k' }),
          row('a', { scans: 0, identity: 'v' }),
          row('b', { scans: 3, identity: 'v' }),
          row('lonely', { scans: 0, index_kind: 'I', identity: 'w' }),
          row('recent', { scans: 0, identity: 'r' }),
          row('auto_idx', { scans: 0, identity: 'o' }),
        ],
        { rolling: [{ schema: 'app', name: 'recent' }], optimizer: [{ schema: 'app', name: 'auto_idx' }] },
      ),
      drop,
      { allowAnalyze: false },
    );
    const drops = plan.actions.filter((a) => a.kind.startsWith('drop_'));
    expect(drops.map((a) => [a.kind, a.target, a.mode])).toEqual([
      ['drop_duplicate_index', '"app"."copy_of_pk"', 'autocommit'],
      ['drop_duplicate_index', '"app"."b"', 'autocommit'],
      ['drop_unused_index', '"app"."lonely"', 'transaction'],
    ]);
    expect(plan.findings.unused.find((u) => u.index === '"app"."recent"')?.action).toBe('report');
    // The optimizer's own index under probation is its to judge.
    expect(plan.findings.unused.find((u) => u.index === '"app"."auto_idx"')).toMatchObject({
      action: 'report',
      note: 'built by the optimizer: its probation decides (dgm-db-ops optimize)',
    });
    // Too little history: reported, not dropped.
    const young = planIndexMaintenance(facts([row('lonely', { scans: 0 })], { statsAgeDays: 2 }), drop, {
      allowAnalyze: false,
    });
    expect(young.actions.filter((a) => a.kind.startsWith('drop_'))).toEqual([]);
  });
});

describe('statistics plan', () => {
  const col = (column: string, over: Partial<ColumnStatsRow> = {}): ColumnStatsRow => ({
    table_oid: '10',
    schema_name: 'app',
    table_name: 'events',
    kind: 'r',
    reltuples: 1_000_000,
    column_name: column,
    scalar: true,
    indexed: true,
    stat_target: -1,
    partition_targets: null,
    n_distinct: 50,
    ...over,
  });

  it('distinct estimates: a count, or a fraction of the rows when negative', () => {
    expect(distinctEstimate(120, 1e6)).toBe(120);
    expect(distinctEstimate(-0.25, 1e6)).toBe(250_000);
  });

  it('targets high-cardinality non-unique columns, honours configured targets, adds extended statistics', () => {
    const facts = {
      columns: [
        col('id', { n_distinct: -1 }),
        col('user_id', { n_distinct: -0.05 }),
        col('payload', { scalar: false, n_distinct: -0.2 }),
        col('kind', { n_distinct: 5 }),
        col('not_indexed', { n_distinct: -0.05, indexed: false }),
        col('already', { n_distinct: 90_000, stat_target: 1000 }),
      ],
      extended: [
        {
          root_oid: '10',
          schema_name: 'app',
          table_name: 'events',
          is_root: true,
          list_key: null,
          column_sets: [['kind', 'user_id']],
        },
        {
          root_oid: '10',
          schema_name: 'app',
          table_name: 'events_p1',
          is_root: false,
          list_key: null,
          column_sets: [],
        },
        {
          root_oid: '10',
          schema_name: 'app',
          table_name: 'events_kind_a',
          is_root: false,
          list_key: 'kind',
          column_sets: [],
        },
      ],
      resolved: new Map([
        ['app.events', '10'],
        ['app.nope', undefined],
      ]),
    };
    const plan = planStatistics(
      facts,
      {
        ...maint,
        statisticsTargets: { 'app.events': { kind: 20 }, 'app.nope': { x: 1 } },
        extendedStatistics: [{ table: 'app.events', columns: ['user_id', 'kind'], kinds: ['dependencies'] }],
      },
      { analyzeAll: false },
    );
    expect(plan.problems).toEqual(['statisticsTargets: table app.nope does not exist']);
    expect(plan.actions.map((a) => a.statements[0])).toEqual([
      'ALTER TABLE "app"."events" ALTER COLUMN "kind" SET STATISTICS 20',
      'ALTER TABLE "app"."events" ALTER COLUMN "user_id" SET STATISTICS 500',
      'CREATE STATISTICS IF NOT EXISTS "app"."events_p1_user_id_kind_stx" (dependencies) ON "user_id", "kind" FROM "app"."events_p1"',
      'ANALYZE "app"."events"',
    ]);
  });
});

describe('vacuum plan', () => {
  it('compares settings by value and renders them safely', () => {
    expect(sameSetting('0.10', 0.1)).toBe(true);
    expect(sameSetting('on', true)).toBe(true);
    expect(sameSetting('false', true)).toBe(false);
    expect(sameSetting(undefined, 1)).toBe(false);
    expect(renderSetting('toast.autovacuum_enabled', false)).toBe('toast."autovacuum_enabled" = false');
    expect(renderSetting('autovacuum_vacuum_scale_factor', 0.02)).toBe(
      '"autovacuum_vacuum_scale_factor" = 0.02',
    );
    expect(() => renderSetting('fillfactor = 10); DROP TABLE x; --', 1)).toThrow(/not a storage parameter/);
  });

  it('sets what differs on each leaf, carries config into partition_config, and freezes oldest first', () => {
    const plan = planVacuum(
      {
        targets: [
          {
            key: 'app.m',
            partitionConfig: {
              parentTable: 'app.m',
              storageParameters: { autovacuum_vacuum_scale_factor: 0.1 },
            },
            configured: { autovacuum_vacuum_cost_delay: 2 },
            exists: true,
            leaves: [
              {
                schema: 'app',
                name: 'm_1',
                reloptions: ['autovacuum_vacuum_scale_factor=0.1', 'autovacuum_vacuum_cost_delay=2'],
              },
              { schema: 'app', name: 'm_2', reloptions: ['autovacuum_vacuum_scale_factor=0.2'] },
            ],
          },
          { key: 'app.gone', configured: { autovacuum_enabled: true }, exists: false, leaves: [] },
        ],
        freeze: [
          { schema_name: 'app', table_name: 'old', xid_age: 900_000_000, bytes: 10 },
          { schema_name: 'app', table_name: 'newer', xid_age: 600_000_000, bytes: 10 },
        ],
        databaseXidAge: 900_000_000,
        freezeMaxAge: 200_000_000,
      },
      maint,
    );
    expect(plan.problems).toEqual(['autovacuum: table app.gone does not exist']);
    expect(plan.actions[0]!.statements).toEqual([
      'ALTER TABLE "app"."m_2" SET ("autovacuum_vacuum_scale_factor" = 0.1, "autovacuum_vacuum_cost_delay" = 2)',
      {
        text: 'UPDATE dgm.partition_config SET storage_parameters = $1::jsonb, updated_at = now() WHERE parent_table = $2',
        values: ['{"autovacuum_vacuum_scale_factor":0.1,"autovacuum_vacuum_cost_delay":2}', 'app.m'],
      },
    ]);
    expect(plan.actions.slice(1).map((a) => [a.kind, a.target, a.timeBoxed, a.mode])).toEqual([
      ['vacuum_freeze', '"app"."old"', true, 'autocommit'],
      ['vacuum_freeze', '"app"."newer"', true, 'autocommit'],
    ]);
  });

  it('a measured high-write table: the rule, the settings under a partition set and config, the figure', () => {
    expect(isHighWrite({ churn: 20_000, row_count: 20_000 }, 1, 10_000)).toBe(true);
    expect(isHighWrite({ churn: 19_999, row_count: 20_000 }, 1, 10_000)).toBe(false);
    expect(isHighWrite({ churn: 90_000, row_count: 9_999 }, 1, 10_000)).toBe(false);
    expect(isHighWrite({ churn: 90_000, row_count: 20_000 }, 0, 0)).toBe(false);
    expect(isHighWrite({ churn: 0, row_count: 0 }, 1, 0)).toBe(false);
    const measured = {
      churn: 50_000,
      rows: 20_000,
      since: '2026-11-01T00:00:00.000Z',
      settings: { autovacuum_vacuum_scale_factor: 0.1, autovacuum_vacuum_cost_delay: 10 },
    };
    const leaf = (name: string) => ({ schema: 'app', name, reloptions: [] });
    const plan = planVacuum(
      {
        targets: [
          // Under a partition set: the set's parameters win over the measured ones.
          {
            key: '"app"."hot"',
            partitionConfig: {
              parentTable: 'app.hot',
              storageParameters: { autovacuum_vacuum_scale_factor: 0.05 },
            },
            highWrite: measured,
            exists: true,
            leaves: [leaf('hot_1')],
          },
          // A config entry replaces the measured settings entirely.
          {
            key: 'app.mine',
            configured: { autovacuum_enabled: true },
            highWrite: measured,
            exists: true,
            leaves: [leaf('mine')],
          },
        ],
        freeze: [],
        databaseXidAge: 1,
        freezeMaxAge: 200_000_000,
      },
      maint,
    );
    expect(plan.actions.map((a) => [a.target, a.statements[0]])).toEqual([
      [
        '"app"."hot"',
        'ALTER TABLE "app"."hot_1" SET ("autovacuum_vacuum_scale_factor" = 0.05, "autovacuum_vacuum_cost_delay" = 10)',
      ],
      ['app.mine', 'ALTER TABLE "app"."mine" SET ("autovacuum_enabled" = true)'],
    ]);
    expect(plan.actions[0]!.reason).toBe(
      '1 table(s) without the wanted autovacuum settings (high write rate: 50,000 rows updated or deleted since the statistics reset of 2026-11-01T00:00:00.000Z, 2.50x its 20,000 rows)',
    );
    // The measured choice never writes the set's registered parameters.
    expect(plan.actions[0]!.statements).toHaveLength(1);
    expect(plan.actions[1]!.reason).toBe('1 table(s) without the wanted autovacuum settings');
  });
});

describe('rolling partial index plan', () => {
  const current: RollingIndexRow = {
    indexrelid: 100,
    indrelid: 10,
    index_name: 'recent',
    index_kind: 'I',
    table_schema: 'app',
    table_name: 'm',
    table_kind: 'p',
    definition:
      "CREATE INDEX recent ON ONLY app.m USING btree (ts DESC) INCLUDE (v) WHERE (ts >= '2026-01-01 00:00:00+00'::timestamp with time zone)",
    predicate: "(ts >= '2026-01-01 00:00:00+00'::timestamp with time zone)",
    am_ident: 'btree',
    is_unique: false,
    is_valid: true,
    index_ident: 'recent',
    table_text: 'app.m',
    column_ident: 'ts',
    cutoff: new Date('2026-01-01T00:00:00Z'),
    column_type: 'timestamp with time zone',
    wanted_literal: "'2026-03-01 00:00:00+00'",
  };
  const part = (name: string, over: Partial<RollingPartitionRow> = {}): RollingPartitionRow => ({
    relid: name.length,
    parent_relid: 10,
    is_leaf: true,
    level: 1,
    schema_name: 'app',
    table_name: name,
    planned_index_name: `${name}_c20260301`,
    attached_index: null,
    named_index: null,
    named_index_valid: null,
    named_index_attached: null,
    ...over,
  });
  const facts = (over: Partial<RollingIndexFacts> = {}): RollingIndexFacts => ({
    spec: { index: 'app.recent', keepMonths: 1 },
    schema: 'app',
    name: 'recent',
    nextName: 'recent_next',
    wanted: new Date('2026-03-01T00:00:00Z'),
    current,
    partitions: [part('m_a'), part('m_bb')],
    ...over,
  });

  it('the cutoff is the first day of the month keepMonths back', () => {
    expect(rollingCutoff(new Date('2026-04-17T10:00:00Z'), 1).toISOString()).toBe('2026-03-01T00:00:00.000Z');
    expect(rollingCutoff(new Date('2026-01-02T00:00:00Z'), 1).toISOString()).toBe('2025-12-01T00:00:00.000Z');
  });

  it('builds ON ONLY, concurrently per partition, attaches, then swaps after checking the new index is valid', () => {
    const actions = planRollingIndex(facts());
    expect(actions.map((a) => [a.kind, a.mode])).toEqual([
      ['create_parent_index', 'transaction'],
      ['create_index_concurrently', 'autocommit'],
      ['attach_index', 'transaction'],
      ['create_index_concurrently', 'autocommit'],
      ['attach_index', 'transaction'],
      ['swap_partial_index', 'transaction'],
    ]);
    expect(actions[0]!.statements).toEqual([
      'CREATE INDEX "recent_next" ON ONLY "app"."m" USING btree (ts DESC) INCLUDE (v) WHERE ts >= \'2026-03-01 00:00:00+00\'',
    ]);
    expect(actions[1]!.statements[0]).toBe(
      'CREATE INDEX CONCURRENTLY "m_a_c20260301" ON "app"."m_a" USING btree (ts DESC) INCLUDE (v) WHERE ts >= \'2026-03-01 00:00:00+00\'',
    );
    expect(actions[1]!.cleanup).toEqual({ schema: 'app', table: 'm_a', exact: ['m_a_c20260301'] });
    expect(actions.at(-1)!.statements).toEqual([
      { text: 'SELECT dgm.assert_index_valid($1::regclass)', values: ['"app"."recent_next"'] },
      'DROP INDEX "app"."recent"',
      'ALTER INDEX "app"."recent_next" RENAME TO "recent"',
    ]);
    expect(new Set(actions.map((a) => a.group))).toEqual(new Set(['roll:"app"."recent"']));
  });

  it('resumes an interrupted roll where it stopped, and does nothing once current', () => {
    const next: RollingIndexRow = {
      ...current,
      index_name: 'recent_next',
      is_valid: false,
      cutoff: new Date('2026-03-01T00:00:00Z'),
    };
    const resumed = planRollingIndex(
      facts({
        next,
        partitions: [
          part('m_a', { attached_index: 'm_a_c20260301' }),
          part('m_bb', { named_index: 'm_bb_c20260301', named_index_valid: false }),
        ],
      }),
    );
    expect(resumed.map((a) => [a.kind, a.target])).toEqual([
      ['drop_index', '"app"."m_bb_c20260301"'],
      ['create_index_concurrently', '"app"."m_bb_c20260301"'],
      ['attach_index', '"app"."m_bb_c20260301"'],
      ['swap_partial_index', '"app"."recent"'],
    ]);
    expect(
      planRollingIndex(facts({ current: { ...current, cutoff: new Date('2026-03-01T00:00:00Z') } })),
    ).toEqual([]);
    const odd = planRollingIndex(facts({ current: { ...current, column_ident: null, cutoff: null } }));
    expect(odd[0]!.problem).toMatch(/no predicate of the form column >= constant/);
  });
});

describe('partition plan rows', () => {
  it('become actions grouped per set; an invalid registration is a failed action with the reason', () => {
    const row = (over: Partial<PartitionPlanRow>): PartitionPlanRow => ({
      step: 1,
      parent_table: 'app.m',
      action: 'create',
      partitions: ['app.m_y2026m01'],
      range_from: new Date('2026-01-01T00:00:00Z'),
      range_to: new Date('2026-02-01T00:00:00Z'),
      rows_to_move: '3',
      statements: ['CREATE TABLE x'],
      note: null,
      ...over,
    });
    const actions = partitionActions([
      row({}),
      row({
        step: 2,
        action: 'invalid',
        partitions: null,
        statements: [],
        note: 'table app.m does not exist',
      }),
    ]);
    expect(actions[0]).toMatchObject({
      kind: 'partition_create',
      target: 'app.m_y2026m01',
      group: 'partition-set:app.m',
      reason:
        'partition for [2026-01-01T00:00:00.000Z, 2026-02-01T00:00:00.000Z), 3 rows waiting in the default partition',
    });
    expect(actions[1]).toMatchObject({ kind: 'partition_invalid', problem: 'table app.m does not exist' });
  });
});

describe('maintenance config', () => {
  it('rejects storage parameter names that are not plain names', () => {
    expect(() =>
      parseConfig({ maintenance: { autovacuum: { 'dgm.t': { 'x = 1); DROP TABLE y; --': 1 } } } }),
    ).toThrow(BadInputError);
  });
});

describe('maintain on a replica', () => {
  it('skips without changing or locking anything', async () => {
    const seen: string[] = [];
    const client = {
      async query(sql: string) {
        seen.push(sql);
        if (sql.includes('pg_is_in_recovery')) return { rows: [{ r: true }] };
        if (sql.includes('dgm.constitution')) return { rows: [{ hash: 'cdd01ef066bc6cf2', score: null }] };
        throw new Error(`unexpected query on a replica: ${sql}`);
      },
    } as unknown as pg.Client;
    const result = await maintain(client, parseConfig({}), { task: 'all' });
    expect(result).toMatchObject({
      status: 'skipped',
      message: 'skipped: this server is a replica (pg_is_in_recovery)',
      actions: [],
      constitutional_compliance: { validated: true },
    });
    expect(seen).toHaveLength(2);
  });
});
