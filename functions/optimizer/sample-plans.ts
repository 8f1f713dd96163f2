import { repairNormalizedText } from './analyze.ts';
import type { ExplainTarget, PlanResult } from './planner.ts';
import type { QueryExample, WorkloadStatement } from './workload.ts';

/**
 * A statement planned on several of its literal samples, as one plan result. pg_stat_statements shows a
 * constant as $n; a statement runs with many values (a queue of a few rows and one of thousands, a big
 * agency and a small one), and an index chosen on the plan of one sample serves that one: the ordered
 * `(queue, state, priority DESC, run_at)` and `(queue, state, run_at)` cost the same on a small queue, and
 * only the big queue tells them apart. Which sample leads depends on what the server log held (the slowest
 * logged; before any index every instance is a scan, as slow as the next): the next run, whose log holds
 * instances run with the indexes in place, led by another sample, reversed the choice (found by the
 * `jobs`, `realty` and `netsec` holdouts' second runs). Each plan is therefore the mean over up to
 * PLANNED_SAMPLES samples: the cost a DBA weighs is the statement's over the values it runs with.
 */

/** The samples a statement is planned on: the lead (heaviestFirst) and the next distinct ones. */
export const PLANNED_SAMPLES = 3;

/** How the planner is asked about a statement with one sample: its custom plan, else its generic plan. */
export function targetOf(s: WorkloadStatement, example: QueryExample | undefined): ExplainTarget {
  if (example) {
    return {
      sql: example.sql,
      params: example.params,
      maxParam: example.params?.length ? 0 : (s.analysis?.maxParam ?? 0),
    };
  }
  return { sql: repairNormalizedText(s.text), maxParam: s.analysis?.maxParam ?? 0 };
}

/** The statement's targets: its example first, then other samples of distinct text, at most PLANNED_SAMPLES. */
export function sampleTargets(s: WorkloadStatement): ExplainTarget[] {
  const first = targetOf(s, s.example);
  const out = [first];
  const seen = new Set([JSON.stringify([first.sql, first.params ?? null])]);
  for (const e of s.samples ?? []) {
    if (out.length >= PLANNED_SAMPLES) break;
    const t = targetOf(s, e);
    const id = JSON.stringify([t.sql, t.params ?? null]);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(t);
  }
  return out;
}

/**
 * One plan result from the plans of several samples: the mean cost, every index any of them uses, the
 * first plan's scans. The lead's error is the statement's; a later sample that cannot be planned is left out.
 */
export function combinePlans(plans: PlanResult[]): PlanResult {
  const lead = plans[0]!;
  if (lead.error || !Number.isFinite(lead.cost) || plans.length === 1) return lead;
  const ok = plans.filter((p) => !p.error && Number.isFinite(p.cost));
  return {
    cost: ok.reduce((sum, p) => sum + p.cost, 0) / ok.length,
    indexes: [...new Set(ok.flatMap((p) => p.indexes))],
    scans: lead.scans,
  };
}

/** Plans a statement on its samples (sampleTargets) and combines them (combinePlans). */
export async function planOnSamples(
  s: WorkloadStatement,
  explain: (t: ExplainTarget) => Promise<PlanResult>,
): Promise<PlanResult> {
  const plans: PlanResult[] = [];
  for (const t of sampleTargets(s)) plans.push(await explain(t));
  return combinePlans(plans);
}
