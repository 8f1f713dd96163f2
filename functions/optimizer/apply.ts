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

/** The partition tree of one table (level 0 is the table itself); empty when the table is gone. */
export async function readPartitionTree(client: pg.Client, table: string | number): Promise<PartitionNode[]> {
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
     FROM pg_partition_tree(${typeof table === 'number' ? '$1::oid' : 'to_regclass($1)'}) t
     JOIN pg_class c ON c.oid = t.relid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_class pc ON pc.oid = t.parentrelid LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
     ORDER BY t.level, c.relname`,
    [table],
  );
  return rows.map((r) => ({
    schema: r.schema,
    name: r.name,
    parent: r.parent_name === null ? undefined : quoteQualified(r.parent_schema!, r.parent_name),
    isLeaf: r.isleaf,
    level: r.level,
  }));
}

/** Reads the partition trees of partitioned tables (level 0 is the root). */
export async function readPartitionTrees(
  client: pg.Client,
  tables: TableInfo[],
): Promise<Map<number, PartitionNode[]>> {
  const out = new Map<number, PartitionNode[]>();
  for (const t of tables.filter((x) => x.relkind === 'p'))
    out.set(t.oid, await readPartitionTree(client, t.oid));
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

async function isValidIndex(client: pg.Client, index: string): Promise<boolean> {
  const { rows } = await client.query<{ valid: boolean | null }>(
    `SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)) AS valid`,
    [index],
  );
  return rows[0]?.valid === true;
}

/**
 * What the catalog says of an index built on a table: it exists and is valid, and on a partitioned
 * table every partition (also those created during the build) has a valid index attached in its tree.
 * Returns undefined when it is complete, else what is missing.
 */
export async function indexIncompleteness(
  client: pg.Client,
  index: string,
  table: string,
): Promise<string | undefined> {
  const { rows } = await client.query<{ exists: boolean; valid: boolean | null; missing: string[] | null }>(
    `SELECT to_regclass($1) IS NOT NULL AS exists,
            (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)) AS valid,
            (SELECT array_agg(c.relname::text ORDER BY c.relname)
             FROM pg_partition_tree(to_regclass($2)) t JOIN pg_class c ON c.oid = t.relid
             WHERE t.level > 0 AND to_regclass($1) IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM pg_partition_tree(to_regclass($1)) it
                               JOIN pg_index i ON i.indexrelid = it.relid
                               WHERE i.indrelid = t.relid AND i.indisvalid)) AS missing`,
    [index, table],
  );
  const r = rows[0]!;
  if (!r.exists) return `index ${index} does not exist`;
  if (r.missing && r.missing.length > 0)
    return `no valid index attached on partition(s) ${r.missing.slice(0, 5).join(', ')}${r.missing.length > 5 ? ` and ${r.missing.length - 5} more` : ''}`;
  if (!r.valid) return `index ${index} is INVALID`;
  return undefined;
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
      // IF NOT EXISTS passes over an INVALID index a failed build left under the same name: the build
      // is done only when the catalog says the index is valid.
      if (statement.kind === 'create_concurrently' && !(await isValidIndex(client, statement.index))) {
        throw Object.assign(new Error(`index ${statement.index} is INVALID after its build`), {
          code: 'DGM_INVALID',
        });
      }
      return attempt;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (statement.kind === 'create_concurrently')
        await dropIfInvalid(client, statement.index).catch(() => {});
      if ((code === '55P03' || code === '40P01' || code === 'DGM_INVALID') && attempt < o.retries) {
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
    const root = quoteQualified(step.schema, step.name);
    const run = async (statements: BuildStatement[]) => {
      for (const s of statements) {
        ctx.logger?.info(`optimize: ${s.sql}`);
        try {
          retries += await ctx.audit.timed(
            s.kind === 'attach' ? 'attach_index' : 'create_index',
            s.index,
            s.sql,
            () => runDdl(client, s, ctx.ddl),
          );
        } catch (err) {
          // A partition dropped by retention during the build: nothing to index there any more.
          if (s.index !== root && (err as { code?: string }).code === '42P01') continue;
          throw err;
        }
      }
    };
    await withTimeouts(client, ctx.ddl, async () => {
      await run(step.statements);
      // Partitions created while the build ran (partition maintenance does not wait for it) are not in
      // the plan: the tree is read again and what is missing is built and attached, until none is.
      for (let pass = 0; step.partitioned && pass < 5; pass++) {
        if (
          (await indexIncompleteness(client, root, quoteQualified(step.schema, step.tableName))) === undefined
        )
          break;
        const tree = await readPartitionTree(client, quoteQualified(step.schema, step.tableName));
        const done = new Set(step.statements.map((x) => x.sql));
        const more = buildStatements(step.recommendation.candidate, step.name, tree);
        // Creates are IF NOT EXISTS and attaching an attached index is a no-op: the new leaves and every
        // attach again (the attach chain must reach the root through the new ones).
        await run(more.filter((x) => !done.has(x.sql) || x.kind === 'attach'));
      }
    });
    // Reported created only when the catalog says so: valid on the root and on every partition.
    const incomplete = await indexIncompleteness(client, root, quoteQualified(step.schema, step.tableName));
    if (incomplete) throw new Error(`build incomplete: ${incomplete}`);
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
  await dropIndexTree(
    client,
    { schema: step.schema, name: step.name, tableSchema: step.schema, tableName: step.tableName },
    ctx,
  ).catch(() => {});
}

/**
 * Drops an index of ours and every index a build of it may have left on the table's partitions (their
 * names derive from the root's, attached or not): the root first (a partitioned one takes its attached
 * children with it), then the leftovers, each audited. Returns the statements and the first error.
 */
export async function dropIndexTree(
  client: pg.Client,
  ix: { schema: string; name: string; tableSchema: string; tableName: string },
  ctx: { audit: AuditTrail; ddl: DdlOptions },
): Promise<{ sql: string[]; error?: string }> {
  const root = quoteQualified(ix.schema, ix.name);
  const { rows } = await client.query<{ kind: string | null }>(
    `SELECT (SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)) AS kind`,
    [root],
  );
  const drops: string[] = [];
  let error: string | undefined;
  const drop = async (sql: string) => {
    drops.push(sql);
    await ctx.audit
      .timed('drop_index', root, sql, () => runDdl(client, { sql, kind: 'create', index: root }, ctx.ddl))
      .catch((err) => {
        error ??= errorMessage(err);
      });
  };
  await withTimeouts(client, ctx.ddl, async () => {
    // DROP INDEX CONCURRENTLY is not available for a partitioned index: a plain drop under lock_timeout.
    if (rows[0]?.kind)
      await drop(
        rows[0].kind === 'I' ? `DROP INDEX IF EXISTS ${root}` : `DROP INDEX CONCURRENTLY IF EXISTS ${root}`,
      );
    // What is left are partition indexes never attached (the build stopped before the attach).
    const tree = await readPartitionTree(client, quoteQualified(ix.tableSchema, ix.tableName));
    for (const n of tree.filter((x) => x.level > 0).sort((a, b) => b.level - a.level)) {
      const child = quoteQualified(n.schema, partitionIndexName(ix.name, n.name));
      const { rows: c } = await client.query<{ kind: string | null }>(
        `SELECT (SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)) AS kind`,
        [child],
      );
      if (!c[0]?.kind) continue;
      await drop(
        c[0].kind === 'I' ? `DROP INDEX IF EXISTS ${child}` : `DROP INDEX CONCURRENTLY IF EXISTS ${child}`,
      );
    }
  });
  return { sql: drops, ...(error ? { error } : {}) };
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

export type DropReason = 'no_benefit' | 'unused' | 'not_used_by_plans' | 'invalid' | 'interrupted' | 'manual';

/** Drops an index the optimizer created (registry row required) and what its build left, audited. */
export async function dropAutoIndex(
  client: pg.Client,
  row: { id: number; index_schema: string; index_name: string; table_schema: string; table_name: string },
  reason: DropReason,
  detail: string,
  ctx: { audit: AuditTrail; ddl: DdlOptions },
): Promise<{ status: 'dropped' | 'failed'; sql: string; error?: string }> {
  const out = await dropIndexTree(
    client,
    {
      schema: row.index_schema,
      name: row.index_name,
      tableSchema: row.table_schema,
      tableName: row.table_name,
    },
    ctx,
  ).catch((err) => ({ sql: [] as string[], error: errorMessage(err) }));
  const sql = out.sql.join(';\n');
  if (out.error) return { status: 'failed', sql, error: out.error };
  await client.query(
    `UPDATE dgm.auto_indexes SET status = 'dropped', dropped_at = now(), drop_reason = $2,
       review = review || jsonb_build_object('dropped_because', $3::text)
     WHERE id = $1`,
    [row.id, reason, detail],
  );
  return { status: 'dropped', sql };
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

export interface ReconciledBuild {
  id: number;
  index: string;
  /** finished: the interrupted build had completed, kept on probation; dropped: its remains removed. */
  outcome: 'finished' | 'dropped' | 'failed';
  detail: string;
  sql: string[];
}

/**
 * Builds an earlier run registered (`building`) but never finished: that run was interrupted (killed,
 * a server restart, a Lambda timeout). Called under the optimize lock, so no live run owns them. Each
 * is judged by the catalog: complete and valid on the root and every partition -> kept (active, on
 * probation); anything else -> everything its build left is dropped and the row marked failed with
 * drop_reason 'interrupted'. Audited either way, so the next build of the same name can go ahead.
 */
export async function reconcileInterruptedBuilds(
  client: pg.Client,
  target: string,
  ctx: { audit: AuditTrail; ddl: DdlOptions; logger?: Logger },
): Promise<ReconciledBuild[]> {
  const { rows } = await client.query<{
    id: string;
    index_schema: string;
    index_name: string;
    table_schema: string;
    table_name: string;
    run_id: string | null;
  }>(
    `SELECT id, index_schema, index_name, table_schema, table_name, run_id::text
     FROM dgm.auto_indexes WHERE target = $1 AND status = 'building' ORDER BY id`,
    [target],
  );
  const out: ReconciledBuild[] = [];
  for (const r of rows) {
    const id = Number(r.id);
    const index = quoteQualified(r.index_schema, r.index_name);
    const table = quoteQualified(r.table_schema, r.table_name);
    const incomplete = await indexIncompleteness(client, index, table);
    if (incomplete === undefined) {
      const detail = `run ${r.run_id ?? '?'} was interrupted after the build completed: kept, on probation`;
      await client.query(
        `UPDATE dgm.auto_indexes SET status = 'active', bytes = $2,
           verification = jsonb_build_object('interrupted', true, 'reason', $3::text),
           scans_at_creation = (SELECT coalesce(sum(s.idx_scan), 0) FROM pg_stat_all_indexes s
             WHERE s.indexrelid IN (SELECT relid FROM pg_partition_tree(to_regclass($4)) UNION SELECT to_regclass($4)))
         WHERE id = $1`,
        [id, await indexBytes(client, index), detail, index],
      );
      await ctx.audit.record({
        action: 'reconcile_index',
        target: index,
        status: 'succeeded',
        details: { outcome: 'finished', registry_id: id, interrupted_run: r.run_id, detail },
      });
      out.push({ id, index, outcome: 'finished', detail, sql: [] });
      continue;
    }
    const detail = `run ${r.run_id ?? '?'} was interrupted during the build (${incomplete})`;
    ctx.logger?.info(`optimize: ${index}: ${detail}; dropping what it left`);
    const dropped = await dropIndexTree(
      client,
      { schema: r.index_schema, name: r.index_name, tableSchema: r.table_schema, tableName: r.table_name },
      ctx,
    );
    const left = dropped.error ? undefined : await leftovers(client, r);
    if (dropped.error || (left && left.length > 0)) {
      const error = dropped.error ?? `still present: ${left!.join(', ')}`;
      await ctx.audit.record({
        action: 'reconcile_index',
        target: index,
        status: 'failed',
        error,
        details: { outcome: 'failed', registry_id: id, interrupted_run: r.run_id, detail },
      });
      out.push({
        id,
        index,
        outcome: 'failed',
        detail: `${detail}; drop failed: ${error}`,
        sql: dropped.sql,
      });
      continue;
    }
    await client.query(
      `UPDATE dgm.auto_indexes SET status = 'failed', dropped_at = now(), drop_reason = 'interrupted',
         review = review || jsonb_build_object('dropped_because', $2::text)
       WHERE id = $1`,
      [id, detail],
    );
    await ctx.audit.record({
      action: 'reconcile_index',
      target: index,
      status: 'succeeded',
      details: { outcome: 'dropped', registry_id: id, interrupted_run: r.run_id, detail, sql: dropped.sql },
    });
    out.push({ id, index, outcome: 'dropped', detail, sql: dropped.sql });
  }
  return out;
}

/** Indexes of an interrupted build still in the catalog: the root and its derived partition indexes. */
async function leftovers(
  client: pg.Client,
  r: { index_schema: string; index_name: string; table_schema: string; table_name: string },
): Promise<string[]> {
  const tree = await readPartitionTree(client, quoteQualified(r.table_schema, r.table_name));
  const names = [
    quoteQualified(r.index_schema, r.index_name),
    ...tree
      .filter((n) => n.level > 0)
      .map((n) => quoteQualified(n.schema, partitionIndexName(r.index_name, n.name))),
  ];
  const { rows } = await client.query<{ name: string }>(
    `SELECT n AS name FROM unnest($1::text[]) n WHERE to_regclass(n) IS NOT NULL`,
    [names],
  );
  return rows.map((x) => x.name);
}
