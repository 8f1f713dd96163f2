import type { Logger } from '../ports.ts';
import type { CandidateIndex } from './candidates.ts';
import type { WhatIfMethod } from './planner.ts';

/** What the index advisor (advisor.ts) is given and what it returns: plain data. */

export interface AdvisorOptions {
  minCostReduction: number;
  hypopg: 'auto' | 'off';
  realBuildMaxBytes: number;
  /** May create the hypopg extension inside the rolled-back evaluation transaction. */
  createExtension: boolean;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  logger?: Logger;
}

export interface StatementCost {
  id: string;
  queryid: string | null;
  name?: string;
  calls: number;
  costBefore: number;
  costAfter: number;
}

export interface IndexRecommendation {
  kind: 'index';
  name: string;
  table: string;
  schema: string;
  tableName: string;
  method: CandidateIndex['method'];
  partitioned: boolean;
  /** The statement that creates it (on a partitioned table: per partition, then attached). */
  definition: string;
  reason: string;
  /** How its effect was evaluated: HypoPG, or built for real in a transaction that was rolled back. */
  evaluation: WhatIfMethod;
  statements: StatementCost[];
  weightedCostBefore: number;
  weightedCostAfter: number;
  /** 1 - after/before over the statements that use it. */
  costReduction: number;
  estimatedBytes: number | null;
  candidate: CandidateIndex;
  /**
   * Set on the indexes of an OR bundle (or-bundles.ts): the plans use them together, so they are built
   * together or not at all.
   */
  group?: string;
}

/** A candidate's recommendation (pure): its names from the candidate, its costs weighed once its statements are known. */
export function indexRecommendation(
  c: CandidateIndex,
  o: Pick<
    IndexRecommendation,
    'name' | 'definition' | 'reason' | 'evaluation' | 'statements' | 'estimatedBytes' | 'group'
  >,
): IndexRecommendation {
  return {
    kind: 'index',
    name: o.name,
    table: `${c.table.schema}.${c.table.name}`,
    schema: c.table.schema,
    tableName: c.table.name,
    method: c.method,
    partitioned: c.table.relkind === 'p',
    definition: o.definition,
    reason: o.reason,
    evaluation: o.evaluation,
    statements: o.statements,
    weightedCostBefore: 0,
    weightedCostAfter: 0,
    costReduction: 0,
    estimatedBytes: o.estimatedBytes,
    candidate: c,
    ...(o.group ? { group: o.group } : {}),
  };
}

export interface RejectedCandidate {
  definition: string;
  table: string;
  reason: string;
  evaluation?: WhatIfMethod;
  costReduction?: number;
}

export type StatementVerdictKind =
  | 'improved'
  | 'no_index_helps'
  | 'already_indexed'
  | 'not_analyzed'
  | 'no_candidates';

export interface StatementVerdict {
  id: string;
  queryid: string | null;
  name?: string;
  query: string;
  calls: number;
  meanMs: number;
  costBefore: number | null;
  costAfter: number | null;
  indexesBefore: string[];
  verdict: StatementVerdictKind;
  detail: string;
}

export interface Advice {
  /** Which evaluation methods were used: one, both (mixed), or none (nothing to evaluate). */
  method: WhatIfMethod | 'mixed' | 'none';
  hypopgAvailable: boolean;
  recommendations: IndexRecommendation[];
  rejected: RejectedCandidate[];
  statements: StatementVerdict[];
  explains: number;
}
