import type pg from 'pg';
import { explainTargetOf } from './advisor.ts';
import type { IndexBuildPlan } from './build-plan.ts';
import {
  type ExecutableInstance,
  executableInstance,
  type LatencyMeasurement,
  measureLatency,
} from './measure.ts';
import { withExplainer } from './planner.ts';
import type { WorkloadStatement } from './workload.ts';

/**
 * Statements a build was not made for. A new index can change the plan of another statement on its
 * table, and the planner's estimate can be wrong in the new plan's favour: the classic case is an
 * `ORDER BY x LIMIT n` with a filter the planner thinks common, walked along a new index on x while the
 * matching rows sit at the far end. The verification (verify.ts) measures the workload's costliest other
 * reads of the plan's tables before the builds and after them; a statement then measured much slower, in
 * time and in buffers, whose plan uses a new index, counts against that index: when its calls x the time
 * it lost exceed the calls x time the index saved its own statements, the index is dropped.
 */

/** At most this many other statements are measured (the costliest by total time). */
export const BYSTANDERS = 5;
/** A statement counts as slowed when it takes this many times its time (and buffers) before. */
export const SLOWDOWN = 1.5;
/** ... and at least this much longer per call. */
export const SLOWDOWN_MIN_MS = 1;

export interface Bystander {
  statement: WorkloadStatement;
  instance: ExecutableInstance;
  before: LatencyMeasurement;
}

/** Measures, before any build, the costliest reads of the plan's tables that no step was made for. */
export async function measureBystanders(
  client: pg.Client,
  plan: IndexBuildPlan,
  statements: Iterable<WorkloadStatement>,
  runs: number,
  statementTimeoutMs: number,
): Promise<Bystander[]> {
  const targeted = new Set(plan.steps.flatMap((s) => s.recommendation.statements.map((x) => x.id)));
  const tables = new Set(plan.steps.map((s) => s.recommendation.table));
  const others = [...statements]
    .filter(
      (s) =>
        !targeted.has(s.id) &&
        s.resolved?.operation === 'select' &&
        s.resolved.tables.some((t) => tables.has(`${t.schema}.${t.name}`)),
    )
    .sort((a, b) => b.totalMs - a.totalMs || a.id.localeCompare(b.id))
    .slice(0, BYSTANDERS);
  const out: Bystander[] = [];
  for (const s of others) {
    const instance = await executableInstance(client, s);
    if (!instance) continue;
    const before = await measureLatency(client, instance, runs, { statementTimeoutMs });
    if (Number.isFinite(before.medianMs)) out.push({ statement: s, instance, before });
  }
  return out;
}

export interface KeptBuild {
  /** schema.name */
  index: string;
  /** Names under which plans show it. */
  names: string[];
  /** calls x ms it saved its own statements (measured). */
  savedMs: number;
}

export interface Slowdown {
  index: string;
  statement: string;
  beforeMs: number;
  afterMs: number;
  /** calls x ms lost, against the index's saving. */
  lostMs: number;
  savedMs: number;
}

/**
 * After the builds: the bystanders measured again; for each one slowed whose plan uses a kept build, the
 * loss is charged to that build. Returns the builds whose charged loss exceeds what they saved.
 */
export async function slowedBystanders(
  client: pg.Client,
  bystanders: Bystander[],
  kept: KeptBuild[],
  runs: number,
  statementTimeoutMs: number,
): Promise<Slowdown[]> {
  const lost = new Map<string, Slowdown>();
  for (const b of bystanders) {
    const after = await measureLatency(client, b.instance, runs, { statementTimeoutMs });
    const slower =
      after.medianMs > b.before.medianMs * SLOWDOWN &&
      after.medianMs - b.before.medianMs > SLOWDOWN_MIN_MS &&
      (b.before.medianBlocks <= 0 || after.medianBlocks > b.before.medianBlocks * SLOWDOWN);
    if (!slower) continue;
    const plan = await withExplainer(client, { statementTimeoutMs }, (ex) =>
      ex.explain(explainTargetOf(b.statement)),
    );
    const calls = Math.max(1, b.statement.calls);
    for (const k of kept) {
      if (!plan.indexes.some((n) => k.names.includes(n))) continue;
      const prior = lost.get(k.index);
      const lostMs = (prior?.lostMs ?? 0) + calls * (after.medianMs - b.before.medianMs);
      lost.set(k.index, {
        index: k.index,
        statement: b.statement.name ?? b.statement.id,
        beforeMs: b.before.medianMs,
        afterMs: after.medianMs,
        lostMs,
        savedMs: k.savedMs,
      });
    }
  }
  return [...lost.values()].filter((x) => x.lostMs > x.savedMs);
}
