import type { RejectedCandidate } from './advice.ts';
import { candidateName } from './candidate-sql.ts';
import { PARTIAL_PREFERENCE } from './candidates.ts';
import { addUnit, addUnits, definitionOf } from './evaluation-unit.ts';
import type { PlanResult, WhatIfMethod, WhatIfSession } from './planner.ts';
import { type ChosenUnit, withinRedundant } from './redundant.ts';

/**
 * A pass after the greedy choice: a chosen index is swapped for one the greedy left out when the swap
 * plans the table's statements cheaper. The greedy takes first the index worth most over the whole
 * workload, often a general one serving several statements passably (a partial `(listed_at DESC) WHERE
 * status = 'active'` walked for a full-text search, a map search and a city-or-postcode search alike).
 * Later, specific indexes take over most of its statements (a GIN, a GiST), but the one left (the OR,
 * which an index per arm answers with a BitmapOr in a tenth of the time) is measured against the general
 * index, not against nothing, and falls short of the bar: the general index stays for one statement it
 * serves worse. A DBA would write the specific one instead. Each chosen unit whose statements some
 * left-out unit alone plans cheaper than the whole chosen set does is taken out, that unit put in, and
 * every statement on the table planned again: the swap stands when none is then planned more than
 * REDUNDANT_WITHIN costlier and the calls x plan cost plus write cost of the table's statements fall.
 */

export interface SwapUnit extends ChosenUnit {
  method: WhatIfMethod;
  /** The unit's plan cost, alone, per statement (the advisor's first evaluation). */
  costs: Map<string, { cost: number; uses: boolean }>;
}

export interface SwapInput<E extends SwapUnit> {
  chosen: E[];
  /** Units the greedy left out for adding too little over the chosen ones. */
  leftover: E[];
  session: WhatIfSession;
  statementsOn: (oid: number) => string[];
  explain: (statementId: string) => Promise<PlanResult>;
  calls: Map<string, number>;
  writeCost: (e: E) => number;
  /** Each statement's plan cost without any candidate. */
  base: Map<string, number>;
}

/** A swap must save at least this share of its statements' plan cost without an index. */
export const MIN_SWAP_SAVING = 0.01;

/** The swaps made, each also made in `chosen` (the session is reset afterwards). */
export async function swapUnits<E extends SwapUnit>(input: SwapInput<E>): Promise<Array<{ out: E; in: E }>> {
  const { chosen, session } = input;
  const tables = new Set(input.leftover.map((e) => e.candidate.table.oid));
  const suspects = chosen.filter((e) => tables.has(e.candidate.table.oid));
  if (suspects.length === 0) return [];
  const swaps: Array<{ out: E; in: E }> = [];
  const used = new Set<E>();
  try {
    const parts = await addUnits(session, chosen);
    if (!parts) return [];
    // A unit swapped in is a suspect in turn (a covering index replaced by a partial one, which an OR
    // bundle then replaces); each unit leaves at most once, so this ends.
    const queue = [...suspects];
    for (let i = 0; i < queue.length; i++) {
      const u = queue[i]!;
      const oid = u.candidate.table.oid;
      const ids = input.statementsOn(oid);
      const full = new Map<string, number>();
      const served: string[] = [];
      const names = parts.get(u)!.flatMap((p) => p.names);
      for (const id of ids) {
        const r = await input.explain(id);
        full.set(id, r.cost);
        if (r.indexes.some((n) => names.includes(n))) served.push(id);
      }
      const total = (costs: Map<string, number>) =>
        ids.reduce((sum, id) => sum + (input.calls.get(id) ?? 1) * (costs.get(id) ?? 0), 0);
      const rivals = input.leftover.filter(
        (l) =>
          !used.has(l) &&
          l.candidate.table.oid === oid &&
          served.some((id) => {
            const alone = l.costs.get(id);
            return alone?.uses === true && alone.cost < full.get(id)!;
          }),
      );
      for (const l of rivals) {
        for (const p of parts.get(u)!) await session.remove(p);
        const added = await addUnit(session, l.members);
        const after = new Map<string, number>();
        let ok = !added.error && added.names.length > 0;
        for (const id of ok ? ids : []) {
          const r = await input.explain(id);
          after.set(id, r.cost);
          const before = full.get(id)!;
          if (Number.isFinite(before) && !withinRedundant(r.cost, before)) ok = false;
        }
        // A unit partial on a constant one sample showed, put in for one that serves every value, must
        // plan the statements it takes over cheaper by the greedy's own preference for the full index.
        const narrows = l.members.some(
          (m) =>
            m.predicate &&
            !m.predicate.fixed &&
            !u.members.every((x) => x.predicate?.sql === m.predicate!.sql),
        );
        const servedCost = (costs: Map<string, number>) =>
          total(new Map(served.map((id) => [id, costs.get(id)!])));
        if (narrows && !(servedCost(after) <= PARTIAL_PREFERENCE * servedCost(full))) ok = false;
        // Nor for a saving that is nothing next to what the statements cost without an index (two index
        // probes a fraction of a page apart).
        if (servedCost(full) - servedCost(after) < MIN_SWAP_SAVING * servedCost(input.base)) ok = false;
        if (ok && total(after) + input.writeCost(l) < total(full) + input.writeCost(u)) {
          parts.set(l, added.parts);
          parts.delete(u);
          used.add(l);
          swaps.push({ out: u, in: l });
          chosen.splice(chosen.indexOf(u), 1, l);
          queue.push(l);
          break;
        }
        for (const p of added.parts) await session.remove(p);
        const again = await addUnit(session, u.members);
        if (again.error) return swaps;
        parts.set(u, again.parts);
      }
    }
    return swaps;
  } finally {
    await session.reset();
  }
}

/** A unit swapped out, as the advice reports it among the rejected candidates. */
export function swapRejection(s: { out: SwapUnit; in: SwapUnit }): RejectedCandidate {
  return {
    definition: definitionOf(s.out.members),
    table: `${s.out.candidate.table.schema}.${s.out.candidate.table.name}`,
    reason: `replaced by ${s.in.members.map(candidateName).join(' + ')}, which plans its statements cheaper`,
    evaluation: s.out.method,
  };
}
