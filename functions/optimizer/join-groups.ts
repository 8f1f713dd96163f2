import { type CandidateIndex, PARTIAL_PREFERENCE } from './candidates.ts';

/**
 * Join groups: a statement that joins tables (an EXISTS, an anti-join written as LEFT JOIN ... IS NULL,
 * an inner join) often needs an index on each side at once: the filter of the outer table, and the join
 * key of the inner one for the nested loop. Either alone leaves the other table's full scan (a hash join)
 * in the plan and cuts the cost by far less than the bar, so the one-at-a-time choice takes neither; or it
 * takes the filter index for itself and then finds the join key's further cut too small against the
 * already lowered cost. A DBA writes both.
 *
 * For each statement on two or more tables: the candidate that lowers its plan cost most on each table
 * (alone), planned together. The group is chosen when together they cut the statement's cost by the bar
 * against its cost without candidates, its plan uses every member, and every member takes at least half
 * the bar off what the others give without it (a member that adds little is left out of the group first).
 * Its net benefit (calls x cost saved against the cost with the indexes already chosen, less the write
 * cost of the members not yet chosen) must be positive. Statements by id, heaviest first.
 */

export interface GroupEvaluation {
  key: string;
  /** The first member: its table. */
  candidate: CandidateIndex;
  /** Every index of the unit (one candidate, or an OR bundle's indexes), added together. */
  members: CandidateIndex[];
  /** The statement's plan cost with this candidate alone, and whether the plan uses it. */
  costs: Map<string, { cost: number; uses: boolean }>;
}

export interface JoinGroupInput<E extends GroupEvaluation> {
  /** Planned statements: id and the oids of the tables they read. */
  statements: Array<{ id: string; tables: number[] }>;
  evaluations: readonly E[];
  /** Chosen so far (appended to by the caller with what this returns). */
  chosen: readonly E[];
  /** Plan cost without candidates, and with the chosen ones (updated here for the groups chosen). */
  base: ReadonlyMap<string, number>;
  current: Map<string, number>;
  calls: ReadonlyMap<string, number>;
  bar: number;
  writeCost(e: E): number;
  /** The what-if session (candidates added, then all taken out again) and the planner on it. */
  session: {
    add(c: CandidateIndex): Promise<{ names: string[] }>;
    reset(): Promise<void>;
  };
  explain(statementId: string): Promise<{ cost: number; indexes: string[] }>;
}

/** The statement planned with exactly these candidates added: its cost and, per member, whether used. */
async function planWith<E extends GroupEvaluation>(
  input: JoinGroupInput<E>,
  statementId: string,
  group: readonly E[],
): Promise<{ cost: number; uses: boolean[] } | undefined> {
  const names: string[][] = [];
  try {
    for (const e of group) {
      const added: string[] = [];
      for (const m of e.members) added.push(...(await input.session.add(m)).names);
      names.push(added);
    }
    const r = await input.explain(statementId);
    if (!Number.isFinite(r.cost)) return undefined;
    return { cost: r.cost, uses: names.map((n) => r.indexes.some((x) => n.includes(x))) };
  } finally {
    await input.session.reset();
  }
}

export interface ChosenGroup<E> {
  statement: string;
  members: E[];
  cost: number;
}

/** The groups chosen, in order; their members not chosen before are the caller's to add. */
export async function chooseJoinGroups<E extends GroupEvaluation>(
  input: JoinGroupInput<E>,
): Promise<Array<ChosenGroup<E>>> {
  const { base, current, calls, bar } = input;
  const chosen = new Set<E>(input.chosen);
  const out: Array<ChosenGroup<E>> = [];
  const weight = (id: string) => (calls.get(id) ?? 1) * (current.get(id) ?? 0);
  const multi = input.statements
    .filter((s) => new Set(s.tables).size >= 2 && Number.isFinite(base.get(s.id)))
    .sort((a, b) => weight(b.id) - weight(a.id) || a.id.localeCompare(b.id));
  for (const s of multi) {
    const before = base.get(s.id)!;
    // The best candidate alone per table, among those the statement's plan uses and that lower its cost.
    const best = new Map<number, E>();
    for (const e of input.evaluations) {
      const r = e.costs.get(s.id);
      if (!r?.uses || !(r.cost < before)) continue;
      const oid = e.candidate.table.oid;
      // A partial index on a sampled constant serves only that constant: ranked as the greedy choice does.
      const saving = (x: E) =>
        (before - x.costs.get(s.id)!.cost) *
        (x.candidate.predicate && !x.candidate.predicate.fixed ? PARTIAL_PREFERENCE : 1);
      const prior = best.get(oid);
      if (!prior || saving(e) > saving(prior)) best.set(oid, e);
    }
    let group = [...best.values()].sort(
      (a, b) => b.costs.get(s.id)!.cost - a.costs.get(s.id)!.cost || a.key.localeCompare(b.key),
    );
    if (group.length < 2) continue;
    let planned = await planWith(input, s.id, group);
    if (!planned) continue;
    // Leave out, weakest first, a member without which the others cost less than 1 / (1 - bar / 2) more.
    for (const m of [...group]) {
      if (group.length < 2) break;
      const rest = group.filter((x) => x !== m);
      const without =
        rest.length === 1 ? { cost: rest[0]!.costs.get(s.id)!.cost } : await planWith(input, s.id, rest);
      if (without && planned.cost >= without.cost * (1 - bar / 2)) {
        group = rest;
        planned = rest.length === 1 ? undefined : await planWith(input, s.id, rest);
        if (!planned) break;
      }
    }
    if (!planned || group.length < 2) continue;
    if (!planned.uses.every(Boolean) || planned.cost > before * (1 - bar) + 1e-9) continue;
    const fresh = group.filter((e) => !chosen.has(e));
    if (fresh.length === 0) continue;
    const now = current.get(s.id) ?? before;
    const gain = (calls.get(s.id) ?? 1) * (now - planned.cost);
    const writes = fresh.reduce((sum, e) => sum + input.writeCost(e), 0);
    if (!(gain - writes > 0)) continue;
    for (const e of fresh) {
      chosen.add(e);
      // What each new member gives the other statements alone, as the greedy choice counts it.
      for (const [id, r] of e.costs)
        if (r.uses && r.cost < (current.get(id) ?? r.cost)) current.set(id, r.cost);
    }
    current.set(s.id, Math.min(now, planned.cost));
    out.push({ statement: s.id, members: fresh, cost: planned.cost });
  }
  return out;
}
