import { ALERT_RULE_NAMES, type RuntimeConfig } from '../config.ts';
import { BadInputError } from '../errors.ts';
import type { Snapshot } from '../monitor/snapshot.ts';
import type { AlertInputs } from './inputs.ts';
import type { RuleEvaluation, RuleSettings } from './lifecycle.ts';
import { RULE_DEFINITIONS, type RuleDefinition } from './rule-definitions.ts';
import { evaluated, oneLine, RULE_EVALUATORS } from './rule-evaluators.ts';

/**
 * The alert rules: each one reads the sampler's Snapshot (and the audit trail's run outcomes) and gives
 * one figure per resource. Thresholds default to the design's MonitoringConfig and to the prior art
 * (check_postgres, postgres_mixin, the RDS alarms people ask for), and every one can be overridden per
 * rule and per target (alerting.rules in the runtime config). The definitions (data) are in
 * rule-definitions.ts, how each reads a sample in rule-evaluators.ts.
 */

/** What the rules read: one successful sample, or why there is none. */
export type RuleInput = { ok: true; snapshot: Snapshot; inputs?: AlertInputs } | { ok: false; error: string };

const RULES = RULE_DEFINITIONS;

// Every configurable rule name has exactly one definition.
const BY_NAME = new Map(RULES.map((r) => [r.name, r]));
if (BY_NAME.size !== ALERT_RULE_NAMES.length || ALERT_RULE_NAMES.some((n) => !BY_NAME.has(n))) {
  throw new Error('rule-definitions.ts and ALERT_RULE_NAMES disagree');
}

/** The rule catalogue, for docs and the CLI. */
export function ruleCatalogue(): Array<
  Pick<RuleDefinition, 'name' | 'title' | 'unit' | 'direction' | 'runbook'>
> {
  return RULES.map(({ name, title, unit, direction, runbook }) => ({
    name,
    title,
    unit,
    direction,
    runbook,
  }));
}

/**
 * The enabled rules with thresholds resolved: rule defaults (from MonitoringConfig where the design has
 * them), then alerting.rules overrides. Thresholds on the wrong side of each other are bad input.
 */
export function resolveRules(config: RuntimeConfig): Map<string, RuleSettings> {
  const out = new Map<string, RuleSettings>();
  for (const def of RULES) {
    const o = config.alerting.rules[def.name] ?? {};
    if (o.enabled === false) continue;
    const d = def.defaults(config);
    const warning = 'warning' in o ? o.warning : d.warning;
    const critical = 'critical' in o ? o.critical : d.critical;
    const s: RuleSettings = {
      rule: def.name,
      title: def.title,
      unit: def.unit,
      direction: def.direction,
      warning,
      critical,
      clear: o.clear ?? d.clear,
      pendingSamples: o.pendingSamples ?? d.pendingSamples ?? config.alerting.pendingSamples,
      clearSamples: o.clearSamples ?? d.clearSamples ?? config.alerting.clearSamples,
      cooldownMinutes: o.cooldownMinutes ?? d.cooldownMinutes,
      runbook: config.alerting.runbookBaseUrl
        ? `${def.runbook} Runbook: ${config.alerting.runbookBaseUrl}#${def.name}`
        : def.runbook,
    };
    validateThresholds(s);
    out.set(def.name, s);
  }
  return out;
}

/** Checks a config's alert thresholds (BadInputError naming the rule); for synth-time validation. */
export function validateAlertRules(config: RuntimeConfig): void {
  resolveRules(config);
}

function validateThresholds(s: RuleSettings): void {
  const where = `alerting.rules.${s.rule}`;
  const worse = (a: number, b: number) => (s.direction === 'above' ? a > b : a < b);
  const fire = s.warning ?? s.critical;
  if (fire === undefined) throw new BadInputError(`${where}: needs a warning or a critical threshold`);
  if (s.warning !== undefined && s.critical !== undefined && worse(s.warning, s.critical)) {
    throw new BadInputError(`${where}: warning ${s.warning} is beyond critical ${s.critical}`);
  }
  if (!worse(fire, s.clear)) {
    const side = s.direction === 'above' ? 'below' : 'above';
    throw new BadInputError(`${where}: clear ${s.clear} must be ${side} the firing threshold ${fire}`);
  }
}

/**
 * Every enabled rule's verdict on one sample. A failed collection fires database_unreachable and leaves
 * every other rule UNKNOWN: their alerts hold, none resolves for lack of figures.
 */
export function evaluateRules(
  input: RuleInput,
  rules: ReadonlyMap<string, RuleSettings>,
  config: RuntimeConfig,
): RuleEvaluation[] {
  const out: RuleEvaluation[] = [];
  for (const def of RULES) {
    const s = rules.get(def.name);
    if (!s) continue;
    if (!input.ok) {
      out.push(
        def.name === 'database_unreachable'
          ? evaluated(def.name, [
              {
                rule: def.name,
                resource: 'database',
                value: 1,
                message: `Sampling failed: ${oneLine(input.error, 300)}`,
              },
            ])
          : { rule: def.name, status: 'unknown', reason: 'the sample could not be taken' },
      );
      continue;
    }
    try {
      out.push(RULE_EVALUATORS[def.name](input.snapshot, s, config, input.inputs));
    } catch (err) {
      // A rule that cannot read the snapshot must not silence the others.
      out.push({ rule: def.name, status: 'unknown', reason: `rule error: ${(err as Error).message}` });
    }
  }
  return out;
}
