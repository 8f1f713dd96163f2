import type { RejectedCandidate } from './advice.ts';
import type { CandidateIndex } from './candidates.ts';
import { addUnit, addUnits, definitionOf } from './evaluation-unit.ts';
import type { PlanResult, WhatIfMethod, WhatIfSession } from './planner.ts';

/**
 * The last pass over the advisor's choice: an index that the other chosen indexes make redundant is
 * dropped. The greedy choice adds one index at a time, each needed when it was chosen; a later one can
 * serve an earlier one's statements as well (a partial `(a, b) WHERE c IS NULL` for one statement, then
 * `(a, c, b) INCLUDE (...)` for another that also serves the first). A DBA keeps one. Only indexes that
 * share a table, an access method and a leading key with another chosen index are suspects (two indexes
 * that lead with different keys serve different lookups); each, least valuable first, is taken out of
 * the chosen set in the what-if session, and it goes when no statement on its table is then planned more
 * than REDUNDANT_WITHIN costlier than with the whole set.
 */

/** A statement may cost this much more (plan cost, share) without an index that is then dropped. */
export const REDUNDANT_WITHIN = 0.1;

/** Whether a plan cost is within REDUNDANT_WITHIN of the cost it had with the whole chosen set. */
export const withinRedundant = (cost: number, before: number): boolean =>
  cost <= before * (1 + REDUNDANT_WITHIN) + 1e-9;

/** A dropped unit, as the advice reports it among the rejected candidates. */
export function redundancyRejection(e: ChosenUnit & { method: WhatIfMethod }): RejectedCandidate {
  return {
    definition: definitionOf(e.members),
    table: `${e.candidate.table.schema}.${e.candidate.table.name}`,
    reason: `the other recommended indexes serve its statements as well (plan cost within ${REDUNDANT_WITHIN * 100}%)`,
    evaluation: e.method,
  };
}

export interface ChosenUnit {
  key: string;
  candidate: CandidateIndex;
  members: CandidateIndex[];
}

export interface RedundancyInput<E extends ChosenUnit> {
  chosen: E[];
  session: WhatIfSession;
  /** The statements that read a table (by its oid). */
  statementsOn: (oid: number) => string[];
  explain: (statementId: string) => Promise<PlanResult>;
  /** What a unit is worth (its benefit): the least valuable suspect is tried first. */
  valueOf: (e: E) => number;
}

function leadingKey(c: CandidateIndex): string {
  const first = c.columns[0];
  return JSON.stringify([c.table.oid, c.method, first?.expression ?? first?.column ?? null]);
}

/** The chosen units the others make redundant (the session is reset afterwards). */
export async function redundantUnits<E extends ChosenUnit>(input: RedundancyInput<E>): Promise<E[]> {
  const { chosen, session } = input;
  // OR bundles are kept whole: their indexes serve together.
  const single = chosen.filter((e) => e.members.length === 1);
  const suspects = single.filter((e) =>
    single.some((o) => o !== e && leadingKey(o.candidate) === leadingKey(e.candidate)),
  );
  if (suspects.length === 0) return [];
  try {
    const parts = await addUnits(session, chosen);
    if (!parts) return [];
    const ids = [...new Set(suspects.flatMap((e) => input.statementsOn(e.candidate.table.oid)))];
    const full = new Map<string, number>();
    for (const id of ids) full.set(id, (await input.explain(id)).cost);
    const dropped: E[] = [];
    const order = [...suspects].sort(
      (a, b) => input.valueOf(a) - input.valueOf(b) || a.key.localeCompare(b.key),
    );
    for (const e of order) {
      // The last of its kind stays whatever the plans say: something chose it.
      const rivals = suspects.filter(
        (o) => o !== e && !dropped.includes(o) && leadingKey(o.candidate) === leadingKey(e.candidate),
      );
      if (rivals.length === 0) continue;
      for (const p of parts.get(e)!) await session.remove(p);
      let redundant = true;
      for (const id of input.statementsOn(e.candidate.table.oid)) {
        const with_ = full.get(id);
        const r = await input.explain(id);
        if (with_ === undefined || !Number.isFinite(with_)) continue;
        if (!withinRedundant(r.cost, with_)) {
          redundant = false;
          break;
        }
      }
      if (redundant) dropped.push(e);
      else {
        const again = await addUnit(session, e.members);
        if (again.error) return dropped;
        parts.set(e, again.parts);
      }
    }
    return dropped;
  } finally {
    await session.reset();
  }
}
