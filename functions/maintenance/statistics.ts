import type pg from 'pg';
import { z } from 'zod';
import type { MaintenanceConfig } from '../config.ts';
import { parseQualifiedName, quoteIdent, quoteQualified } from '../db/identifiers.ts';
import { fitIdentifier, type MaintenanceAction } from './plan.ts';
import extendedSql from './sql/extended-statistics.sql';
import parentExtendedSql from './sql/parent-extended-statistics.sql';
import resolveSql from './sql/resolve-tables.sql';
import factsSql from './sql/statistics-facts.sql';
import { type MaintenanceTaskDefinition, problemAction } from './task.ts';

/**
 * Statistics (monthly, and after large changes): per-column statistics targets for high-cardinality
 * columns, extended statistics for correlated columns, and ANALYZE of the tables looked after whose
 * rows changed enough since their last analyze (on a partitioned table it samples the partitions too).
 */

export interface ColumnStatsRow {
  table_oid: string;
  schema_name: string;
  table_name: string;
  kind: string;
  reltuples: number;
  /** Last ANALYZE, manual or autovacuum's (null: never). */
  last_analyzed?: Date | null;
  /** Rows changed since (for a partitioned table, its leaves' changes; see statistics-facts.sql). */
  changes?: number;
  /** The change count at which autovacuum would analyze it (threshold + scale factor x rows). */
  analyze_threshold?: number;
  column_name: string;
  scalar: boolean;
  indexed: boolean;
  stat_target: number;
  partition_targets: number[] | null;
  n_distinct: number | null;
}

export interface ExtendedStatsRow {
  root_oid: string;
  schema_name: string;
  table_name: string;
  is_root: boolean;
  list_key: string | null;
  column_sets: string[][];
}

export interface StatisticsFacts {
  columns: ColumnStatsRow[];
  extended: ExtendedStatsRow[];
  /** Configured names resolved to table oids (undefined: no such table). */
  resolved: Map<string, string | undefined>;
}

export type StatisticsConfig = Pick<
  MaintenanceConfig,
  | 'statisticsTargets'
  | 'highCardinalityStatisticsTarget'
  | 'highCardinalityMinDistinct'
  | 'extendedStatistics'
>;

/** Splits a configured table name; unqualified names are in public, as PostgreSQL's default search_path. */
export function tableKey(text: string): { schema: string; name: string } {
  const p = parseQualifiedName(text);
  return { schema: p.schema ?? 'public', name: p.name };
}

/** The distinct values a column has, from n_distinct (negative: a fraction of the rows). */
export function distinctEstimate(nDistinct: number, rows: number): number {
  return nDistinct >= 0 ? nDistinct : -nDistinct * Math.max(rows, 0);
}

/**
 * Why a table needs ANALYZE now, or undefined when its statistics are current: never analyzed, or more
 * rows changed since its last analyze than the autovacuum analyze threshold of that table.
 */
export function analyzeReason(t: ColumnStatsRow): string | undefined {
  if (t.last_analyzed === undefined && t.changes === undefined) return 'statistics state unknown';
  if (!t.last_analyzed) return 'never analyzed';
  const changes = Math.round(t.changes ?? 0);
  const threshold = Math.round(t.analyze_threshold ?? 0);
  if (changes < threshold) return undefined;
  return `${changes} row change(s) since the last analyze (threshold ${threshold})`;
}

/** Plans the statistics task from the facts; pure. */
export function planStatistics(
  facts: StatisticsFacts,
  config: StatisticsConfig,
  options: { analyzeAll: boolean },
): { actions: MaintenanceAction[]; problems: string[]; current: string[] } {
  const actions: MaintenanceAction[] = [];
  const problems: string[] = [];
  const touched = new Set<string>();
  const byTable = new Map<string, ColumnStatsRow[]>();
  for (const c of facts.columns) byTable.set(c.table_oid, [...(byTable.get(c.table_oid) ?? []), c]);

  // Targets: the configured ones, then the automatic ones for columns still at the default.
  const wanted = new Map<string, Map<string, { target: number; why: string }>>();
  for (const [table, cols] of Object.entries(config.statisticsTargets)) {
    const oid = facts.resolved.get(table);
    if (!oid) {
      problems.push(`statisticsTargets: table ${table} does not exist`);
      continue;
    }
    for (const [column, target] of Object.entries(cols)) {
      if (!byTable.get(oid)?.some((c) => c.column_name === column)) {
        problems.push(`statisticsTargets: ${table} has no column ${column}`);
        continue;
      }
      const m = wanted.get(oid) ?? new Map();
      m.set(column, { target, why: 'configured' });
      wanted.set(oid, m);
    }
  }
  if (config.highCardinalityStatisticsTarget > 0) {
    // Columns whose estimates steer plans: those an index uses or that extended statistics pair up.
    const paired = new Set<string>();
    for (const spec of config.extendedStatistics) {
      const oid = facts.resolved.get(spec.table);
      if (oid) for (const column of spec.columns) paired.add(`${oid}\u0000${column}`);
    }
    for (const c of facts.columns) {
      if (!c.scalar || c.stat_target >= 0 || c.n_distinct === null || c.reltuples <= 0) continue;
      if (!c.indexed && !paired.has(`${c.table_oid}\u0000${c.column_name}`)) continue;
      if (wanted.get(c.table_oid)?.has(c.column_name)) continue;
      const distinct = distinctEstimate(c.n_distinct, c.reltuples);
      // Near-unique columns gain nothing: the planner already knows each value is rare.
      if (distinct < config.highCardinalityMinDistinct || distinct / c.reltuples > 0.5) continue;
      const m = wanted.get(c.table_oid) ?? new Map();
      m.set(c.column_name, {
        target: config.highCardinalityStatisticsTarget,
        why: `about ${Math.round(distinct)} distinct values`,
      });
      wanted.set(c.table_oid, m);
    }
  }
  for (const [oid, cols] of wanted) {
    const rows = byTable.get(oid) ?? [];
    const first = rows[0];
    if (!first) continue;
    const table = quoteQualified(first.schema_name, first.table_name);
    for (const [column, { target, why }] of cols) {
      const row = rows.find((r) => r.column_name === column)!;
      const partitionsDiffer = (row.partition_targets ?? []).some((t) => t !== target);
      if (row.stat_target === target && !partitionsDiffer) continue;
      actions.push({
        task: 'statistics',
        kind: 'set_statistics_target',
        target: `${table}.${quoteIdent(column)}`,
        reason: `statistics target ${target} (${why})`,
        // On a partitioned table this recurses to every partition.
        statements: [
          `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(column)} SET STATISTICS ${Math.trunc(target)}`,
        ],
        mode: 'transaction',
      });
      touched.add(oid);
    }
  }

  for (const spec of config.extendedStatistics) {
    const oid = facts.resolved.get(spec.table);
    if (!oid) {
      problems.push(`extendedStatistics: table ${spec.table} does not exist`);
      continue;
    }
    const columns = byTable.get(oid) ?? [];
    const missing = spec.columns.filter((c) => !columns.some((r) => r.column_name === c));
    if (missing.length > 0) {
      problems.push(`extendedStatistics: ${spec.table} has no column ${missing.join(', ')}`);
      continue;
    }
    const sorted = [...spec.columns].sort();
    // The table and its leaf partitions (queries pruned to a partition use its statistics), except
    // leaves LIST-partitioned by one of the columns, where it is a constant.
    for (const rel of facts.extended.filter((e) => e.root_oid === oid)) {
      if (rel.list_key !== null && spec.columns.includes(rel.list_key)) continue;
      if (rel.column_sets.some((set) => set.length === sorted.length && set.every((c, i) => c === sorted[i])))
        continue;
      const name = fitIdentifier(`${rel.table_name}_${spec.columns.join('_')}`, '_stx');
      actions.push({
        task: 'statistics',
        kind: 'create_statistics',
        target: quoteQualified(rel.schema_name, rel.table_name),
        reason: `extended statistics (${spec.kinds.join(', ')}) on correlated columns ${spec.columns.join(', ')}`,
        statements: [
          `CREATE STATISTICS IF NOT EXISTS ${quoteQualified(rel.schema_name, name)} (${spec.kinds.join(', ')}) ON ${spec.columns
            .map(quoteIdent)
            .join(', ')} FROM ${quoteQualified(rel.schema_name, rel.table_name)}`,
        ],
        mode: 'transaction',
      });
      touched.add(oid);
    }
  }

  // ANALYZE what changed settings, and what changed enough since its last analyze (or never had one):
  // re-analyzing current statistics costs a full sample of every table on each run.
  const current: string[] = [];
  const tables = new Map<string, ColumnStatsRow>();
  for (const c of facts.columns) if (!tables.has(c.table_oid)) tables.set(c.table_oid, c);
  for (const [oid, t] of tables) {
    const table = quoteQualified(t.schema_name, t.table_name);
    const reason = touched.has(oid)
      ? 'statistics settings changed'
      : options.analyzeAll
        ? 'full analysis asked for'
        : analyzeReason(t);
    if (reason === undefined) {
      current.push(table);
      continue;
    }
    actions.push({
      task: 'statistics',
      kind: 'analyze',
      target: table,
      reason,
      statements: [`ANALYZE ${table}`],
      mode: 'transaction',
    });
  }
  return { actions, problems, current };
}

/** Resolves configured table names to oids (undefined where the table does not exist or the name is bad). */
export async function resolveTables(
  client: pg.Client,
  names: string[],
): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  const parsed: Array<{ text: string; schema: string; name: string }> = [];
  for (const text of new Set(names)) {
    try {
      parsed.push({ text, ...tableKey(text) });
    } catch {
      out.set(text, undefined);
    }
  }
  const { rows } = await client.query<{ ord: number; oid: string | null }>(resolveSql, [
    parsed.map((p) => p.schema),
    parsed.map((p) => p.name),
  ]);
  for (const r of rows) out.set(parsed[r.ord - 1]!.text, r.oid ?? undefined);
  return out;
}

/** Reads the facts of the statistics task. */
export async function collectStatisticsFacts(
  client: pg.Client,
  schemas: string[],
  config: StatisticsConfig,
  extraTables: string[],
): Promise<StatisticsFacts> {
  const resolved = await resolveTables(client, [
    ...Object.keys(config.statisticsTargets),
    ...config.extendedStatistics.map((e) => e.table),
    ...extraTables,
  ]);
  const oids = [...new Set([...resolved.values()].filter((o): o is string => o !== undefined))];
  const { rows: columns } = await client.query<ColumnStatsRow>(factsSql, [schemas, oids]);
  const extendedRoots = [
    ...new Set(
      config.extendedStatistics.map((e) => resolved.get(e.table)).filter((o): o is string => o !== undefined),
    ),
  ];
  const { rows: extended } = await client.query<ExtendedStatsRow>(extendedSql, [extendedRoots]);
  return { columns, extended, resolved };
}

type ExtendedStatisticsSpec = StatisticsConfig['extendedStatistics'][number];
type ExtendedKind = ExtendedStatisticsSpec['kinds'][number];
// pg_statistic_ext.stxkind: d ndistinct, f functional dependencies, m most common values, e expressions.
const KIND_OF: Record<string, ExtendedKind> = { d: 'ndistinct', f: 'dependencies', m: 'mcv' };

/**
 * The extended statistics to maintain: the configured ones, then those defined on the partitioned
 * tables looked after (schemas or partition sets), which go on their leaves too - a leaf partition's own
 * queries use its own statistics. A configured entry for the same table and columns wins.
 */
export async function extendedStatisticsSpecs(
  client: pg.Client,
  schemas: string[],
  partitionSets: string[],
  configured: ExtendedStatisticsSpec[],
): Promise<ExtendedStatisticsSpec[]> {
  const { rows } = await client.query<{ table_name: string; columns: string[]; kinds: string[] }>(
    parentExtendedSql,
    [schemas, partitionSets],
  );
  const keyOf = (table: string, columns: string[]) => {
    const t = tableKey(table);
    return JSON.stringify([t.schema, t.name, [...columns].sort()]);
  };
  const seen = new Set<string>();
  for (const c of configured) {
    try {
      seen.add(keyOf(c.table, c.columns));
    } catch {
      // A malformed configured name is reported by the planner.
    }
  }
  const out = [...configured];
  for (const r of rows) {
    const kinds = r.kinds.map((k) => KIND_OF[k]).filter((k): k is ExtendedKind => k !== undefined);
    const key = keyOf(r.table_name, r.columns);
    if (kinds.length === 0 || seen.has(key)) continue;
    seen.add(key);
    out.push({ table: r.table_name, columns: r.columns, kinds });
  }
  return out;
}

/** The statistics task's part of the maintenance config. */
export const STATISTICS_CONFIG = {
  /** Per-column statistics targets: { "<table>": { "<column>": 1000 } }. */
  statisticsTargets: z
    .record(z.string(), z.record(z.string(), z.number().int().min(-1).max(10_000)))
    .default({}),
  /**
   * Statistics target given to high-cardinality, non-unique columns still at the default that an index
   * uses or extended statistics pair up (0: off).
   */
  highCardinalityStatisticsTarget: z.number().int().min(0).max(10_000).default(500),
  highCardinalityMinDistinct: z.number().int().positive().default(10_000),
  /**
   * Extended statistics for correlated columns (CREATE STATISTICS), on the table and its leaf
   * partitions; besides these, extended statistics defined on a partitioned table looked after go on
   * its leaves.
   */
  extendedStatistics: z
    .array(
      z
        .object({
          table: z.string().min(1),
          columns: z.array(z.string().min(1)).min(2).max(8),
          kinds: z
            .array(z.enum(['ndistinct', 'dependencies', 'mcv']))
            .min(1)
            .default(['ndistinct', 'dependencies', 'mcv']),
        })
        .strict(),
    )
    .default([]),
};

export interface StatisticsFindings {
  /** Tables whose statistics are current (changed less than their analyze threshold): not analyzed. */
  tablesCurrent: number;
}

/**
 * Monthly: statistics targets, extended statistics, and ANALYZE of the tables looked after (the
 * configured schemas and every enabled partition set) whose rows changed enough since their last analyze.
 */
export const statisticsTask: MaintenanceTaskDefinition<
  'statistics',
  typeof STATISTICS_CONFIG,
  StatisticsFindings
> = {
  name: 'statistics',
  description: 'statistics targets, extended statistics, ANALYZE of tables that changed enough',
  schedule: { kind: 'monthly', expression: 'cron(0 4 1 * ? *)' },
  config: STATISTICS_CONFIG,
  async plan({ client, settings }) {
    const { rows: sets } = await client.query<{ parent_table: string }>(
      'SELECT parent_table FROM dgm.partition_config WHERE enabled',
    );
    const parents = sets.map((s) => s.parent_table);
    const effective = {
      ...settings,
      extendedStatistics: await extendedStatisticsSpecs(
        client,
        settings.schemas,
        parents,
        settings.extendedStatistics,
      ),
    };
    const facts = await collectStatisticsFacts(client, settings.schemas, effective, parents);
    const plan = planStatistics(facts, effective, { analyzeAll: false });
    return {
      actions: [...plan.problems.map((p) => problemAction('statistics', p)), ...plan.actions],
      findings: { tablesCurrent: plan.current.length },
      note: `${plan.actions.length} action(s); ${plan.current.length} table(s) not re-analyzed (fewer changes since their last analyze than their autovacuum analyze threshold)`,
    };
  },
  describeFindings: (st) => [
    `statistics: ${st.tablesCurrent} table(s) current, not re-analyzed (fewer row changes since their last analyze than their autovacuum analyze threshold)`,
  ],
};
