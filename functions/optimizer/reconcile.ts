import type pg from 'pg';
import type { AuditTrail } from '../compliance/audit.ts';
import { quoteQualified } from '../db/identifiers.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../ports.ts';
import { type DdlOptions, dropIndexTree, indexBytes, indexIncompleteness, runDdl } from './apply.ts';
import { partitionIndexName, readPartitionTree } from './build-plan.ts';
import { PATTERN_STATISTICS_TARGET } from './candidate-sql.ts';
import patternStatisticsSql from './sql/pattern-statistics.sql';

export interface ReconciledBuild {
  id: number;
  index: string;
  /**
   * finished: the interrupted build had completed, kept on probation; dropped: its remains removed;
   * statistics: a live index given the statistics target the build plan now sets.
   */
  outcome: 'finished' | 'dropped' | 'failed' | 'statistics';
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

/**
 * The registry's live trigram indexes brought to what a build now does: the statistics target on their
 * expressions (candidate-sql.ts PATTERN_STATISTICS_TARGET), for indexes built before the build plan set
 * it or by a build interrupted between the CREATE and the ALTER INDEX; then their tables ANALYZEd, so
 * the planner reads the larger histogram at once. A kept database gets what a new one gets.
 */
export async function reconcileStatisticsTargets(
  client: pg.Client,
  target: string,
  ctx: { audit: AuditTrail; ddl: DdlOptions; logger?: Logger },
): Promise<ReconciledBuild[]> {
  const { rows } = await client.query<{ id: string; index_name: string; table_name: string; attnum: number }>(
    patternStatisticsSql,
    [target, PATTERN_STATISTICS_TARGET],
  );
  const out: ReconciledBuild[] = [];
  const tables = new Set<string>();
  for (const r of rows) {
    const sql = `ALTER INDEX ${r.index_name} ALTER COLUMN ${r.attnum} SET STATISTICS ${PATTERN_STATISTICS_TARGET}`;
    const detail = `statistics target of expression column ${r.attnum} set to ${PATTERN_STATISTICS_TARGET}`;
    try {
      await ctx.audit.timed('set_statistics', r.index_name, sql, () =>
        runDdl(client, { sql, kind: 'statistics', index: r.index_name }, ctx.ddl),
      );
      tables.add(r.table_name);
      out.push({ id: Number(r.id), index: r.index_name, outcome: 'statistics', detail, sql: [sql] });
    } catch (err) {
      const error = errorMessage(err);
      out.push({
        id: Number(r.id),
        index: r.index_name,
        outcome: 'failed',
        detail: `${detail}: ${error}`,
        sql: [sql],
      });
    }
  }
  for (const t of tables) {
    await client.query(`ANALYZE ${t}`).catch((err: unknown) => {
      ctx.logger?.warn(`optimize: ANALYZE ${t} failed: ${errorMessage(err)}`);
    });
  }
  return out;
}
