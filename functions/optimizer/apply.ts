import type pg from 'pg';
import type { AuditTrail } from '../compliance/audit.ts';
import type { MaintenanceConfig } from '../config.ts';
import { quoteIdent, quoteQualified } from '../db/identifiers.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../ports.ts';
import {
  type BuildStatement,
  buildStatements,
  type IndexBuildStep,
  partitionIndexName,
  readPartitionTree,
} from './build-plan.ts';
import { PATTERN_STATISTICS_TARGET } from './candidate-sql.ts';
import { capTimeout } from './planner.ts';
import columnStatisticsResetSql from './sql/column-statistics-reset.sql';

/**
 * Automatic index creation, the execution of a plan (build-plan.ts): every statement under lock_timeout
 * with retries, audited, and every index registered in dgm.auto_indexes; what a failed build left is
 * removed; an index the optimizer built is dropped with its partitions' indexes.
 */

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
            s.kind === 'attach'
              ? 'attach_index'
              : s.kind === 'statistics'
                ? 'set_statistics'
                : 'create_index',
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
           WHERE s.indexrelid IN (SELECT relid FROM pg_partition_tree(to_regclass($3)) UNION SELECT to_regclass($3))),
         review = CASE WHEN cardinality($4::text[]) > 0
                       THEN review || jsonb_build_object('column_statistics', to_jsonb($4::text[])) ELSE review END
       WHERE id = $1`,
      [
        registryId,
        bytes,
        quoteQualified(step.schema, step.name),
        step.statements.flatMap((x) => (x.column ? [x.column] : [])),
      ],
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
  // The statistics target the build raised on a column (a trigram index's plain column) goes back to the
  // default, unless another trigram index still reads the column or the target was changed since.
  const { rows } = await client.query<{ column_name: string; table_schema: string; table_name: string }>(
    columnStatisticsResetSql,
    [row.id, PATTERN_STATISTICS_TARGET],
  );
  const resets: string[] = [];
  for (const r of rows) {
    const table = quoteQualified(r.table_schema, r.table_name);
    const reset = `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(r.column_name)} SET STATISTICS -1`;
    const done = await ctx.audit
      .timed('set_statistics', table, reset, () =>
        runDdl(client, { sql: reset, kind: 'statistics', index: table }, ctx.ddl),
      )
      .then(() => true)
      .catch(() => false);
    if (done) resets.push(reset);
  }
  return { status: 'dropped', sql: [sql, ...resets].filter(Boolean).join(';\n') };
}
