import type pg from 'pg';
import type { AuditTrail } from '../compliance/audit.ts';
import type { RuntimeConfig } from '../config.ts';
import { quoteQualified } from '../db/identifiers.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../ports.ts';
import { explainTargetOf } from './advisor.ts';
import { type BuildOutcome, ddlOptions, dropAutoIndex, executeBuild, indexTreeNames } from './apply.ts';
import type { IndexBuildPlan } from './build-plan.ts';
import { type KeptBuild, measureBystanders, slowedBystanders } from './bystanders.ts';
import { judgeBuild, type LatencyComparison, type VerificationResult } from './judge.ts';
import {
  type ExecutableInstance,
  executableInstance,
  type LatencyMeasurement,
  measureLatency,
} from './measure.ts';
import { withExplainer } from './planner.ts';
import type { WorkloadStatement } from './workload.ts';

export interface AppliedAction {
  /** reconcile_index: a build an interrupted run left, finished or dropped (apply.ts reconcileInterruptedBuilds). */
  action: 'create_index' | 'drop_index' | 'verify_index' | 'reconcile_index';
  target: string;
  status: 'succeeded' | 'failed' | 'skipped';
  durationMs?: number;
  detail?: string;
  sql?: string[];
}

export interface ApplyOutcome {
  actions: AppliedAction[];
  verification: Array<{ index: string } & VerificationResult>;
  /** What changed for good: the indexes kept (the change point improvement is measured around). */
  changes: Array<Record<string, unknown>>;
  failed: number;
}

/**
 * Executes a build plan and checks every index it created: latency of its statements is measured
 * before any build and after, the plans must use it, and one that brings no measured benefit (or that
 * no plan uses) is dropped again. Every step is audited.
 */
export async function applyIndexPlan(
  client: pg.Client,
  plan: IndexBuildPlan,
  ctx: {
    audit: AuditTrail;
    config: RuntimeConfig;
    statements: Map<string, WorkloadStatement>;
    logger?: Logger;
    /** Epoch ms: no build starts after it (the Lambda's time is running out). */
    deadline?: number;
  },
): Promise<ApplyOutcome> {
  const { audit, config, logger } = ctx;
  const opt = config.optimization;
  const ddl = ddlOptions(config.maintenance);
  const out: ApplyOutcome = { actions: [], verification: [], changes: [], failed: 0 };

  // Latency before any build, for the statements each index is meant for.
  const before = new Map<string, LatencyMeasurement>();
  const instances = new Map<string, ExecutableInstance | undefined>();
  for (const step of plan.steps) {
    for (const st of step.recommendation.statements) {
      if (instances.has(st.id)) continue;
      const s = ctx.statements.get(st.id);
      const inst = s ? await executableInstance(client, s) : undefined;
      instances.set(st.id, inst);
      if (inst)
        before.set(
          st.id,
          await measureLatency(client, inst, opt.verifyRuns, { statementTimeoutMs: opt.evaluationTimeoutMs }),
        );
    }
  }

  // The costliest other reads of the same tables: a new index must not make them slower (bystanders.ts).
  const timeout = opt.evaluationTimeoutMs;
  const bystanders = await measureBystanders(client, plan, ctx.statements.values(), opt.verifyRuns, timeout);
  const kept: Array<KeptBuild & { step: IndexBuildPlan['steps'][number]; registryId: number }> = [];

  const outcomes: Array<BuildOutcome | undefined> = [];
  for (const step of plan.steps) {
    if (ctx.deadline !== undefined && Date.now() >= ctx.deadline) {
      out.actions.push({
        action: 'create_index',
        target: `${step.schema}.${step.name}`,
        status: 'skipped',
        detail: 'deadline reached: left for the next run',
      });
      outcomes.push(undefined);
      continue;
    }
    logger?.info(`optimize: creating ${step.name} on ${step.table}`);
    const built = await executeBuild(client, step, {
      audit,
      ddl,
      target: config.target,
      hash: config.constitutionalHash,
      logger,
    });
    outcomes.push(built);
    out.actions.push({
      action: 'create_index',
      target: `${step.schema}.${step.name}`,
      status: built.status === 'created' ? 'succeeded' : 'failed',
      durationMs: built.durationMs,
      detail: built.error ?? `${built.bytes} bytes${built.retries ? `, ${built.retries} lock retries` : ''}`,
      sql: step.statements.map((s) => s.sql),
    });
    if (built.status === 'failed') out.failed++;
  }

  // An expression index has no statistics until ANALYZE: the planner would guess its selectivity, and the
  // checks below (and the application, until autovacuum gets to it) would see plans made on the guess.
  const analyzed = new Set<string>();
  for (const [i, step] of plan.steps.entries()) {
    // So does a column whose statistics target the build raised (a trigram index's plain column).
    const needsStatistics =
      step.recommendation.candidate?.columns.some((x) => x.expression !== undefined) ||
      step.statements.some((s) => s.kind === 'statistics');
    const table = quoteQualified(step.schema, step.tableName);
    if (outcomes[i]?.status !== 'created' || !needsStatistics || analyzed.has(table)) continue;
    analyzed.add(table);
    await client.query(`ANALYZE ${table}`).catch((err: unknown) => {
      logger?.warn(`optimize: ANALYZE ${table} after the build failed: ${errorMessage(err)}`);
    });
  }

  for (const [i, step] of plan.steps.entries()) {
    const built = outcomes[i];
    if (built?.status !== 'created') continue;
    const qualified = `${step.schema}.${step.name}`;
    const names = await indexTreeNames(client, quoteQualified(step.schema, step.name));
    const usedBy: string[] = [];
    await withExplainer(client, { statementTimeoutMs: opt.evaluationTimeoutMs }, async (ex) => {
      for (const st of step.recommendation.statements) {
        const s = ctx.statements.get(st.id);
        if (!s) continue;
        const r = await ex.explain(explainTargetOf(s));
        if (r.indexes.some((n) => names.includes(n))) usedBy.push(s.name ?? st.id);
      }
    });
    const latency: LatencyComparison[] = [];
    for (const st of step.recommendation.statements) {
      const inst = instances.get(st.id);
      const b = before.get(st.id);
      if (!inst || !b || !Number.isFinite(b.medianMs)) continue;
      const a = await measureLatency(client, inst, opt.verifyRuns, {
        statementTimeoutMs: opt.evaluationTimeoutMs,
      });
      if (!Number.isFinite(a.medianMs)) continue;
      latency.push({
        id: st.id,
        name: st.name,
        before_ms: b.medianMs,
        after_ms: a.medianMs,
        improvement: b.medianMs > 0 ? Math.round((1 - a.medianMs / b.medianMs) * 10_000) / 10_000 : 0,
        ...(b.medianBlocks > 0 && Number.isFinite(a.medianBlocks)
          ? {
              before_blocks: b.medianBlocks,
              after_blocks: a.medianBlocks,
              blocks_improvement: Math.round((1 - a.medianBlocks / b.medianBlocks) * 10_000) / 10_000,
            }
          : {}),
      });
    }
    const verdict = judgeBuild(usedBy, latency, opt.minLatencyImprovement);
    out.verification.push({ index: qualified, ...verdict });
    await client.query('UPDATE dgm.auto_indexes SET verification = $2 WHERE id = $1', [
      built.registryId,
      JSON.stringify(verdict),
    ]);
    await audit.record({
      action: 'verify_index',
      target: qualified,
      status: 'succeeded',
      details: { verdict: verdict.verdict, reason: verdict.reason, latency, used_by: usedBy },
    });
    out.actions.push({
      action: 'verify_index',
      target: qualified,
      status: 'succeeded',
      detail: `${verdict.verdict}: ${verdict.reason}`,
    });
    if (verdict.verdict === 'drop') {
      const dropped = await dropAutoIndex(
        client,
        {
          id: built.registryId,
          index_schema: step.schema,
          index_name: step.name,
          table_schema: step.schema,
          table_name: step.tableName,
        },
        verdict.plan_uses ? 'no_benefit' : 'not_used_by_plans',
        verdict.reason,
        { audit, ddl },
      );
      out.actions.push({
        action: 'drop_index',
        target: qualified,
        status: dropped.status === 'dropped' ? 'succeeded' : 'failed',
        detail: dropped.error ?? verdict.reason,
        sql: [dropped.sql],
      });
    } else {
      out.changes.push({ action: 'create_index', index: qualified, table: step.table });
      const calls = (id: string) => Math.max(1, ctx.statements.get(id)?.calls ?? 1);
      const savedMs = latency.reduce(
        (sum, l) => sum + calls(l.id) * Math.max(0, l.before_ms - l.after_ms),
        0,
      );
      kept.push({ index: qualified, names, savedMs, step, registryId: built.registryId });
    }
  }
  for (const slow of await slowedBystanders(client, bystanders, kept, opt.verifyRuns, timeout)) {
    const k = kept.find((x) => x.index === slow.index)!;
    const reason = `it slowed ${slow.statement} from ${slow.beforeMs.toFixed(2)} to ${slow.afterMs.toFixed(2)} ms a call, ${Math.round(slow.lostMs)} ms over its calls, more than the ${Math.round(slow.savedMs)} ms it saved`;
    const row = { id: k.registryId, index_schema: k.step.schema, index_name: k.step.name };
    const table = { table_schema: k.step.schema, table_name: k.step.tableName };
    const dropped = await dropAutoIndex(client, { ...row, ...table }, 'no_benefit', reason, { audit, ddl });
    out.actions.push({
      action: 'drop_index',
      target: slow.index,
      status: dropped.status === 'dropped' ? 'succeeded' : 'failed',
      detail: dropped.error ?? reason,
      sql: [dropped.sql],
    });
    const v = out.verification.find((x) => x.index === slow.index);
    if (v) Object.assign(v, { verdict: 'drop', reason });
    if (dropped.status === 'dropped') out.changes = out.changes.filter((c) => c.index !== slow.index);
  }
  return out;
}
