import { candidateName, createIndexSql } from './candidate-sql.ts';
import type { CandidateIndex } from './candidates.ts';
import type { AddedCandidate, WhatIfMethod, WhatIfSession } from './planner.ts';

/** What the advisor weighs as one: a candidate index, or an OR bundle's indexes (or-bundles.ts). */
export interface EvaluationUnit {
  key: string;
  members: CandidateIndex[];
  reason?: string;
}

/**
 * A candidate whose plan-cost estimate is known to be weak until ANALYZE has seen it: GIN (a jsonb
 * containment, a trigram pattern) and expression indexes (no statistics on the expression before).
 */
export function weakEstimate(c: CandidateIndex): boolean {
  return c.method === 'gin' || c.columns.some((x) => x.expression !== undefined);
}

/** The CREATE INDEX statements of a unit, as reported. */
export function definitionOf(members: CandidateIndex[]): string {
  return members.map((c) => createIndexSql(c, { name: candidateName(c) })).join('; ');
}

/** Adds every index of a unit to the what-if session: the plans see them together. */
export async function addUnit(
  session: WhatIfSession,
  members: CandidateIndex[],
): Promise<{
  method: WhatIfMethod;
  names: string[];
  bytes: number | null;
  error?: string;
  parts: AddedCandidate[];
  members: CandidateIndex[];
}> {
  const parts: AddedCandidate[] = [];
  for (const m of members) {
    const added = await session.add(m);
    parts.push(added);
    if (added.error || added.names.length === 0) break;
  }
  const failed = parts.find((p) => p.error || p.names.length === 0);
  const bytes = parts.every((p) => p.bytes !== null) ? parts.reduce((sum, p) => sum + p.bytes!, 0) : null;
  return {
    method: parts.some((p) => p.method === 'real_build') ? 'real_build' : parts[0]!.method,
    names: failed ? [] : parts.flatMap((p) => p.names),
    bytes,
    ...(failed ? { error: failed.error ?? 'no index was created' } : {}),
    parts,
    members,
  };
}

/** Adds every chosen unit to the session, each unit's parts by unit; undefined when one cannot be added. */
export async function addUnits<E extends { members: CandidateIndex[] }>(
  session: WhatIfSession,
  units: E[],
): Promise<Map<E, AddedCandidate[]> | undefined> {
  const parts = new Map<E, AddedCandidate[]>();
  for (const e of units) {
    const added = await addUnit(session, e.members);
    if (added.error) return undefined;
    parts.set(e, added.parts);
  }
  return parts;
}
