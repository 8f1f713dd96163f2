import type pg from 'pg';
import { z } from 'zod';
import type { MaintenanceAction } from './plan.ts';
import {
  collectRollingIndexFacts,
  planRollingIndex,
  type RollingIndexSpec,
  rollingIndexSpecs,
} from './rolling-index.ts';
import type { MaintenanceTaskDefinition } from './task.ts';

/** One row of dgm.partition_maintenance_plan(): the one planner the psql API uses too. */
export interface PartitionPlanRow {
  step: number;
  parent_table: string;
  action: 'create' | 'create_subpartition' | 'drop' | 'detach' | 'analyze' | 'invalid';
  partitions: string[] | null;
  range_from: Date | null;
  range_to: Date | null;
  rows_to_move: string | number;
  statements: string[];
  note: string | null;
}

const KIND: Record<PartitionPlanRow['action'], string> = {
  create: 'partition_create',
  create_subpartition: 'partition_create_subpartition',
  drop: 'partition_drop',
  detach: 'partition_detach',
  analyze: 'analyze_parent',
  invalid: 'partition_invalid',
};

function reasonOf(row: PartitionPlanRow): string {
  const range =
    row.range_from && row.range_to ? `[${row.range_from.toISOString()}, ${row.range_to.toISOString()})` : '';
  switch (row.action) {
    case 'create':
      return (row.partitions?.length ?? 1) > 1
        ? `${row.partitions?.length} empty partitions within ${range}`
        : `partition for ${range}${Number(row.rows_to_move) > 0 ? `, ${row.rows_to_move} rows waiting in the default partition` : ''}`;
    case 'create_subpartition':
      return `${row.note ?? 'list sub-partition'}${Number(row.rows_to_move) > 0 ? `, ${row.rows_to_move} rows waiting in its default` : ''}`;
    case 'drop':
    case 'detach':
      return `${row.partitions?.length ?? 0} partition(s), ${row.note ?? 'past retention'}`;
    case 'analyze':
      return row.note ?? 'partitions changed';
    case 'invalid':
      return 'registration in dgm.partition_config';
  }
}

/** Turns the SQL planner's rows into actions; a set's later steps are skipped once one of its steps failed. */
export function partitionActions(rows: PartitionPlanRow[]): MaintenanceAction[] {
  return rows.map((row) => ({
    task: 'partitions',
    kind: KIND[row.action],
    target:
      (row.action === 'create' || row.action === 'create_subpartition') && row.partitions?.length === 1
        ? row.partitions[0]!
        : row.parent_table,
    reason: reasonOf(row),
    statements: row.statements,
    mode: 'transaction',
    group: `partition-set:${row.parent_table}`,
    ...(row.action === 'invalid' ? { problem: row.note ?? 'cannot be maintained' } : {}),
    details: {
      parent_table: row.parent_table,
      ...(row.partitions ? { partitions: row.partitions } : {}),
      ...(row.range_from ? { range_from: row.range_from.toISOString() } : {}),
      ...(row.range_to ? { range_to: row.range_to.toISOString() } : {}),
      ...(Number(row.rows_to_move) > 0 ? { rows_to_move: Number(row.rows_to_move) } : {}),
    },
  }));
}

/**
 * The partitions task's plan: premake, default-partition rescue, list sub-partitions, retention and parent
 * ANALYZE, from dgm.partition_maintenance_plan(now).
 */
export async function planPartitions(
  client: pg.Client,
  options: { now: Date },
): Promise<MaintenanceAction[]> {
  const { rows } = await client.query<PartitionPlanRow>(
    'SELECT * FROM dgm.partition_maintenance_plan(p_now => $1) ORDER BY step',
    [options.now],
  );
  return partitionActions(rows);
}

/**
 * The rolling partial indexes' plan. Planned after the partition steps ran: a partition created after
 * the "next" index exists gets its part from ATTACH, one created before must be in the plan.
 */
export async function planRollingIndexes(
  client: pg.Client,
  options: { now: Date; rollingIndexes: RollingIndexSpec[] },
): Promise<MaintenanceAction[]> {
  const actions: MaintenanceAction[] = [];
  for (const spec of options.rollingIndexes) {
    actions.push(...planRollingIndex(await collectRollingIndexFacts(client, spec, options.now)));
  }
  return actions;
}

/** The partitions task's part of the maintenance config. */
export const PARTITIONS_CONFIG = {
  /**
   * Partial indexes whose predicate is `column >= <constant>`, rolled forward to the first day of the
   * month keepMonths before the current one; added to those registered in dgm.rolling_indexes (where
   * migration 012 registers the design's "recent metrics" index), and winning for the same index.
   */
  rollingIndexes: z
    .array(z.object({ index: z.string().min(1), keepMonths: z.number().int().min(0).max(120) }).strict())
    .default([]),
};

/**
 * Daily: the partition sets registered in dgm.partition_config (the SQL planner), then the rolling
 * partial indexes, planned after the partition steps ran (a partition created before the new index
 * exists must be in its plan).
 */
export const partitionsTask: MaintenanceTaskDefinition<'partitions', typeof PARTITIONS_CONFIG> = {
  name: 'partitions',
  description:
    'premake partitions, move rows out of default partitions, retention, roll partial indexes forward',
  schedule: { kind: 'daily', expression: 'cron(15 1 * * ? *)' },
  config: PARTITIONS_CONFIG,
  async plan({ client, now, settings }) {
    return {
      actions: await planPartitions(client, { now }),
      next: async () => {
        const rolling = await planRollingIndexes(client, {
          now,
          rollingIndexes: await rollingIndexSpecs(client, settings.rollingIndexes),
        });
        return {
          actions: rolling,
          note: rolling.length > 0 ? `${rolling.length} rolling index action(s)` : '',
        };
      },
    };
  },
};
