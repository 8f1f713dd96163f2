import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { OptimizationConfig } from '../config.ts';
import { quoteQualified } from '../db/identifiers.ts';
import type { IndexRecommendation } from './advisor.ts';
import {
  columnStatisticsSql,
  createIndexSql,
  raisedStatisticsColumns,
  statisticsSql,
} from './candidate-sql.ts';
import type { CandidateIndex } from './candidates.ts';
import type { TableInfo } from './catalog.ts';
import type { Workload } from './workload.ts';

/**
 * Automatic index creation, the plan (pure): CREATE INDEX CONCURRENTLY steps under caps per run, per
 * table and on total size, skipping write-heavy tables. On a partitioned table the index is created ON
 * ONLY each partitioned level, built concurrently on every leaf, and the leaves attached upwards, so no
 * partition is ever locked against writes for the build. Executed by apply.ts.
 */

export interface PartitionNode {
  schema: string;
  name: string;
  /** Quoted qualified name of the parent ("schema"."name"; undefined at the root). */
  parent?: string;
  isLeaf: boolean;
  level: number;
}

export interface BuildStatement {
  sql: string;
  /** create: plain CREATE INDEX (ON ONLY) · create_concurrently · attach · statistics (ALTER INDEX ... SET STATISTICS) */
  kind: 'create' | 'create_concurrently' | 'attach' | 'statistics';
  /** The index this statement creates or attaches ("schema"."name"). */
  index: string;
  /**
   * For a column's statistics target (ALTER TABLE): the column. The registry records it, so dropping the
   * index puts the target back (apply.ts dropAutoIndex).
   */
  column?: string;
  /** For attach: the partitioned index it attaches to. */
  into?: string;
}

export interface IndexBuildStep {
  name: string;
  schema: string;
  table: string;
  tableName: string;
  partitioned: boolean;
  definition: string;
  estimatedBytes: number;
  statements: BuildStatement[];
  recommendation: IndexRecommendation;
}

export interface IndexBuildPlan {
  steps: IndexBuildStep[];
  skipped: Array<{ name: string; table: string; reason: string }>;
}

/** Statement calls that read and that write a table, in the workload (pg_stat_statements). */
export interface TableWorkloadMix {
  readCalls: number;
  writeCalls: number;
  /**
   * Calls of each UPDATE, DELETE or MERGE (by statement id) that writes the table: it finds its rows
   * first, so an index that makes its plan cheaper serves a read.
   */
  findingWrites?: Map<string, number>;
}

/** Statement calls reading and writing each table, from the workload. */
export function workloadMix(workload: Workload): Map<number, TableWorkloadMix> {
  const mix = new Map<number, TableWorkloadMix>();
  for (const s of workload.statements) {
    const r = s.resolved;
    if (!r) continue;
    for (const t of r.tables) {
      const m = mix.get(t.oid) ?? { readCalls: 0, writeCalls: 0, findingWrites: new Map<string, number>() };
      if (r.writes?.oid === t.oid) {
        m.writeCalls += s.calls;
        if (r.operation !== 'insert') m.findingWrites?.set(s.id, s.calls);
      } else m.readCalls += s.calls;
      mix.set(t.oid, m);
    }
  }
  return mix;
}

/** A size estimate where the evaluation gave none: entries of key width plus tuple overhead. */
export function estimateIndexBytes(c: CandidateIndex): number {
  const widths = c.columns.map((x) => c.table.columns.find((k) => k.name === x.column)?.avgWidth ?? 16);
  const entry = 16 + widths.reduce((s, w) => s + w, 0);
  const share = c.predicate ? 0.2 : 1;
  return Math.ceil(Math.max(c.table.reltuples, 1) * share * entry * 1.3) + 8192;
}

/** The name of a partition's index: derived from the root index and the partition, at most 63 bytes. */
export function partitionIndexName(rootIndex: string, partition: string): string {
  const hash = createHash('sha256').update(`${rootIndex}|${partition}`).digest('hex').slice(0, 8);
  let head = `${partition}_dgm_auto`;
  while (Buffer.byteLength(head) > 63 - 9) head = head.slice(0, -1);
  return `${head}_${hash}`;
}

/** The statements that build one candidate (pure). */
export function buildStatements(
  c: CandidateIndex,
  name: string,
  tree: PartitionNode[] | undefined,
): BuildStatement[] {
  const root = quoteQualified(c.table.schema, name);
  const statistics = (index: string): BuildStatement[] =>
    statisticsSql(c, index).map((sql) => ({ sql, kind: 'statistics', index }));
  // On a partitioned table ALTER TABLE recurses to the partitions: once, after the index is complete.
  const raised = raisedStatisticsColumns(c);
  const columnStatistics: BuildStatement[] = columnStatisticsSql(c).map((sql, i) => ({
    sql,
    kind: 'statistics',
    index: root,
    column: raised[i]!,
  }));
  if (c.table.relkind !== 'p') {
    return [
      {
        sql: createIndexSql(c, { name, concurrently: true, ifNotExists: true }),
        kind: 'create_concurrently',
        index: root,
      },
      ...statistics(root),
      ...columnStatistics,
    ];
  }
  const nodes = (tree ?? []).filter((n) => n.level > 0);
  const indexOf = new Map<string, string>();
  indexOf.set(quoteQualified(c.table.schema, c.table.name), root);
  for (const n of nodes) {
    indexOf.set(quoteQualified(n.schema, n.name), quoteQualified(n.schema, partitionIndexName(name, n.name)));
  }
  const creates: BuildStatement[] = [
    { sql: createIndexSql(c, { name, only: true, ifNotExists: true }), kind: 'create', index: root },
  ];
  for (const n of nodes.filter((x) => !x.isLeaf).sort((a, b) => a.level - b.level)) {
    creates.push({
      sql: createIndexSql(c, {
        name: partitionIndexName(name, n.name),
        only: true,
        ifNotExists: true,
        on: { schema: n.schema, name: n.name },
      }),
      kind: 'create',
      index: indexOf.get(quoteQualified(n.schema, n.name))!,
    });
  }
  const builds: BuildStatement[] = nodes
    .filter((n) => n.isLeaf)
    .map((n) => ({
      sql: createIndexSql(c, {
        name: partitionIndexName(name, n.name),
        concurrently: true,
        ifNotExists: true,
        on: { schema: n.schema, name: n.name },
      }),
      kind: 'create_concurrently' as const,
      index: indexOf.get(quoteQualified(n.schema, n.name))!,
    }));
  // Attach bottom-up: a partitioned index becomes valid once all of its partitions' indexes are attached.
  const attaches: BuildStatement[] = [...nodes]
    .sort((a, b) => b.level - a.level)
    .map((n) => {
      const child = indexOf.get(quoteQualified(n.schema, n.name))!;
      const parent = indexOf.get(n.parent!)!;
      return {
        sql: `ALTER INDEX ${parent} ATTACH PARTITION ${child}`,
        kind: 'attach' as const,
        index: child,
        into: parent,
      };
    });
  const leafStatistics = nodes
    .filter((n) => n.isLeaf)
    .flatMap((n) => statistics(indexOf.get(quoteQualified(n.schema, n.name))!));
  return [...creates, ...builds, ...attaches, ...leafStatistics, ...columnStatistics];
}

export interface PlanInputs {
  recommendations: IndexRecommendation[];
  config: OptimizationConfig;
  /** Live auto-created indexes per table oid. */
  existingPerTable: Map<number, number>;
  /** Reads and writes per table oid, from the workload's statement calls. */
  mix: Map<number, TableWorkloadMix>;
  trees: Map<number, PartitionNode[]>;
}

/** Which recommendations to build this run, within the caps (pure). */
export function planIndexBuilds(inputs: PlanInputs): IndexBuildPlan {
  const { config } = inputs;
  const steps: IndexBuildStep[] = [];
  const skipped: IndexBuildPlan['skipped'] = [];
  const perTable = new Map(inputs.existingPerTable);
  let bytes = 0;
  const ordered = [...inputs.recommendations].sort(
    (a, b) => b.weightedCostBefore - b.weightedCostAfter - (a.weightedCostBefore - a.weightedCostAfter),
  );
  const done = new Set<IndexRecommendation>();
  for (const first of ordered) {
    if (done.has(first)) continue;
    // An OR bundle's indexes serve their statements only together: all of them, or none.
    const unit = first.group ? ordered.filter((x) => x.group === first.group) : [first];
    for (const r of unit) done.add(r);
    const t = first.candidate.table;
    const skip = (reason: string) => {
      for (const r of unit) {
        skipped.push({
          name: r.name,
          table: r.table,
          reason:
            unit.length > 1
              ? `${reason} (built only with the ${unit.length - 1} other index(es) of its OR bundle)`
              : reason,
        });
      }
    };
    // Every index costs every write: a table written more often than it is read gets none automatically.
    // An UPDATE or DELETE the unit makes cheaper is a read it serves (a `DELETE ... USING` join's probe of
    // the table it deletes from), not only a write it costs.
    const mix = inputs.mix.get(t.oid);
    const servedWrites = unit
      .flatMap((r) => r.statements)
      .filter((x, i, all) => x.costAfter < x.costBefore && all.findIndex((y) => y.id === x.id) === i)
      .reduce((sum, x) => sum + (mix?.findingWrites?.get(x.id) ?? 0), 0);
    const reads = (mix?.readCalls ?? 0) + servedWrites;
    if (mix && mix.writeCalls > config.writeHeavyRatio * reads) {
      skip(
        `write-heavy table: ${Math.round(mix.writeCalls)} write calls against ${Math.round(reads)} reads (writeHeavyRatio ${config.writeHeavyRatio})`,
      );
      continue;
    }
    if (steps.length + unit.length > config.maxIndexesPerRun) {
      skip(`maxIndexesPerRun (${config.maxIndexesPerRun}) reached`);
      continue;
    }
    if ((perTable.get(t.oid) ?? 0) + unit.length > config.maxIndexesPerTable) {
      skip(`maxIndexesPerTable (${config.maxIndexesPerTable}) reached on ${first.table}`);
      continue;
    }
    const estimates = unit.map((r) => r.estimatedBytes ?? estimateIndexBytes(r.candidate));
    const estimate = estimates.reduce((sum, x) => sum + x, 0);
    if (bytes + estimate > config.maxIndexBytesPerRun) {
      skip(
        `maxIndexBytesPerRun (${config.maxIndexBytesPerRun}) would be exceeded (${estimate} bytes estimated)`,
      );
      continue;
    }
    if (t.relkind === 'p' && !inputs.trees.get(t.oid)) {
      skip('partition tree unknown');
      continue;
    }
    bytes += estimate;
    perTable.set(t.oid, (perTable.get(t.oid) ?? 0) + unit.length);
    for (const [i, r] of unit.entries()) {
      steps.push({
        name: r.name,
        schema: t.schema,
        table: r.table,
        tableName: t.name,
        partitioned: t.relkind === 'p',
        definition: r.definition,
        estimatedBytes: estimates[i]!,
        statements: buildStatements(r.candidate, r.name, inputs.trees.get(t.oid)),
        recommendation: r,
      });
    }
  }
  return { steps, skipped };
}

/** The partition tree of one table (level 0 is the table itself); empty when the table is gone. */
export async function readPartitionTree(client: pg.Client, table: string | number): Promise<PartitionNode[]> {
  const { rows } = await client.query<{
    schema: string;
    name: string;
    parent_schema: string | null;
    parent_name: string | null;
    isleaf: boolean;
    level: number;
  }>(
    `SELECT n.nspname::text AS schema, c.relname::text AS name,
            pn.nspname::text AS parent_schema, pc.relname::text AS parent_name, t.isleaf, t.level
     FROM pg_partition_tree(${typeof table === 'number' ? '$1::oid' : 'to_regclass($1)'}) t
     JOIN pg_class c ON c.oid = t.relid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_class pc ON pc.oid = t.parentrelid LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
     ORDER BY t.level, c.relname`,
    [table],
  );
  return rows.map((r) => ({
    schema: r.schema,
    name: r.name,
    parent: r.parent_name === null ? undefined : quoteQualified(r.parent_schema!, r.parent_name),
    isLeaf: r.isleaf,
    level: r.level,
  }));
}

/** Reads the partition trees of partitioned tables (level 0 is the root). */
export async function readPartitionTrees(
  client: pg.Client,
  tables: TableInfo[],
): Promise<Map<number, PartitionNode[]>> {
  const out = new Map<number, PartitionNode[]>();
  for (const t of tables.filter((x) => x.relkind === 'p'))
    out.set(t.oid, await readPartitionTree(client, t.oid));
  return out;
}
