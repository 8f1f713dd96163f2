/**
 * The verdict on a build right after it (pure): used by the plans of the statements it was built for,
 * and where their latency was measured, faster by the bar in time or in buffers touched.
 */

export interface LatencyComparison {
  id: string;
  name?: string;
  before_ms: number;
  after_ms: number;
  /** 1 - after_ms / before_ms. */
  improvement: number;
  /** Buffers the execution touched (median), before and after; absent where none were counted. */
  before_blocks?: number;
  after_blocks?: number;
  /** 1 - after_blocks / before_blocks. */
  blocks_improvement?: number;
}

/**
 * How much a build improved one statement: the larger of the time and the buffer improvement. Buffers
 * are the plan's work and do not change with the machine's load, so an index that really takes work off
 * a statement is kept even when a busy machine hides it in the timing; time covers the CPU-bound
 * statements whose buffers hardly move.
 */
export function improvementOf(l: LatencyComparison): number {
  return Math.max(l.improvement, l.blocks_improvement ?? Number.NEGATIVE_INFINITY);
}

export interface VerificationResult {
  plan_uses: boolean;
  used_by: string[];
  latency: LatencyComparison[];
  measured: boolean;
  verdict: 'keep' | 'drop';
  reason: string;
}

/**
 * The verdict right after a build (pure): it must be in the plan of a statement it was built for, and
 * where latency was measured, make at least one of them faster by minImprovement.
 */
export function judgeBuild(
  planUsedBy: string[],
  latency: LatencyComparison[],
  minImprovement: number,
): VerificationResult {
  if (planUsedBy.length === 0) {
    return {
      plan_uses: false,
      used_by: [],
      latency,
      measured: latency.length > 0,
      verdict: 'drop',
      reason: 'no plan of the statements it was built for uses it',
    };
  }
  const measured = latency.filter((l) => Number.isFinite(l.before_ms) && Number.isFinite(l.after_ms));
  if (measured.length === 0) {
    return {
      plan_uses: true,
      used_by: planUsedBy,
      latency,
      measured: false,
      verdict: 'keep',
      reason:
        'used by the plans; latency could not be measured now, so probation will judge it from pg_stat_statements',
    };
  }
  const best = Math.max(...measured.map(improvementOf));
  const bestTime = Math.max(...measured.map((l) => l.improvement));
  const blocks = measured.flatMap((l) => (l.blocks_improvement === undefined ? [] : [l.blocks_improvement]));
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const detail =
    blocks.length > 0 ? ` (time ${pct(bestTime)}, buffers touched ${pct(Math.max(...blocks))})` : '';
  if (best < minImprovement) {
    return {
      plan_uses: true,
      used_by: planUsedBy,
      latency,
      measured: true,
      verdict: 'drop',
      reason: `measured latency did not improve by ${(minImprovement * 100).toFixed(0)}% (best ${pct(best)})${detail}`,
    };
  }
  return {
    plan_uses: true,
    used_by: planUsedBy,
    latency,
    measured: true,
    verdict: 'keep',
    reason: `measured latency improved up to ${pct(best)}${detail}`,
  };
}
