import type pg from 'pg';
import { errorMessage } from '../errors.ts';
import {
  type Advice,
  type AdvisorOptions,
  type IndexRecommendation,
  indexRecommendation,
  type RejectedCandidate,
  type StatementCost,
  type StatementVerdict,
} from './advice.ts';
import { repairNormalizedText } from './analyze.ts';
import { coveringIndex, mergeCandidates } from './candidate-merge.ts';
import { candidateName, createIndexSql } from './candidate-sql.ts';
import { type CandidateIndex, candidatesForAccess, PARTIAL_PREFERENCE } from './candidates.ts';
import { addUnit, definitionOf, type EvaluationUnit, weakEstimate } from './evaluation-unit.ts';
import { chooseJoinGroups } from './join-groups.ts';
import { bundlesForAccess, mergeBundles, withoutCovered } from './or-bundles.ts';
import {
  type AddedCandidate,
  type ExplainTarget,
  type PlanResult,
  type WhatIfMethod,
  withWhatIf,
} from './planner.ts';
import { redundancyRejection, redundantUnits } from './redundant.ts';
import { swapRejection, swapUnits } from './swaps.ts';
import { OPS_TABLES, type Workload, type WorkloadStatement } from './workload.ts';
import { tableWrites, writeCostOf } from './write-cost.ts';

/**
 * The index advisor: candidates from the workload's table accesses, evaluated by the planner with each
 * candidate added (HypoPG, or a real build rolled back), chosen greedily by frequency-weighted plan cost,
 * kept only when that cost falls by at least minCostReduction on the statements that use it.
 */

export type {
  Advice,
  AdvisorOptions,
  IndexRecommendation,
  RejectedCandidate,
  StatementCost,
  StatementVerdict,
  StatementVerdictKind,
} from './advice.ts';

/** How the planner is asked about a statement: its literal example if any, else its generic plan. */
export function explainTargetOf(s: WorkloadStatement): ExplainTarget {
  if (s.example) {
    return {
      sql: s.example.sql,
      params: s.example.params,
      maxParam: s.example.params?.length ? 0 : (s.analysis?.maxParam ?? 0),
    };
  }
  return { sql: repairNormalizedText(s.text), maxParam: s.analysis?.maxParam ?? 0 };
}

export { PARTIAL_PREFERENCE } from './candidates.ts';

function shortText(text: string, max = 160): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

const round = (x: number) => Math.round(x * 100) / 100;

/** Index names as plans print them, mapped to the partitioned index each belongs to (if any). */
async function rootIndexNames(client: pg.Client, names: string[]): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  const { rows } = await client.query<{ name: string; root: string }>(
    `SELECT c.relname::text AS name, r.relname::text AS root
     FROM pg_class c JOIN pg_class r ON r.oid = coalesce(pg_partition_root(c.oid), c.oid)
     WHERE c.relkind IN ('i', 'I') AND c.relname = ANY($1)`,
    [names],
  );
  return new Map(rows.map((r) => [r.name, r.root]));
}

/** Proposes indexes for the workload; read-only (every what-if change is rolled back). */
export async function adviseIndexes(
  client: pg.Client,
  workload: Workload,
  options: AdvisorOptions,
): Promise<Advice> {
  // Defensive: a statement that reads any of the tool's own tables (its compliance score joins one to an
  // application table) is the tool's, not the application's; the workload filter should already have
  // dropped it, and an index for it would serve the tool at the application's expense.
  const ownStatement = (s: WorkloadStatement) =>
    s.resolved?.tables.some((t) => t.schema === 'dgm' && OPS_TABLES.has(t.name)) ?? false;
  const plannable = workload.statements.filter(
    (s) =>
      s.resolved &&
      !s.skipped &&
      !ownStatement(s) &&
      (s.resolved.operation === 'select' ||
        s.resolved.operation === 'update' ||
        s.resolved.operation === 'delete'),
  );
  const verdicts = new Map<string, StatementVerdict>();
  for (const s of workload.statements) {
    verdicts.set(s.id, {
      id: s.id,
      queryid: s.queryid,
      name: s.name,
      query: shortText(s.example?.sql ?? s.text),
      calls: s.calls,
      meanMs: round(s.meanMs),
      costBefore: null,
      costAfter: null,
      indexesBefore: [],
      verdict: 'not_analyzed',
      detail:
        s.skipped ??
        (ownStatement(s) ? "the tool's own statement (it reads the tool's tables)" : undefined) ??
        (s.resolved?.operation === 'insert' ? 'an INSERT: indexes only cost it' : 'not a planned statement'),
    });
  }
  const rejected: RejectedCandidate[] = [];
  const raw = plannable.flatMap((s) =>
    s
      .resolved!.accesses.filter((a) => a.table.relkind !== 'v')
      .flatMap((a) => candidatesForAccess(a, s.id, { extensions: workload.catalog.extensions })),
  );
  const merged = mergeCandidates(raw);
  const candidates: CandidateIndex[] = [];
  const coveredBy = new Map<string, string>();
  for (const c of merged) {
    const cover = coveringIndex(c, c.table.indexes);
    if (cover) {
      for (const id of c.statements) coveredBy.set(id, `${cover.schema}.${cover.name}`);
      rejected.push({
        definition: createIndexSql(c, { name: candidateName(c) }),
        table: `${c.table.schema}.${c.table.name}`,
        reason: `covered by existing index ${cover.schema}.${cover.name}`,
      });
    } else {
      candidates.push(c);
    }
  }
  // OR conditions: one index per arm, weighed as one unit. An arm an existing index serves needs none;
  // a bundle left with one index is an ordinary candidate.
  const bundles: EvaluationUnit[] = [];
  const env = { extensions: workload.catalog.extensions };
  const rawBundles = plannable.flatMap((s) =>
    s
      .resolved!.accesses.filter((a) => a.table.relkind !== 'v')
      .flatMap((a) => bundlesForAccess(a, s.id, env)),
  );
  for (const b of mergeBundles(rawBundles)) {
    const left = withoutCovered(b, (m) => coveringIndex(m, m.table.indexes) !== undefined);
    if (!left) continue;
    if (left.members.length > 1) {
      bundles.push({ key: left.key, members: left.members, reason: left.reason });
      continue;
    }
    const single = left.members[0]!;
    const same = candidates.find((c) => c.key === single.key);
    if (same) for (const id of single.statements) same.statements.add(id);
    else candidates.push(single);
  }
  candidates.sort((a, b) => a.key.localeCompare(b.key));
  const units: EvaluationUnit[] = [...candidates.map((c) => ({ key: c.key, members: [c] })), ...bundles];

  return withWhatIf(
    client,
    {
      hypopg: options.hypopg,
      realBuildMaxBytes: options.realBuildMaxBytes,
      createExtension: options.createExtension,
      statementTimeoutMs: options.statementTimeoutMs,
      lockTimeoutMs: options.lockTimeoutMs,
    },
    async (session) => {
      let explains = 0;
      const explain = async (s: WorkloadStatement): Promise<PlanResult> => {
        explains++;
        return session.explain(explainTargetOf(s));
      };
      const base = new Map<string, PlanResult>();
      for (const s of plannable) {
        const r = await explain(s);
        base.set(s.id, r);
        const v = verdicts.get(s.id)!;
        if (r.error || !Number.isFinite(r.cost)) {
          v.verdict = 'not_analyzed';
          v.detail = `cannot be planned: ${r.error ?? 'no plan'}`;
        } else {
          v.costBefore = round(r.cost);
          v.costAfter = round(r.cost);
          v.indexesBefore = r.indexes;
          v.verdict = 'no_candidates';
          v.detail = 'no indexable condition, order or join key';
        }
      }
      // Plans name a partition's index; people know the partitioned index it belongs to.
      const roots = await rootIndexNames(client, [...new Set([...base.values()].flatMap((r) => r.indexes))]);
      for (const s of plannable) {
        const v = verdicts.get(s.id)!;
        v.indexesBefore = [...new Set(v.indexesBefore.map((n) => roots.get(n) ?? n))];
      }
      const ok = plannable.filter((s) => Number.isFinite(base.get(s.id)?.cost));
      const onTable = (oid: number) => ok.filter((s) => s.resolved!.tables.some((t) => t.oid === oid));
      for (const c of units.flatMap((u) => u.members)) {
        for (const id of c.statements) {
          const v = verdicts.get(id);
          if (v && v.verdict === 'no_candidates') {
            v.verdict = 'no_index_helps';
            v.detail = 'no candidate index lowers its plan cost enough';
          }
        }
      }
      for (const [id, index] of coveredBy) {
        // Candidates an existing index covers: the statement is already indexed for that access.
        const v = verdicts.get(id);
        if (v && (v.verdict === 'no_candidates' || v.verdict === 'no_index_helps')) {
          v.verdict = 'already_indexed';
          v.detail = `served by existing index ${index}`;
        }
      }

      /**
       * The planner's estimate for a jsonb containment, a trigram pattern or an expression can be far off
       * (a default 1% of the rows for `@>` without statistics on the value). For those kinds (GIN and
       * expression indexes), where the candidate is built for real, its plan uses it, the statement is a
       * SELECT with a literal sample slower than 1 ms a call, and the estimate falls short of the bar, the
       * sample is measured (EXPLAIN ANALYZE, rolled back, time-boxed, the fastest of three runs) without the candidates (kept
       * per statement) and once with this one; the measured ratio scales the base cost. Measured in the
       * same session, warm both times.
       */
      const measuredBase = new Map<string, number | null>();
      for (const s of ok) {
        const weakKinds = units.some((u) => u.members.some((c) => c.statements.has(s.id) && weakEstimate(c)));
        if (!weakKinds || !s.example || s.resolved?.operation !== 'select' || s.meanMs < 1) continue;
        const m = await session.measure(explainTargetOf(s), Math.min(5_000, 2 * s.meanMs + 100));
        measuredBase.set(s.id, m ? m.ms : null);
      }
      const measuredCost = async (
        s: WorkloadStatement,
        planned: number,
        uses: boolean,
        added: { members: CandidateIndex[]; method: WhatIfMethod; names: string[] },
      ): Promise<number> => {
        const baseCost = base.get(s.id)?.cost ?? Number.NaN;
        const weak = added.members.some(weakEstimate);
        if (
          !uses ||
          !weak ||
          added.method !== 'real_build' ||
          !Number.isFinite(baseCost) ||
          planned <= baseCost * (1 - options.minCostReduction)
        )
          return planned;
        const before = measuredBase.get(s.id) ?? null;
        if (before === null || before <= 0) return planned;
        const m = await session.measure(explainTargetOf(s), Math.min(5_000, 2 * before + 100));
        if (!m?.indexes.some((n) => added.names.includes(n))) return planned;
        const ratio = m.ms / before;
        return ratio < 1 ? Math.min(planned, baseCost * ratio) : planned;
      };

      // Each candidate alone (an OR bundle's indexes together).
      interface Evaluation {
        key: string;
        /** The first member: its table, its kind. */
        candidate: CandidateIndex;
        members: CandidateIndex[];
        method: WhatIfMethod;
        bytes: number | null;
        costs: Map<string, { cost: number; uses: boolean }>;
      }
      const evaluations: Evaluation[] = [];
      const methods = new Set<WhatIfMethod>();
      for (const u of units) {
        const added = await addUnit(session, u.members);
        methods.add(added.method);
        const definition = definitionOf(u.members);
        const c = u.members[0]!;
        if (added.error || added.names.length === 0) {
          rejected.push({
            definition,
            table: `${c.table.schema}.${c.table.name}`,
            reason: `not evaluated: ${added.error ?? 'no index was created'}`,
            evaluation: added.method,
          });
          await session.reset();
          continue;
        }
        const costs = new Map<string, { cost: number; uses: boolean }>();
        for (const s of onTable(c.table.oid)) {
          const r = await explain(s);
          if (!Number.isFinite(r.cost)) continue;
          const uses = r.indexes.some((n) => added.names.includes(n));
          costs.set(s.id, { cost: await measuredCost(s, r.cost, uses, added), uses });
        }
        await session.reset();
        evaluations.push({
          key: u.key,
          candidate: c,
          members: u.members,
          method: added.method,
          bytes: added.bytes,
          costs,
        });
        options.logger?.info(`evaluated ${definition} (${added.method})`);
      }

      // The choice, over the whole workload. A candidate's benefit is counted per statement: a statement
      // counts when its plan cost falls by at least minCostReduction against what it costs now (with the
      // candidates already chosen), and the benefit is calls x cost saved over those statements. Its write
      // cost is the index entries the table's writes would add (writeCostOf). Greedily, the candidate
      // with the largest benefit net of write cost first; one that only repeats what a chosen one already
      // gives has no counted statement left, so overlapping candidates are not both built.
      const current = new Map(ok.map((s) => [s.id, base.get(s.id)!.cost]));
      const calls = new Map(ok.map((s) => [s.id, Math.max(1, s.calls)]));
      const writes = tableWrites(workload);
      const bar = options.minCostReduction;
      const weigh = (e: Evaluation, against: Map<string, number>) => {
        let gain = 0;
        let best = 0;
        let before = 0;
        let after = 0;
        for (const [id, r] of e.costs) {
          const cur = against.get(id)!;
          if (!r.uses || !(r.cost < cur)) continue;
          const reduction = cur > 0 ? 1 - r.cost / cur : 0;
          best = Math.max(best, reduction);
          if (reduction + 1e-9 < bar) continue;
          gain += calls.get(id)! * (cur - r.cost);
          before += calls.get(id)! * cur;
          after += calls.get(id)! * r.cost;
        }
        const writeCost = e.members.reduce((sum, m) => sum + writeCostOf(m, writes.get(m.table.oid)), 0);
        return {
          gain,
          net: gain - writeCost,
          writeCost,
          best,
          reduction: before > 0 ? 1 - after / before : 0,
        };
      };
      const baseCosts = new Map(current);
      const remaining: Evaluation[] = [];
      // Candidates that help some statement but not enough alone: a join key, say, whose statement is
      // dominated by a scan of the other table until that table gets its index. They get a second look
      // on top of the chosen set.
      const secondLook: Evaluation[] = [];
      const rejectAlone = (e: Evaluation) => {
        const alone = weigh(e, baseCosts);
        const usedByAny = [...e.costs.values()].some((r) => r.uses);
        rejected.push({
          definition: definitionOf(e.members),
          table: `${e.candidate.table.schema}.${e.candidate.table.name}`,
          reason: !usedByAny
            ? 'no statement plan uses it'
            : alone.best <= 0
              ? 'no statement gets cheaper with it'
              : alone.gain <= 0
                ? `no statement's plan cost falls by ${(bar * 100).toFixed(0)}% (best ${(alone.best * 100).toFixed(1)}%)`
                : `its write cost (${Math.round(alone.writeCost)}) outweighs the plan cost it saves (${Math.round(alone.gain)})`,
          evaluation: e.method,
          costReduction: round(Math.max(0, alone.best)),
        });
      };
      for (const e of evaluations) {
        const alone = weigh(e, baseCosts);
        if (alone.gain > 0 && alone.net > 0) remaining.push(e);
        else if (alone.best > 0 && alone.gain <= 0) secondLook.push(e);
        else rejectAlone(e);
      }
      const chosen: Evaluation[] = [];
      const greedy = (pool: Evaluation[], against: Map<string, number>): Evaluation[] => {
        const left: Evaluation[] = [];
        const queue = [...pool];
        while (queue.length > 0) {
          // A partial index serves only the constant the sample showed; one sample cannot tell a fixed
          // constant from a varying one, so among candidates that serve a statement about as well, the
          // full index (which serves every value) goes first.
          const rank = (e: Evaluation) =>
            weigh(e, against).net *
            (e.candidate.predicate && !e.candidate.predicate.fixed ? PARTIAL_PREFERENCE : 1);
          queue.sort((a, b) => rank(b) - rank(a) || a.key.localeCompare(b.key));
          const best = queue.shift()!;
          const marginal = weigh(best, against);
          if (marginal.gain <= 0 || marginal.net <= 0) {
            left.push(best);
            continue;
          }
          chosen.push(best);
          for (const [id, r] of best.costs) if (r.uses && r.cost < against.get(id)!) against.set(id, r.cost);
        }
        return left;
      };
      let leftover = greedy(remaining, current);
      const unitWriteCost = (e: Evaluation) =>
        e.members.reduce((sum, m) => sum + writeCostOf(m, writes.get(m.table.oid)), 0);
      // Joins that need an index on each side at once (join-groups.ts).
      const explainById = (id: string) => explain(ok.find((s) => s.id === id)!);
      const groupInput = { evaluations, chosen, base: baseCosts, current, calls, bar, session };
      for (const g of await chooseJoinGroups({
        ...groupInput,
        statements: ok.map((s) => ({ id: s.id, tables: s.resolved!.tables.map((t) => t.oid) })),
        writeCost: unitWriteCost,
        explain: explainById,
      }))
        chosen.push(...g.members);
      const pool = [...leftover, ...secondLook].filter((e) => !chosen.includes(e));
      if (chosen.length > 0 && pool.length > 0) {
        // Second look: the chosen set in place, each leftover added on top of it and taken out again.
        for (const e of chosen) await addUnit(session, e.members);
        const affected = new Set(pool.map((e) => e.candidate.table.oid));
        const withChosen = new Map(current);
        for (const s of ok.filter((x) => x.resolved!.tables.some((t) => affected.has(t.oid)))) {
          const r = await explain(s);
          if (Number.isFinite(r.cost)) withChosen.set(s.id, Math.min(r.cost, current.get(s.id)!));
        }
        const again: Evaluation[] = [];
        for (const e of pool) {
          const added = await addUnit(session, e.members);
          if (added.error || added.names.length === 0) {
            for (const a of added.parts) await session.remove(a);
            continue;
          }
          const costs = new Map<string, { cost: number; uses: boolean }>();
          for (const s of onTable(e.candidate.table.oid)) {
            const r = await explain(s);
            if (!Number.isFinite(r.cost)) continue;
            const uses = r.indexes.some((n) => added.names.includes(n));
            costs.set(s.id, { cost: Math.min(r.cost, e.costs.get(s.id)?.cost ?? r.cost), uses });
          }
          for (const a of added.parts) await session.remove(a);
          again.push({ ...e, costs });
        }
        await session.reset();
        const before = chosen.length;
        const left = new Set(greedy(again, withChosen).map((e) => e.key));
        for (const e of chosen.slice(before)) {
          options.logger?.info(`chosen on top of the others: ${e.members.map(candidateName).join(' + ')}`);
        }
        leftover = pool.filter((e) => left.has(e.key) || !again.some((a) => a.key === e.key));
      } else {
        leftover = pool;
      }
      const statementsOn = (oid: number) => onTable(oid).map((s) => s.id);
      const swapLeft = leftover.filter((e) => !secondLook.includes(e));
      const swap = {
        session,
        statementsOn,
        explain: explainById,
        calls,
        writeCost: unitWriteCost,
        base: baseCosts,
      };
      const swapped = await swapUnits({ ...swap, chosen, leftover: swapLeft });
      leftover = leftover.filter((e) => !swapped.some((x) => x.in === e));
      rejected.push(...swapped.map(swapRejection));
      for (const e of leftover) {
        if (secondLook.includes(e)) {
          rejectAlone(e);
          continue;
        }
        const marginal = weigh(e, current);
        rejected.push({
          definition: definitionOf(e.members),
          table: `${e.candidate.table.schema}.${e.candidate.table.name}`,
          reason: `adds too little over the indexes already chosen (${
            chosen
              .filter((c) => c.candidate.table.oid === e.candidate.table.oid)
              .flatMap((c) => c.members.map(candidateName))
              .join(', ') || 'none'
          }): best statement ${(Math.max(0, marginal.best) * 100).toFixed(1)}% cheaper`,
          evaluation: e.method,
          costReduction: round(weigh(e, baseCosts).reduction),
        });
      }

      const worth = (e: Evaluation) => weigh(e, baseCosts).gain;
      const input = { chosen, session, statementsOn, explain: explainById, valueOf: worth };
      for (const e of await redundantUnits(input)) {
        chosen.splice(chosen.indexOf(e), 1);
        rejected.push(redundancyRejection(e));
      }
      // All chosen together: the final plans, and which index each statement then uses.
      const recommendations: IndexRecommendation[] = [];
      if (chosen.length > 0) {
        const names = new Map<CandidateIndex, AddedCandidate>();
        for (const e of chosen) for (const m of e.members) names.set(m, await session.add(m));
        const finals = new Map<string, PlanResult>();
        const tables = new Set(chosen.map((e) => e.candidate.table.oid));
        for (const s of ok.filter((x) => x.resolved!.tables.some((t) => tables.has(t.oid)))) {
          finals.set(s.id, await explain(s));
        }
        await session.reset();
        const byKey = new Map<string, IndexRecommendation>();
        for (const e of chosen) {
          const group =
            e.members.length > 1 ? `or:${e.members.map(candidateName).sort().join('+')}` : undefined;
          for (const c of e.members) {
            const own = names.get(c)?.names ?? [];
            // A statement is served by the index when its plan uses it and the chosen set cuts its cost by
            // the bar: a near-all-rows scan that merely switches to another statement's covering index is not.
            const users = [...finals.entries()].filter(
              ([id, r]) =>
                r.indexes.some((n) => own.includes(n)) &&
                // (or by what its measured sample showed, where the estimate is known to be weak)
                Math.min(r.cost, current.get(id) ?? r.cost) <=
                  base.get(id)!.cost * (1 - options.minCostReduction) + 1e-9,
            );
            // A weak estimate (no statistics on the expression yet: apply ANALYZEs after the build) may make
            // the plans with the whole set prefer another index: the statements it was measured to serve count.
            if (users.length === 0 && e.method === 'real_build' && weakEstimate(c))
              for (const [id, r] of e.costs)
                if (r.uses && r.cost <= base.get(id)!.cost * (1 - options.minCostReduction) && finals.has(id))
                  users.push([id, { ...finals.get(id)!, cost: r.cost }]);
            const name = candidateName(c);
            const partitioned = c.table.relkind === 'p';
            const definition = createIndexSql(c, { name, concurrently: !partitioned });
            if (users.length === 0) {
              rejected.push({
                definition,
                table: `${c.table.schema}.${c.table.name}`,
                reason: 'the plans prefer the other recommended indexes over it',
                evaluation: e.method,
              });
              continue;
            }
            const stmts: StatementCost[] = users.map(([id, r]) => {
              const s = ok.find((x) => x.id === id)!;
              return {
                id,
                queryid: s.queryid,
                name: s.name,
                calls: s.calls,
                costBefore: round(base.get(id)!.cost),
                costAfter: round(r.cost),
              };
            });
            const same = byKey.get(c.key);
            if (same) {
              // The same index chosen alone and as an OR arm: one recommendation, built with its bundle.
              for (const st of stmts)
                if (!same.statements.some((x) => x.id === st.id)) same.statements.push(st);
              same.group ??= group;
              continue;
            }
            const rec = indexRecommendation(c, {
              name,
              definition,
              reason: group
                ? `${c.reason}; with ${e.members
                    .filter((m) => m !== c)
                    .map(candidateName)
                    .join(', ')} (BitmapOr)`
                : c.reason,
              evaluation: e.method,
              statements: stmts,
              estimatedBytes: names.get(c)?.bytes ?? (e.members.length === 1 ? e.bytes : null),
              ...(group ? { group } : {}),
            });
            byKey.set(c.key, rec);
            recommendations.push(rec);
          }
        }
        for (const rec of recommendations) {
          const before = rec.statements.reduce((sum, s) => sum + Math.max(1, s.calls) * s.costBefore, 0);
          const after = rec.statements.reduce((sum, s) => sum + Math.max(1, s.calls) * s.costAfter, 0);
          rec.weightedCostBefore = round(before);
          rec.weightedCostAfter = round(after);
          rec.costReduction = before > 0 ? round(1 - after / before) : 0;
        }
        for (const [id, r] of finals) {
          const v = verdicts.get(id)!;
          const rec = recommendations.find((x) => x.statements.some((s) => s.id === id));
          if (!rec) continue;
          v.costAfter = round(r.cost);
          v.verdict = 'improved';
          v.detail = `plan cost ${v.costBefore} -> ${v.costAfter} with ${recommendations
            .filter((x) => x.statements.some((s) => s.id === id))
            .map((x) => x.name)
            .join(', ')}`;
        }
      }
      return {
        method: (methods.size === 0
          ? 'none'
          : methods.size === 2
            ? 'mixed'
            : [...methods][0]!) as Advice['method'],
        hypopgAvailable: session.hypopg,
        recommendations,
        rejected,
        statements: [...verdicts.values()],
        explains,
      };
    },
  ).catch((err: unknown) => {
    throw new Error(`index advisor failed: ${errorMessage(err)}`);
  });
}
