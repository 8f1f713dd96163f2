import type pg from 'pg';
import type { OptimizationConfig } from '../../functions/config.ts';
import { type IndexRecommendation, indexRecommendation } from '../../functions/optimizer/advice.ts';
import {
  type IndexBuildPlan,
  planIndexBuilds,
  readPartitionTrees,
} from '../../functions/optimizer/build-plan.ts';
import { candidateName, createIndexSql } from '../../functions/optimizer/candidate-sql.ts';
import type { CandidateIndex } from '../../functions/optimizer/candidates.ts';
import type { ColumnInfo, TableActivity } from '../../functions/optimizer/catalog.ts';
import type { WhatIfOptions } from '../../functions/optimizer/planner.ts';
import type { WorkloadStatement } from '../../functions/optimizer/workload.ts';

/** A what-if session as the advisor opens one, without its size limit: HypoPG where usable, else real builds. */
export const WHAT_IF_OPTIONS: WhatIfOptions = {
  hypopg: 'auto',
  realBuildMaxBytes: 1 << 30,
  createExtension: true,
  statementTimeoutMs: 60_000,
  lockTimeoutMs: 2_000,
};

/** A nullable column with planner statistics (nDistinct as pg_stats gives it), for the unit fixtures. */
export function columnOf(name: string, type: string, typeCategory: string, nDistinct: number): ColumnInfo {
  return { name, type, typeCategory, notNull: false, nDistinct, nullFrac: 0, avgWidth: 8, correlation: null };
}

/** A table's activity counters with nothing counted yet (the unit fixtures of the optimizer). */
export function noActivity(): TableActivity {
  return {
    seq_scan: 0,
    seq_tup_read: 0,
    idx_scan: 0,
    idx_tup_fetch: 0,
    n_tup_ins: 0,
    n_tup_upd: 0,
    n_tup_del: 0,
    n_live_tup: 0,
    n_dead_tup: 0,
  };
}

/**
 * A recommendation of one candidate for one statement, as the advisor would give it (costs nominal): for
 * tests that build and verify an index without running the advisor.
 */
export function recommendationOf(
  c: CandidateIndex,
  s: Pick<WorkloadStatement, 'id' | 'queryid' | 'name' | 'calls'>,
): IndexRecommendation {
  const name = candidateName(c);
  return {
    ...indexRecommendation(c, {
      name,
      definition: createIndexSql(c, { name }),
      reason: c.reason,
      evaluation: 'real_build',
      statements: [
        { id: s.id, queryid: s.queryid, name: s.name, calls: s.calls, costBefore: 2, costAfter: 1 },
      ],
      estimatedBytes: 1000,
    }),
    weightedCostBefore: 2,
    weightedCostAfter: 1,
    costReduction: 0.5,
  };
}

/** The build plan of one recommendation, as optimize makes it (no other auto index, no write mix). */
export async function buildPlanOf(
  client: pg.Client,
  rec: IndexRecommendation,
  config: OptimizationConfig,
): Promise<IndexBuildPlan> {
  return planIndexBuilds({
    recommendations: [rec],
    config,
    existingPerTable: new Map(),
    mix: new Map(),
    trees: await readPartitionTrees(client, [rec.candidate.table]),
  });
}
