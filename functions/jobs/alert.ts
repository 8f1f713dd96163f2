import type pg from 'pg';
import { type AlertLifecycleDeps, runAlertLifecycle } from '../alerting/claim-loop.ts';
import type { AlertEvaluation } from '../alerting/evaluation.ts';
import { collectAlertInputs } from '../alerting/inputs.ts';
import { evaluateRules, type RuleInput, resolveRules } from '../alerting/rules.ts';
import type { RuntimeConfig } from '../config.ts';
import { BadInputError, errorMessage } from '../errors.ts';
import type { Snapshot } from '../monitor/snapshot.ts';
import { type MetricSink, silentLogger } from '../ports.ts';

/**
 * The alert step of a sampler run: the audit-trail figures, the rules over the sample
 * (alerting/rules.ts), the claim loop over the state store and one grouped notification
 * (alerting/claim-loop.ts), and the alert metrics to the sink. The alerting itself lives in
 * functions/alerting/; this job only strings it together for the Lambda and the CLI.
 */

export type { AlertEvaluation, AlertView } from '../alerting/evaluation.ts';

export type AlertJobDeps = AlertLifecycleDeps;

export interface EvaluateAlertsOptions {
  config: RuntimeConfig;
  /** The sample (and the audit-trail figures), or why it could not be taken. */
  input: RuleInput;
  sampleAt?: Date;
}

/** evaluateAlerts: the rules over one sample, then the lifecycle, state store and one notification. */
export async function evaluateAlerts(
  deps: AlertJobDeps,
  options: EvaluateAlertsOptions,
): Promise<AlertEvaluation> {
  const rules = resolveRules(options.config);
  const evaluations = evaluateRules(options.input, rules, options.config);
  return runAlertLifecycle(deps, { config: options.config, evaluations, sampleAt: options.sampleAt, rules });
}

/** The alert step's outcome inside a sample result: the evaluation, or why alerting itself failed. */
export type SampleAlertOutcome = AlertEvaluation | { target: string; error: string };

/**
 * The sampler's alert step, for the Lambda and the CLI alike: the audit-trail figures, the rules over
 * the sample (or over its failure: database_unreachable), the lifecycle, and the alert metrics to the
 * sink. It throws only for contradictory thresholds (bad configuration); any other failure is logged
 * and returned, and the sample stands.
 */
export async function alertAfterSample(
  deps: AlertJobDeps & { sink?: MetricSink },
  args: { config: RuntimeConfig; client?: pg.Client; snapshot?: Snapshot; error?: string },
): Promise<SampleAlertOutcome> {
  const logger = deps.logger ?? silentLogger;
  try {
    const input: RuleInput = args.snapshot
      ? {
          ok: true,
          snapshot: args.snapshot,
          inputs: args.client ? await collectAlertInputs(args.client) : undefined,
        }
      : { ok: false, error: args.error ?? 'the sample could not be taken' };
    const evaluation = await evaluateAlerts(deps, { config: args.config, input });
    if (deps.sink && evaluation.metrics.length > 0) {
      const sent = await deps.sink
        .put(evaluation.metrics)
        .catch((err) => ({ failed: 1, errors: [errorMessage(err)] }));
      if (sent.failed > 0) logger.warn('alert metrics not sent', { errors: sent.errors });
    }
    return evaluation;
  } catch (err) {
    // Thresholds that contradict each other are a configuration error, not a passing failure.
    if (err instanceof BadInputError) throw err;
    const error = errorMessage(err);
    logger.error('alert evaluation failed', { target: args.config.target, error });
    return { target: args.config.target, error };
  }
}
