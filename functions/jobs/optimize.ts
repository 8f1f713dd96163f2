import type pg from 'pg';
import type { AuditTrail } from '../compliance/audit.ts';
import type { ConstitutionalCompliance } from '../compliance/constitution.ts';
import { beginMutatingRun, readOnlyCompliance } from '../compliance/guard.ts';
import type { RuntimeConfig } from '../config.ts';
import { ADVISORY_LOCKS, describeHolder, withAdvisoryLock } from '../db/locks.ts';
import { errorMessage } from '../errors.ts';
import { type NotWorkloadReason, redactLiterals } from '../monitor/own-statements.ts';
import {
  type Advice,
  adviseIndexes,
  type IndexRecommendation,
  type RejectedCandidate,
  type StatementVerdict,
} from '../optimizer/advisor.ts';
import { ddlOptions, dropAutoIndex } from '../optimizer/apply.ts';
import {
  measureImprovement,
  type PerformanceImprovement,
  pruneBaselines,
  storeBaseline,
} from '../optimizer/baselines.ts';
import {
  type IndexBuildPlan,
  planIndexBuilds,
  readPartitionTrees,
  workloadMix,
} from '../optimizer/build-plan.ts';
import { completeGovernanceEvents } from '../optimizer/governance-events.ts';
import type { VerificationResult } from '../optimizer/judge.ts';
import type {
  DropRecommendation,
  PublicIndexRecommendation,
  Recommendation,
} from '../optimizer/recommendations.ts';
import { reconcileInterruptedBuilds, reconcileStatisticsTargets } from '../optimizer/reconcile.ts';
import { type ReviewDecision, reviewAutoIndexes } from '../optimizer/review.ts';
import { readServerLogSamples, type ServerLogResult } from '../optimizer/server-log.ts';
import { readSettingsFacts, recommendSettings } from '../optimizer/settings.ts';
import { type AppliedAction, applyIndexPlan } from '../optimizer/verify.ts';
import {
  captureQuerySamples,
  collectWorkload,
  type QueryExample,
  readStatementStats,
  storedQuerySamples,
  withoutStatementTracking,
} from '../optimizer/workload.ts';
import type { Logger, LogSource } from '../ports.ts';
import { elapsedMs, type JobResult } from './result.ts';

export interface OptimizeOptions {
  /** Create the recommended indexes (within the caps). Default: config.optimization.autoIndexCreation. */
  apply?: boolean;
  /** Analyze and print the plan; change nothing (no baselines, no audit rows, no indexes). */
  dryRun?: boolean;
  /** Literal statements of the workload (a --workload file, the reference mix). */
  examples?: QueryExample[];
  /** Why this run (schedule, governance:<event id>, cli). */
  reason?: string;
  /** Epoch ms by which the run must be done (the Lambda's deadline): no build starts after it. */
  deadline?: number;
  /** How long to wait for another optimize run's lock before skipping (default 0: skip at once). */
  lockWaitMs?: number;
  logger?: Logger;
  /**
   * The server's log, read for literal statements (optimization.readServerLog): the server itself
   * locally, the RDS API in AWS. Without it, only pg_stat_activity samples are taken.
   */
  logSource?: LogSource;
}

export type {
  DropRecommendation,
  PublicIndexRecommendation,
  Recommendation,
} from '../optimizer/recommendations.ts';

export type OptimizeAction = AppliedAction;

export interface OptimizeResult extends JobResult {
  job: 'optimize';
  runId: string | null;
  reason?: string;
  applied: boolean;
  /** Measured between baselines: the window after the last change against the window before it. */
  performance_improvement: PerformanceImprovement;
  recommendations: Recommendation[];
  /** How candidates were evaluated: HypoPG, real builds rolled back, or both. */
  method: Advice['method'];
  hypopgAvailable: boolean;
  workload: {
    available: boolean;
    reason?: string;
    statementsInStats: number;
    analyzed: number;
    /**
     * Statements read and left out as not the application's (the tool's own, utility statements,
     * system catalogs, no table; functions/monitor/own-statements.ts), and by reason.
     */
    leftOutAsOwn: number;
    leftOutByReason: Partial<Record<NotWorkloadReason, number>>;
    examples: number;
    explains: number;
    /** The server log read for literal samples this run (counts only: no literal in a result). */
    serverLog?: ServerLogResult | { available: false; reason: string };
  };
  statements: StatementVerdict[];
  rejected: RejectedCandidate[];
  plan: {
    builds: Array<{ name: string; table: string; estimatedBytes: number; statements: string[] }>;
    skipped: IndexBuildPlan['skipped'];
    drops: DropRecommendation[];
  };
  actions: OptimizeAction[];
  verification: Array<{ index: string } & VerificationResult>;
  probation: ReviewDecision[];
}

/**
 * What a run did to indexes, from its actions (so every count matches the audited actions): the indexes
 * built, those dropped again after verification (no measured benefit), those kept, and earlier
 * auto-created indexes dropped on probation.
 */
export function indexChanges(actions: readonly OptimizeAction[]): {
  built: string[];
  droppedAfterVerification: string[];
  kept: string[];
  droppedOnProbation: string[];
} {
  const ok = (kind: OptimizeAction['action']) =>
    actions.filter((a) => a.action === kind && a.status === 'succeeded').map((a) => a.target);
  const built = ok('create_index');
  const drops = ok('drop_index');
  const again = new Set(drops.filter((t) => built.includes(t)));
  return {
    built,
    droppedAfterVerification: built.filter((t) => again.has(t)),
    kept: built.filter((t) => !again.has(t)),
    droppedOnProbation: drops.filter((t) => !built.includes(t)),
  };
}

/** The message part of an applied run's index changes; every figure counts audited actions. */
export function indexChangesMessage(actions: readonly OptimizeAction[], failed: number): string {
  const c = indexChanges(actions);
  const reconciled = actions.filter((a) => a.action === 'reconcile_index' && a.status === 'succeeded');
  return [
    `created ${c.built.length}`,
    ...(c.droppedAfterVerification.length
      ? [`dropped ${c.droppedAfterVerification.length} of them again after verification`]
      : []),
    `kept ${c.kept.length}`,
    ...(c.droppedOnProbation.length ? [`dropped ${c.droppedOnProbation.length} earlier on probation`] : []),
    ...(failed ? [`${failed} build(s) failed`] : []),
    ...(reconciled.length ? [`${reconciled.length} interrupted build(s) of an earlier run reconciled`] : []),
  ].join(', ');
}

function publicRecommendation(r: IndexRecommendation): PublicIndexRecommendation {
  const { candidate: _candidate, ...rest } = r;
  return rest;
}

async function liveAutoIndexCounts(client: pg.Client, target: string): Promise<Map<number, number>> {
  const { rows } = await client.query<{ oid: string; n: string }>(
    `SELECT to_regclass(format('%I.%I', table_schema, table_name))::oid::bigint AS oid, count(*) AS n
     FROM dgm.auto_indexes WHERE target = $1 AND status IN ('building', 'active', 'verified') GROUP BY 1`,
    [target],
  );
  return new Map(rows.filter((r) => r.oid !== null).map((r) => [Number(r.oid), Number(r.n)]));
}

/**
 * The design's optimize_database: analyzes the workload, recommends indexes (measured by the planner)
 * and settings, reviews the indexes it created before, and with apply creates the recommended ones
 * within the caps, verifying each (plan and measured latency) and dropping any that brings nothing.
 * performance_improvement is measured between pg_stat_statements baselines, never assumed.
 */
export async function optimizeDatabase(
  client: pg.Client,
  config: RuntimeConfig,
  options: OptimizeOptions = {},
): Promise<OptimizeResult> {
  const started = performance.now();
  const startedAt = new Date();
  // No literal reaches a log: the advisor's lines name candidate indexes, whose predicates hold constants
  // from literal samples.
  const logger = redactingLogger(options.logger);
  const opt = config.optimization;
  const apply = options.apply ?? opt.autoIndexCreation;
  const dryRun = options.dryRun ?? false;
  let audit: AuditTrail | undefined;
  let compliance: ConstitutionalCompliance;
  if (dryRun) {
    compliance = await readOnlyCompliance(client, config.constitutionalHash);
  } else {
    const run = await beginMutatingRun(client, 'optimize', config.constitutionalHash);
    audit = run.audit;
    compliance = run.compliance;
  }
  const runId = audit?.runId ?? null;
  const empty = (status: OptimizeResult['status'], message: string): OptimizeResult => ({
    job: 'optimize',
    status,
    target: config.target,
    durationMs: elapsedMs(started),
    constitutional_compliance: compliance,
    message,
    runId,
    reason: options.reason,
    applied: false,
    performance_improvement: { measured: false, reason: message, per_query: [] },
    recommendations: [],
    method: 'none',
    hypopgAvailable: false,
    workload: {
      available: false,
      statementsInStats: 0,
      analyzed: 0,
      leftOutAsOwn: 0,
      leftOutByReason: {},
      examples: 0,
      explains: 0,
    },
    statements: [],
    rejected: [],
    plan: { builds: [], skipped: [], drops: [] },
    actions: [],
    verification: [],
    probation: [],
  });
  const { rows: rec } = await client.query<{ replica: boolean }>('SELECT pg_is_in_recovery() AS replica');
  if (rec[0]?.replica) return empty('skipped', 'skipped: the server is a replica (pg_is_in_recovery)');

  const locked = await withAdvisoryLock(
    client,
    ADVISORY_LOCKS.optimize,
    () =>
      withoutStatementTracking(client, async () => {
        if (opt.captureQuerySamples && !dryRun) await captureQuerySamples(client).catch(() => 0);
        let serverLog: ServerLogResult | { available: false; reason: string } = {
          available: false,
          reason: !opt.readServerLog
            ? 'optimization.readServerLog is off'
            : dryRun
              ? 'not read on a dry run'
              : 'no log source (the target is not an RDS instance)',
        };
        if (opt.readServerLog && !dryRun && options.logSource) {
          serverLog = await readServerLogSamples(client, options.logSource, {
            target: config.target,
            maxBytes: opt.serverLogBytesPerRun,
          }).catch((err) => ({
            available: false as const,
            reason: `server log not read: ${errorMessage(err)}`,
          }));
          logger?.info(
            serverLog.available
              ? `optimize: server log: ${serverLog.statements} literal statement(s), ${serverLog.matched} sample(s) stored`
              : `optimize: ${serverLog.reason}`,
          );
        }
        const snapshot = await readStatementStats(client);
        const examples = [...(options.examples ?? []), ...(await storedQuerySamples(client))];
        logger?.info('optimize: reading the workload');
        const workload = await collectWorkload(client, {
          maxStatements: opt.maxStatements,
          minCalls: opt.minCalls,
          examples,
          snapshot,
        });
        const texts = new Map(workload.statements.filter((s) => s.queryid).map((s) => [s.queryid!, s.text]));
        const improvement = snapshot.available
          ? await measureImprovement(client, config.target, snapshot, texts)
          : { measured: false, reason: snapshot.reason, per_query: [] };
        if (!dryRun && snapshot.available) {
          await storeBaseline(client, snapshot, {
            target: config.target,
            kind: 'optimize_start',
            runId: runId ?? undefined,
            texts,
          });
        }

        const actions: OptimizeAction[] = [];
        const changes: Array<Record<string, unknown>> = [];
        let reconcileFailed = 0;
        // Builds an interrupted run left behind are finished or dropped before anything else, by what
        // the catalog says, so a crash never wedges the next run.
        if (!dryRun && audit) {
          const ctx = { audit, ddl: ddlOptions(config.maintenance), logger };
          for (const r of [
            ...(await reconcileInterruptedBuilds(client, config.target, ctx)),
            ...(await reconcileStatisticsTargets(client, config.target, ctx)),
          ]) {
            actions.push({
              action: 'reconcile_index',
              target: r.index,
              status: r.outcome === 'failed' ? 'failed' : 'succeeded',
              detail: r.detail,
              ...(r.sql.length ? { sql: r.sql } : {}),
            });
            if (r.outcome === 'failed') reconcileFailed++;
          }
        }

        // Probation of earlier auto-created indexes.
        const review = await reviewAutoIndexes(client, config.target, snapshot, opt);
        const drops: DropRecommendation[] = [];
        for (const d of review.decisions) {
          if (d.action === 'drop') {
            drops.push({
              kind: 'drop_index',
              index: d.index,
              reason: d.reason,
              detail: d.detail,
              definition: `DROP INDEX CONCURRENTLY IF EXISTS ${d.index}`,
            });
          }
          if (dryRun) continue;
          const row = review.rows.find((r) => r.id === d.id)!;
          if (d.action === 'drop' && apply && audit) {
            const out = await dropAutoIndex(
              client,
              row,
              d.reason === 'unused' ? 'unused' : d.reason === 'invalid' ? 'invalid' : 'no_benefit',
              d.detail,
              { audit, ddl: ddlOptions(config.maintenance) },
            );
            actions.push({
              action: 'drop_index',
              target: d.index,
              status: out.status === 'dropped' ? 'succeeded' : 'failed',
              detail: out.error ?? d.detail,
              sql: [out.sql],
            });
            if (out.status === 'dropped')
              changes.push({ action: 'drop_index', index: d.index, reason: d.reason });
          } else if (d.action === 'keep' && row.status === 'building') {
            await client.query(`UPDATE dgm.auto_indexes SET status = 'active' WHERE id = $1`, [d.id]);
          } else if (d.action === 'verify') {
            await client.query(`UPDATE dgm.auto_indexes SET status = 'verified' WHERE id = $1`, [d.id]);
          } else if (d.action === 'forget') {
            await client.query(
              `UPDATE dgm.auto_indexes SET status = 'dropped', dropped_at = now(), drop_reason = 'gone' WHERE id = $1`,
              [d.id],
            );
          }
          await client.query(`UPDATE dgm.auto_indexes SET reviewed_at = now(), review = $2 WHERE id = $1`, [
            d.id,
            JSON.stringify(d),
          ]);
        }

        logger?.info(`optimize: evaluating candidates for ${workload.statements.length} statements`);
        const advice = await adviseIndexes(client, workload, {
          minCostReduction: opt.minCostReduction,
          hypopg: opt.hypopg,
          realBuildMaxBytes: opt.realBuildMaxBytes,
          createExtension: true,
          statementTimeoutMs: opt.evaluationTimeoutMs,
          lockTimeoutMs: config.maintenance.lockTimeoutMs,
          logger,
        });
        const spills = workload.statements
          .filter((s) => s.calls > 0 && s.tempBlksWritten > 0)
          .map((s) => ({
            queryid: s.queryid,
            tempBytesPerCall: (s.tempBlksWritten * 8192) / s.calls,
            calls: s.calls,
          }));
        const settings = recommendSettings(await readSettingsFacts(client), { storage: opt.storage, spills });

        const trees = await readPartitionTrees(
          client,
          advice.recommendations.map((r) => r.candidate.table),
        );
        const plan = planIndexBuilds({
          recommendations: advice.recommendations,
          config: opt,
          existingPerTable: await liveAutoIndexCounts(client, config.target),
          mix: workloadMix(workload),
          trees,
        });

        let verification: OptimizeResult['verification'] = [];
        let failed = reconcileFailed;
        if (apply && !dryRun && audit && plan.steps.length > 0) {
          const applied = await applyIndexPlan(client, plan, {
            audit,
            config,
            statements: new Map(workload.statements.map((s) => [s.id, s])),
            logger,
            deadline: options.deadline,
          });
          actions.push(...applied.actions);
          changes.push(...applied.changes);
          verification = applied.verification;
          failed += applied.failed;
        }

        let endBaseline: number | undefined;
        if (!dryRun) {
          const end = await readStatementStats(client);
          if (end.available) {
            endBaseline = await storeBaseline(client, end, {
              target: config.target,
              kind: 'optimize_end',
              runId: runId ?? undefined,
              changes,
            });
            await client.query(
              `UPDATE dgm.auto_indexes SET baseline_id = $1 WHERE run_id = $2 AND status IN ('active', 'verified')`,
              [endBaseline, runId],
            );
          }
          await pruneBaselines(client, config.target);
        }
        const recommendations: Recommendation[] = [
          ...advice.recommendations.map(publicRecommendation),
          ...settings,
          ...drops,
        ];
        const status: OptimizeResult['status'] = dryRun ? 'planned' : failed > 0 ? 'failed' : 'succeeded';
        const result: OptimizeResult = {
          job: 'optimize',
          status,
          target: config.target,
          durationMs: elapsedMs(started),
          constitutional_compliance: compliance,
          message:
            `${advice.recommendations.length} index and ${settings.length} setting recommendation(s)` +
            (apply && !dryRun ? `; ${indexChangesMessage(actions, failed)}` : '') +
            (improvement.measured && improvement.overall
              ? `; measured ${improvement.overall.speedup}x faster since the last change`
              : ''),
          runId,
          reason: options.reason,
          applied: apply && !dryRun,
          performance_improvement: improvement,
          recommendations,
          method: advice.method,
          hypopgAvailable: advice.hypopgAvailable,
          workload: {
            available: workload.available,
            reason: workload.reason,
            statementsInStats: workload.totalStatements,
            analyzed: workload.statements.length,
            leftOutAsOwn: workload.leftOut.total,
            leftOutByReason: workload.leftOut.byReason,
            examples: workload.statements.filter((s) => s.example).length,
            explains: advice.explains,
            serverLog,
          },
          statements: advice.statements,
          rejected: advice.rejected,
          plan: {
            builds: plan.steps.map((s) => ({
              name: s.name,
              table: s.table,
              estimatedBytes: s.estimatedBytes,
              statements: s.statements.map((x) => x.sql),
            })),
            skipped: plan.skipped,
            drops,
          },
          actions,
          verification,
          probation: review.decisions,
        };
        if (!dryRun) {
          await client.query(
            `INSERT INTO dgm.optimizer_runs (run_id, target, started_at, status, applied, reason, method, constitutional_hash, result)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
            [
              runId,
              config.target,
              startedAt,
              status,
              result.applied,
              options.reason ?? null,
              advice.method,
              config.constitutionalHash,
              JSON.stringify(result),
            ],
          );
          // The run itself is audited too (its index builds and drops have their own rows), so a run that
          // a governance event started is on the audit trail under the new hash even when it changed nothing.
          await audit!.record({
            action: 'optimize_run',
            target: config.target,
            status: status === 'failed' ? 'failed' : 'succeeded',
            durationMs: elapsedMs(started),
            details: {
              reason: options.reason ?? null,
              applied: result.applied,
              recommendations: result.recommendations.length,
              method: advice.method,
            },
          });
          await completeGovernanceEvents(client, runId!, config.constitutionalHash, status);
        }
        return result;
      }),
    { waitMs: options.lockWaitMs },
  );
  if (!locked.acquired)
    return empty('skipped', `skipped: another optimize run holds the lock${describeHolder(locked.holder)}`);
  return locked.value;
}

export interface BaselineResult extends JobResult {
  job: 'baseline';
  baselineId: number | null;
  statements: number;
}

/**
 * The design's _collect_baseline_metrics: stores a pg_stat_statements snapshot (per-query calls and
 * time) that the next improvement measurement uses as the start of its "before" window.
 */
export async function collectBaselineMetrics(
  client: pg.Client,
  config: RuntimeConfig,
): Promise<BaselineResult> {
  const started = performance.now();
  const run = await beginMutatingRun(client, 'baseline', config.constitutionalHash);
  const snapshot = await readStatementStats(client);
  const base = {
    job: 'baseline' as const,
    target: config.target,
    constitutional_compliance: run.compliance,
  };
  if (!snapshot.available) {
    return {
      ...base,
      status: 'skipped',
      durationMs: elapsedMs(started),
      baselineId: null,
      statements: 0,
      message: snapshot.reason,
    };
  }
  const id = await storeBaseline(client, snapshot, {
    target: config.target,
    kind: 'baseline',
    runId: run.audit.runId,
  });
  await run.audit.record({
    action: 'collect_baseline',
    target: 'dgm.performance_baselines',
    status: 'succeeded',
    details: { baseline_id: id },
  });
  return {
    ...base,
    status: 'succeeded',
    durationMs: elapsedMs(started),
    baselineId: id,
    statements: snapshot.statements.size,
    message: `baseline ${id} stored (${snapshot.statements.size} statements)`,
  };
}

/** A logger that replaces every SQL string constant in messages and string fields by '…'. */
function redactingLogger(logger: Logger | undefined): Logger | undefined {
  if (!logger) return undefined;
  const fields = (f?: Record<string, unknown>) =>
    f &&
    Object.fromEntries(Object.entries(f).map(([k, v]) => [k, typeof v === 'string' ? redactLiterals(v) : v]));
  return {
    info: (m, f) => logger.info(redactLiterals(m), fields(f)),
    warn: (m, f) => logger.warn(redactLiterals(m), fields(f)),
    error: (m, f) => logger.error(redactLiterals(m), fields(f)),
  };
}
