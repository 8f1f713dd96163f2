import type { Logger, MetricDatum, MetricSink, RegisteredTarget } from '../ports.ts';

/**
 * One job kind over the fleet. In AWS the engine is a Step Functions Distributed Map (lib/fleet.ts): this
 * module plans its items (which function runs which target) and turns its per-target outcomes into
 * metrics. Locally (`dgm-db-ops invoke fanout`, the fleet test) runFanOut does the map itself with the
 * same two limits: at most `concurrency` targets at a time, each given `targetTimeoutMs`.
 */

/** Which function of a placement runs a job. */
export type FleetFunction = 'sampler' | 'maintainer' | 'migrator';

export function functionForJob(job: string): FleetFunction {
  if (job === 'sample') return 'sampler';
  if (job === 'migrate') return 'migrator';
  return 'maintainer';
}

/** What happened to one target in a fan-out run. */
export interface TargetOutcome {
  target: string;
  /**
   * ok: the job ran and succeeded; failed: it ran and reported a failure (an unreachable database, a
   * wrong secret, a failed action); error: the invocation itself failed; timeout: no answer within the
   * per-target timeout; skipped: not run (no function for its placement).
   */
  status: 'ok' | 'failed' | 'error' | 'timeout' | 'skipped';
  error?: string;
  ms?: number;
}

/** A Distributed Map item: the target and the function (name) that runs it. */
export interface FanOutItem {
  target: string;
  function: string;
}

/**
 * The map's items for a job: every enabled target, with its placement's function. A target whose
 * placement has no function (a registry entry naming a placement this deployment does not have) is not
 * run; it is reported as skipped, for itself.
 */
export function planFanOut(
  targets: RegisteredTarget[],
  job: string,
  placements: Record<string, Partial<Record<FleetFunction, string>>>,
  defaultPlacement?: string,
): { items: FanOutItem[]; skipped: TargetOutcome[] } {
  const kind = functionForJob(job);
  const items: FanOutItem[] = [];
  const skipped: TargetOutcome[] = [];
  for (const t of targets) {
    if (t.enabled === false) continue;
    const placement = t.placement ?? defaultPlacement;
    const fn = placement ? placements[placement]?.[kind] : undefined;
    if (!fn) {
      skipped.push({
        target: t.name,
        status: 'skipped',
        error: placement
          ? `placement '${placement}' is not deployed (known: ${Object.keys(placements).join(', ') || 'none'})`
          : 'the registry entry names no placement',
      });
      continue;
    }
    items.push({ target: t.name, function: fn });
  }
  return { items, skipped };
}

/** The status a job's result means: failed/refused results are failures of their target. */
export function outcomeOfResult(target: string, result: unknown, ms?: number): TargetOutcome {
  const r = (result ?? {}) as { status?: unknown; message?: unknown };
  const failed = r.status === 'failed' || r.status === 'refused';
  return {
    target,
    status: failed ? 'failed' : 'ok',
    error: failed && typeof r.message === 'string' ? r.message.slice(0, 300) : undefined,
    ms,
  };
}

export interface FanOutRun {
  job: string;
  durationMs: number;
  outcomes: TargetOutcome[];
  succeeded: number;
  failed: number;
  /** Resolves when the work of timed-out targets has ended too (their promises cannot be cancelled). */
  settled(): Promise<void>;
}

/**
 * Runs `work` for every target, at most `concurrency` at a time. A target that throws is an error, one
 * that does not answer within `targetTimeoutMs` a timeout (its signal is aborted, and its slot goes to
 * the next target); neither stops the others.
 */
export async function runFanOut(
  job: string,
  targets: string[],
  work: (target: string, signal: AbortSignal) => Promise<TargetOutcome>,
  options: { concurrency: number; targetTimeoutMs: number },
): Promise<FanOutRun> {
  const started = performance.now();
  const outcomes: TargetOutcome[] = new Array(targets.length);
  const late: Promise<unknown>[] = [];
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      const target = targets[i]!;
      const t0 = performance.now();
      const abort = new AbortController();
      const running = work(target, abort.signal).then(
        (o) => ({ ...o, target, ms: Math.round(performance.now() - t0) }),
        (err: unknown) => ({
          target,
          status: 'error' as const,
          error: err instanceof Error ? err.message : String(err),
          ms: Math.round(performance.now() - t0),
        }),
      );
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<TargetOutcome>((resolve) => {
        timer = setTimeout(() => {
          abort.abort();
          late.push(running);
          resolve({
            target,
            status: 'timeout',
            error: `no answer within the per-target timeout of ${options.targetTimeoutMs} ms`,
            ms: options.targetTimeoutMs,
          });
        }, options.targetTimeoutMs);
      });
      outcomes[i] = await Promise.race([running, timedOut]);
      clearTimeout(timer);
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency, targets.length));
  await Promise.all(Array.from({ length: workers }, worker));
  const failed = outcomes.filter((o) => o.status !== 'ok').length;
  return {
    job,
    durationMs: Math.round(performance.now() - started),
    outcomes,
    succeeded: outcomes.length - failed,
    failed,
    settled: async () => {
      await Promise.allSettled(late);
    },
  };
}

/** Metric names of the fan-out (namespace DGM/Database). */
export const FANOUT_METRICS = {
  /** Per run and Job: targets the run covered. */
  targets: 'FanOutTargets',
  /** Per run and Job: targets that failed, errored, timed out or were skipped. */
  failures: 'FanOutFailures',
  /** Per failed target (DBInstance, Job): 1. Sent only for failures, so it costs nothing while healthy. */
  targetFailed: 'FanOutTargetFailed',
  /** The sampler's Up, sent as 0 for a target whose sample never answered (timeout, crash). */
  up: 'Up',
} as const;

/**
 * The metrics of one fan-out run: two fleet figures per job, and for each failed target a datum of its
 * own (DBInstance) so dashboards and alarms can name it. A sample that never answered also gets Up = 0,
 * as if the sampler had reported the database down (the sampler itself sends Up for the rest).
 */
export function fanOutMetrics(job: string, outcomes: TargetOutcome[], at: Date): MetricDatum[] {
  const failures = outcomes.filter((o) => o.status !== 'ok');
  const datums: MetricDatum[] = [
    {
      name: FANOUT_METRICS.targets,
      value: outcomes.length,
      unit: 'Count',
      dimensions: { Job: job },
      timestamp: at,
    },
    {
      name: FANOUT_METRICS.failures,
      value: failures.length,
      unit: 'Count',
      dimensions: { Job: job },
      timestamp: at,
    },
  ];
  for (const o of failures) {
    datums.push({
      name: FANOUT_METRICS.targetFailed,
      value: 1,
      unit: 'Count',
      dimensions: { DBInstance: o.target, Job: job },
      timestamp: at,
    });
    if (job === 'sample' && o.status !== 'failed') {
      datums.push({
        name: FANOUT_METRICS.up,
        value: 0,
        unit: 'Count',
        dimensions: { DBInstance: o.target },
        timestamp: at,
      });
    }
  }
  return datums;
}

/** The list action's answer: the Distributed Map's items, and the targets it cannot place. */
export interface FanOutListResult {
  task: string;
  items: FanOutItem[];
  skipped: TargetOutcome[];
}

/** A fan-out run's report: the counts, and only the targets that did not succeed, each with why. */
export interface FanOutReport {
  task: string;
  status: 'succeeded' | 'failed';
  targets: number;
  succeeded: number;
  failed: number;
  failures: TargetOutcome[];
  durationMs?: number;
  message: string;
}

export interface FanOutReportDeps {
  sink: MetricSink;
  logger: Logger;
  now: () => Date;
}

/** The report of a fan-out: one log line per failed target (never anything of its secret), metrics. */
export async function reportFanOut(
  task: string,
  outcomes: TargetOutcome[],
  deps: FanOutReportDeps,
  durationMs?: number,
): Promise<FanOutReport> {
  const failures = outcomes.filter((o) => o.status !== 'ok');
  for (const f of failures) {
    deps.logger.warn('target failed', { task, target: f.target, status: f.status, error: f.error });
  }
  const put = await deps.sink.put(fanOutMetrics(task, outcomes, deps.now()));
  if (put.failed > 0) deps.logger.warn('fan-out metrics not all sent', { errors: put.errors });
  const named = failures
    .slice(0, 10)
    .map((f) => `${f.target} (${f.status})`)
    .join(', ');
  const result: FanOutReport = {
    task,
    status: failures.length > 0 ? 'failed' : 'succeeded',
    targets: outcomes.length,
    succeeded: outcomes.length - failures.length,
    failed: failures.length,
    failures,
    durationMs,
    message:
      failures.length > 0
        ? `${task}: ${failures.length} of ${outcomes.length} target(s) failed: ${named}${failures.length > 10 ? ', ...' : ''}`
        : `${task}: ${outcomes.length} target(s) succeeded`,
  };
  deps.logger.info(result.message, { task, targets: result.targets, failed: result.failed });
  return result;
}

/**
 * The map run in process (a local invocation): each enabled target's job through runTarget with the
 * event a Map item carries, within the limits, then the report. Timed-out work goes on in the
 * background; the run waits for it, so nothing outlives it.
 */
export async function runFanOutLocally(
  event: { task: string; dryRun?: boolean; reason?: string },
  targets: RegisteredTarget[],
  runTarget: (event: Record<string, unknown>, signal: AbortSignal) => Promise<unknown>,
  options: { concurrency: number; targetTimeoutMs: number },
  deps: FanOutReportDeps,
): Promise<FanOutReport> {
  const enabled = targets.filter((t) => t.enabled !== false).map((t) => t.name);
  const run = await runFanOut(
    event.task,
    enabled,
    async (target, signal) => {
      const result = await runTarget(
        {
          task: event.task,
          target,
          ...(event.dryRun !== undefined ? { dryRun: event.dryRun } : {}),
          reason: event.reason ?? 'fan-out',
          // As the state machine invokes: the job's result comes back as its status and message.
          fanOut: true,
        },
        signal,
      );
      return outcomeOfResult(target, result);
    },
    options,
  );
  const result = await reportFanOut(event.task, run.outcomes, deps, run.durationMs);
  await run.settled();
  return result;
}
