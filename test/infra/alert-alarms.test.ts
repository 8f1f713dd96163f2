import { beforeAll, describe, expect, it } from 'vitest';
import { RULE_DEFINITIONS } from '../../functions/alerting/rule-definitions.ts';
import { ALERT_RULE_NAMES } from '../../functions/config.ts';
import { METRIC_SPECS } from '../../functions/monitor/metrics.ts';
import { METRIC_NAMESPACE, RULE_METRICS } from '../../lib/metrics.ts';
import {
  DEMO,
  type Json,
  ONE_TARGET,
  resourcesOf,
  type Synthesized,
  synthesize,
  TWO_TARGETS,
} from './support.ts';

/**
 * The CloudWatch alarms and the alert rules do not restate each other: every figure an alert rule
 * judges is the rules engine's (per database, pending and clear counts, cooldown, one grouped message),
 * and no alarm of the stack reads it. The rule definitions say which metric carries each rule's figure.
 */

let stacks: Array<[string, Synthesized]>;
beforeAll(() => {
  stacks = [
    ['one target', synthesize(ONE_TARGET, { bundle: false })],
    ['two targets', synthesize(TWO_TARGETS, { bundle: false })],
    ['demo', synthesize(DEMO, { bundle: false })],
  ];
}, 300_000);

/** The DGM/Database metric names an alarm reads: its own metric, its metric stats, its expressions. */
function dgmMetricsRead(alarm: Json): string[] {
  const p = alarm.Properties;
  const names: string[] = [];
  if (p.Namespace === METRIC_NAMESPACE && p.MetricName) names.push(p.MetricName);
  for (const m of p.Metrics ?? []) {
    const stat = m.MetricStat?.Metric;
    if (stat?.Namespace === METRIC_NAMESPACE) names.push(stat.MetricName);
    const expression = typeof m.Expression === 'string' ? m.Expression : JSON.stringify(m.Expression ?? '');
    if (expression.includes(METRIC_NAMESPACE)) {
      // Metrics Insights (SELECT AGG(Name) FROM SCHEMA(...)) and SEARCH (MetricName="Name").
      for (const x of expression.matchAll(/\b[A-Z][A-Za-z]+\b/g)) names.push(x[0]);
    }
  }
  return names;
}

describe('CloudWatch alarms against the alert rule definitions', () => {
  it('every rule is defined once, and each metric a definition names is one the sampler sends', () => {
    expect(RULE_DEFINITIONS.map((r) => r.name).sort()).toEqual([...ALERT_RULE_NAMES].sort());
    const sent = new Set(METRIC_SPECS.map((m) => m.name));
    const named = RULE_DEFINITIONS.flatMap((r) => (r.metric ? [r.metric] : []));
    expect(named.filter((m) => !sent.has(m))).toEqual([]);
    // The four figures the old per-database alarms restated are among them.
    for (const [metric, rule] of [
      ['ConnectionUtilization', 'connection_utilization'],
      ['CacheHitRatio', 'cache_hit_ratio'],
      ['Deadlocks', 'deadlocks'],
      ['PartitionsAheadDays', 'partitions_running_out'],
      ['Up', 'database_unreachable'],
    ]) {
      expect(RULE_METRICS.get(metric!)).toBe(rule);
    }
  });

  it('no alarm reads a figure that an alert rule judges', () => {
    for (const [label, s] of stacks) {
      const alarms = resourcesOf(s, 'AWS::CloudWatch::Alarm');
      expect(alarms.length, label).toBeGreaterThan(5);
      const restated = alarms.flatMap(([id, a]) =>
        dgmMetricsRead(a)
          .filter((m) => RULE_METRICS.has(m))
          .map((m) => `${label}: ${id} reads ${m}, the figure of rule ${RULE_METRICS.get(m)}`),
      );
      expect(restated).toEqual([]);
    }
  });

  it('the check sees what an alarm reads, in a metric stat and in a Metrics Insights query', () => {
    const alarms = resourcesOf(stacks[0]![1], 'AWS::CloudWatch::Alarm');
    const of = (prefix: string) => dgmMetricsRead(alarms.find(([id]) => id.startsWith(prefix))![1]);
    expect(of('FleetSamplingFailureShare')).toEqual(['FanOutFailures', 'FanOutTargets']);
    expect(of('FleetMaintenanceTargetFailed')).toContain('FanOutFailures');
  });
});
