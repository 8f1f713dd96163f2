import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { AuditTrail } from '../compliance/audit.ts';
import type { MaintenanceConfig, OptimizationConfig } from '../config.ts';
import { quoteQualified } from '../db/identifiers.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../ports.ts';
import type { IndexRecommendation } from './advisor.ts';
import { type CandidateIndex, createIndexSql } from './candidates.ts';
import type { TableInfo } from './catalog.ts';
import { capTimeout } from './planner.ts';

/**
 * Automatic index creation: a plan (pure) of CREATE INDEX CONCURRENTLY steps under caps per run, per
 * table and on total size, skipping write-heavy tables; then its execution under lock_timeout with
 * retries, every statement audited and every index registered in dgm.auto_indexes. On a partitioned
 * table the index is created ON ONLY each partitioned level, built concurrently on every leaf, and the
 * leaves attached upwards, so no partition is ever locked against writes for the build.
 */

export interface PartitionNode {
  schema: string;
  name: string;
  /** Quoted qualified name of the parent ("schema"."name"; undefined at the root). */
  parent?: string;
  isLeaf: boolean;
  level: number;
}

export interface BuildStatement {
  sql: string;
  /** create: plain CREATE INDEX (ON ONLY) · create_concurrently · attach */
  kind: 'create' | 'create_concurrently' | 'attach';
  /** The index this statement creates or attaches ("schema"."name"). */
  index: string;
  /** For attach: the partitioned index it attaches to. */
  into?: string;
}

export interface IndexBuildStep {
  name: string;
  schema: string;
  table: string;
  tableName: string;
  partitioned: boolean;
  definition: string;
  estimatedBytes: number;
  statements: BuildStatement[];
  recommendation: IndexRecommendation;
}

export interface IndexBuildPlan {
  steps: IndexBuildStep[];
  skipped: Array<{ name: string; table: string; reason: string }>;
}

/** Statement calls that read and that write a table, in the workload (pg_stat_statements). */
export interface TableWorkloadMix {
  readCalls: number;
  writeCalls: number;
}

/** A size estimate where the evaluation gave none: entries of key width plus tuple overhead. */
export function estimateIndexBytes(c: CandidateIndex): number {
  const widths = c.columns.map((x) => c.table.columns.find((k) => k.name === x.column)?.avgWidth ?? 16);
  const entry = 16 + widths.reduce((s, w) => s + w, 0);
  const share = c.predicate ? 0.2 : 1;
  return Math.ceil(Math.max(c.table.reltuples, 1) * share * entry * 1.3) + 8192;
}

/** The name of a partition's index: derived from the root index and the partition, at most 63 bytes. */
export function partitionIndexName(rootIndex: string, partition: string): string {
  const hash = createHash('sha256').update(`${rootIndex}|${partition}`).digest('hex').slice(0, 8);
  let head = `${partition}_dgm_auto`;
  while (Buffer.byteLength(head) > 63 - 9) head = head.slice(0, -1);
  return `${head}_${hash}`;
}

/** The statements that build one candidate (pure). */
export function buildStatements(
  c: CandidateIndex,
  name: string,
  tree: PartitionNode[] | undefined,
): BuildStatement[] {
  const root = quoteQualified(c.table.schema, name);
  if (c.table.relkind !== 'p') {
    return [
      {
        sql: createIndexSql(c, { name, concurrently: true, ifNotExists: true }),
        kind: 'create_concurrently',
        index: root,
      },
    ];
  }
  const nodes = (tree ?? []).filter((n) => n.level > 0);
  const indexOf = new Map<string, string>();
  indexOf.set(quoteQualified(c.table.schema, c.table.name), root);
  for (const n of nodes) {
    indexOf.set(quoteQualified(n.schema, n.name), quoteQualified(n.schema, partitionIndexName(name, n.name)));
  }
  const creates: BuildStatement[] = [
    { sql: createIndexSql(c, { name, only: true, ifNotExists: true }), kind: 'create', index: root },
  ];
  for (const n of nodes.filter((x) => !x.isLeaf).sort((a, b) => a.level - b.level)) {
    creates.push({
      sql: createIndexSql(c, {
        name: partitionIndexName(name, n.name),
        only: true,
        ifNotExists: true,
        on: { schema: n.schema, name: n.name },
      }),
      kind: 'create',
      index: indexOf.get(quoteQualified(n.schema, n.name))!,
    });
  }
  const builds: BuildStatement[] = nodes
    .filter((n) => n.isLeaf)
    .map((n) => ({
      sql: createIndexSql(c, {
        name: partitionIndexName(name, n.name),
        concurrently: true,
        ifNotExists: true,
        on: { schema: n.schema, name: n.name },
      }),
      kind: 'create_concurrently' as const,
      index: indexOf.get(quoteQualified(n.schema, n.name))!,
    }));
  // Attach bottom-up: a partitioned index becomes valid once all of its partitions' indexes are attached.
  const attaches: BuildStatement[] = [...nodes]
    .sort((a, b) => b.level - a.level)
    .map((n) => {
      const child = indexOf.get(quoteQualified(n.schema, n.name))!;
      const parent = indexOf.get(n.parent!)!;
      return {
        sql: `ALTER INDEX ${parent} ATTACH PARTITION ${child}`,
        kind: 'attach' as const,
        index: child,
        into: parent,
      };
    });
  return [...creates, ...builds, ...attaches];
}

export interface PlanInputs {
  recommendations: IndexRecommendation[];
  config: OptimizationConfig;
  /** Live auto-created indexes per table oid. */
  existingPerTable: Map<number, number>;
  /** Reads and writes per table oid, from the workload's statement calls. */
  mix: Map<number, TableWorkloadMix>;
  trees: Map<number, PartitionNode[]>;
}

/** Which recommendations to build this run, within the caps (pure). */
export function planIndexBuilds(inputs: PlanInputs): IndexBuildPlan {
  const { config } = inputs;
  const steps: IndexBuildStep[] = [];
  const skipped: IndexBuildPlan['skipped'] = [];
  const perTable = new Map(inputs.existingPerTable);
  let bytes = 0;
  const ordered = [...inputs.recommendations].sort(
    (a, b) => b.weightedCostBefore - b.weightedCostAfter - (a.weightedCostBefore - a.weightedCostAfter),
  );
  for (const r of ordered) {
    const t = r.candidate.table;
    const skip = (reason: string) => skipped.push({ name: r.name, table: r.table, reason });
    // Every index costs every write: a table written more often than it is read gets none automatically.
    const mix = inputs.mix.get(t.oid);
    if (mix && mix.writeCalls > config.writeHeavyRatio * mix.readCalls) {
      skip(
        `write-heavy table: ${Math.round(mix.writeCalls)} write calls against ${Math.round(mix.readCalls)} reads (writeHeavyRatio ${config.writeHeavyRatio})`,
      );
      continue;
    }
    if (steps.length >= config.maxIndexesPerRun) {
      skip(`maxIndexesPerRun (${config.maxIndexesPerRun}) reached`);
      continue;
    }
    if ((perTable.get(t.oid) ?? 0) >= config.maxIndexesPerTable) {
      skip(`maxIndexesPerTable (${config.maxIndexesPerTable}) reached on ${r.table}`);
      continue;
    }
    const estimate = r.estimatedBytes ?? estimateIndexBytes(r.candidate);
    if (bytes + estimate > config.maxIndexBytesPerRun) {
      skip(
        `maxIndexBytesPerRun (${config.maxIndexBytesPerRun}) would be exceeded (${estimate} bytes estimated)`,
      );
      continue;
    }
    if (t.relkind === 'p' && !inputs.trees.get(t.oid)) {
      skip('partition tree unknown');
      continue;
    }
    bytes += estimate;
    perTable.set(t.oid, (perTable.get(t.oid) ?? 0) + 1);
    steps.push({
      name: r.name,
      schema: t.schema,
      table: r.table,
      tableName: t.name,
      partitioned: t.relkind === 'p',
      definition: r.definition,
      estimatedBytes: estimate,
      statements: buildStatements(r.candidate, r.name, inputs.trees.get(t.oid)),
      recommendation: r,
    });
  }
  return { steps, skipped };
}

/** Reads the partition trees of partitioned tables (root excluded from nothing: level 0 is the root). */
export async function readPartitionTrees(
  client: pg.Client,
  tables: TableInfo[],
): Promise<Map<number, PartitionNode[]>> {
  const out = new Map<number, PartitionNode[]>();
  for (const t of tables.filter((x) => x.relkind === 'p')) {
    const { rows } = await client.query<{
      schema: string;
      name: string;
      parent_schema: string | null;
      parent_name: string | null;
      isleaf: boolean;
      level: number;
    }>(
      `SELECT n.nspname::text AS schema, c.relname::text AS name,
              pn.nspname::text AS parent_schema, pc.relname::text AS parent_name, t.isleaf, t.level
       FROM pg_partition_tree($1::oid) t JOIN pg_class c ON c.oid = t.relid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_class pc ON pc.oid = t.parentrelid LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
       ORDER BY t.level, c.relname`,
      [t.oid],
    );
    out.set(
      t.oid,
      rows.map((r) => ({
        schema: r.schema,
        name: r.name,
        parent: r.parent_name === null ? undefined : quoteQualified(r.parent_schema!, r.parent_name),
        isLeaf: r.isleaf,
        level: r.level,
      })),
    );
  }
  return out;
}

export interface DdlOptions {
  lockTimeoutMs: number;
  retries: number;
  backoffMs: number;
  statementTimeoutMs: number;
}

export function ddlOptions(m: MaintenanceConfig): DdlOptions {
  return {
    lockTimeoutMs: m.lockTimeoutMs,
    retries: m.lockRetries,
    backoffMs: m.retryBackoffMs,
    statementTimeoutMs: m.statementTimeoutMs,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs fn with the session's lock_timeout and statement_timeout set, restoring them afterwards. */
async function withTimeouts<T>(client: pg.Client, o: DdlOptions, fn: () => Promise<T>): Promise<T> {
  const { rows } = await client.query<{ lt: string; st: string }>(
    `SELECT (SELECT setting FROM pg_settings WHERE name = 'lock_timeout') AS lt,
            (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS st`,
  );
  // Never longer than the session allows: in a Lambda it is set below the remaining time.
  await client.query(
    `SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)`,
    [String(o.lockTimeoutMs), String(capTimeout(Number(rows[0]!.st), o.statementTimeoutMs))],
  );
  try {
    return await fn();
  } finally {
    await client
      .query(`SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)`, [
        rows[0]!.lt,
        rows[0]!.st,
      ])
      .catch(() => {});
  }
}

/** An index left INVALID by a failed concurrent build is dropped before anything else is tried. */
async function dropIfInvalid(client: pg.Client, index: string): Promise<void> {
  const { rows } = await client.query<{ invalid: boolean }>(
    `SELECT NOT i.indisvalid AS invalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)`,
    [index],
  );
  if (rows[0]?.invalid) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`);
}

/**
 * One DDL statement under lock_timeout: on a lock timeout it waits (backoff 1x, 2x, 4x...) and retries,
 * so it never sits in the lock queue in front of production traffic for longer than lock_timeout.
 */
export async function runDdl(client: pg.Client, statement: BuildStatement, o: DdlOptions): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.query(statement.sql);
      return attempt;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (statement.kind === 'create_concurrently')
        await dropIfInvalid(client, statement.index).catch(() => {});
      if ((code === '55P03' || code === '40P01') && attempt < o.retries) {
        await sleep(o.backoffMs * 2 ** attempt);
        continue;
      }
      throw err;
    }
  }
}

export interface BuildOutcome {
  name: string;
  table: string;
  status: 'created' | 'failed';
  durationMs: number;
  bytes?: number;
  retries: number;
  error?: string;
  registryId: number;
}

/** Executes one build step: registered, every statement audited, cleaned up on failure. */
export async function executeBuild(
  client: pg.Client,
  step: IndexBuildStep,
  ctx: {
    audit: AuditTrail;
    ddl: DdlOptions;
    target: string;
    hash: string;
    logger?: Logger;
    baselineId?: number;
  },
): Promise<BuildOutcome> {
  const started = performance.now();
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO dgm.auto_indexes
       (target, index_schema, index_name, table_schema, table_name, definition, status, run_id,
        constitutional_hash, estimated_bytes, target_queries)
     VALUES ($1, $2, $3, $4, $5, $6, 'building', $7, $8, $9, $10) RETURNING id`,
    [
      ctx.target,
      step.schema,
      step.name,
      step.schema,
      step.tableName,
      step.definition,
      ctx.audit.runId,
      ctx.hash,
      step.estimatedBytes,
      JSON.stringify(
        step.recommendation.statements.map((s) => ({
          id: s.id,
          queryid: s.queryid,
          name: s.name,
          calls: s.calls,
          cost_before: s.costBefore,
          cost_after: s.costAfter,
        })),
      ),
    ],
  );
  const registryId = Number(rows[0]!.id);
  let retries = 0;
  try {
    await withTimeouts(client, ctx.ddl, async () => {
      for (const s of step.statements) {
        ctx.logger?.info(`optimize: ${s.sql}`);
        retries += await ctx.audit.timed(
          s.kind === 'attach' ? 'attach_index' : 'create_index',
          s.index,
          s.sql,
          () => runDdl(client, s, ctx.ddl),
        );
      }
    });
    const bytes = await indexBytes(client, quoteQualified(step.schema, step.name));
    await client.query(
      `UPDATE dgm.auto_indexes SET status = 'active', bytes = $2,
         scans_at_creation = (SELECT coalesce(sum(s.idx_scan), 0) FROM pg_stat_all_indexes s
           WHERE s.indexrelid IN (SELECT relid FROM pg_partition_tree(to_regclass($3)) UNION SELECT to_regclass($3)))
       WHERE id = $1`,
      [registryId, bytes, quoteQualified(step.schema, step.name)],
    );
    return {
      name: step.name,
      table: step.table,
      status: 'created',
      durationMs: Math.round(performance.now() - started),
      bytes,
      retries,
      registryId,
    };
  } catch (err) {
    const message = errorMessage(err);
    await cleanupFailedBuild(client, step, ctx);
    await client.query(
      `UPDATE dgm.auto_indexes SET status = 'failed', drop_reason = $2, dropped_at = now() WHERE id = $1`,
      [registryId, message],
    );
    return {
      name: step.name,
      table: step.table,
      status: 'failed',
      durationMs: Math.round(performance.now() - started),
      retries,
      error: message,
      registryId,
    };
  }
}

/** Removes what a failed build left: the root (cascading to attached children) and unattached ones. */
async function cleanupFailedBuild(
  client: pg.Client,
  step: IndexBuildStep,
  ctx: { audit: AuditTrail; ddl: DdlOptions },
): Promise<void> {
  const root = quoteQualified(step.schema, step.name);
  const drops = [
    ...step.statements
      .filter((s) => s.kind === 'create_concurrently' && s.index !== root)
      .map((s) => `DROP INDEX CONCURRENTLY IF EXISTS ${s.index}`),
    step.partitioned ? `DROP INDEX IF EXISTS ${root}` : `DROP INDEX CONCURRENTLY IF EXISTS ${root}`,
    ...step.statements
      .filter((s) => s.kind === 'create' && s.index !== root)
      .map((s) => `DROP INDEX IF EXISTS ${s.index}`),
  ];
  await withTimeouts(client, ctx.ddl, async () => {
    for (const sql of drops) {
      await ctx.audit
        .timed('drop_index', step.name, sql, () =>
          runDdl(client, { sql, kind: 'create', index: root }, ctx.ddl),
        )
        .catch(() => {});
    }
  }).catch(() => {});
}

export async function indexBytes(client: pg.Client, qualified: string): Promise<number> {
  const { rows } = await client.query<{ bytes: string }>(
    `SELECT coalesce(sum(pg_relation_size(x.relid)), 0) AS bytes
     FROM (SELECT relid FROM pg_partition_tree(to_regclass($1)) UNION SELECT to_regclass($1)) x
     WHERE x.relid IS NOT NULL`,
    [qualified],
  );
  return Number(rows[0]?.bytes ?? 0);
}

/** Names of an index and its partitions' indexes, as plans print them. */
export async function indexTreeNames(client: pg.Client, qualified: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname::text AS name FROM pg_class c
     WHERE c.oid IN (SELECT relid FROM pg_partition_tree(to_regclass($1)) UNION SELECT to_regclass($1))`,
    [qualified],
  );
  return rows.map((r) => r.name);
}

export type DropReason = 'no_benefit' | 'unused' | 'not_used_by_plans' | 'manual';

/** Drops an index the optimizer created (registry row required), audited. */
export async function dropAutoIndex(
  client: pg.Client,
  row: { id: number; index_schema: string; index_name: string },
  reason: DropReason,
  detail: string,
  ctx: { audit: AuditTrail; ddl: DdlOptions },
): Promise<{ status: 'dropped' | 'failed'; sql: string; error?: string }> {
  const qualified = quoteQualified(row.index_schema, row.index_name);
  const { rows } = await client.query<{ partitioned: boolean | null }>(
    `SELECT (SELECT relkind = 'I' FROM pg_class WHERE oid = to_regclass($1)) AS partitioned`,
    [qualified],
  );
  // DROP INDEX CONCURRENTLY is not available for a partitioned index: a plain drop under lock_timeout.
  const sql = rows[0]?.partitioned
    ? `DROP INDEX IF EXISTS ${qualified}`
    : `DROP INDEX CONCURRENTLY IF EXISTS ${qualified}`;
  try {
    await withTimeouts(client, ctx.ddl, () =>
      ctx.audit.timed('drop_index', qualified, sql, () =>
        runDdl(client, { sql, kind: 'create', index: qualified }, ctx.ddl),
      ),
    );
    await client.query(
      `UPDATE dgm.auto_indexes SET status = 'dropped', dropped_at = now(), drop_reason = $2,
         review = review || jsonb_build_object('dropped_because', $3::text)
       WHERE id = $1`,
      [row.id, reason, detail],
    );
    return { status: 'dropped', sql };
  } catch (err) {
    return { status: 'failed', sql, error: errorMessage(err) };
  }
}

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
