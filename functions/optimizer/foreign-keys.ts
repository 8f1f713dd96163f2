import type pg from 'pg';
import { quoteIdent, quoteQualified } from '../db/identifiers.ts';
import { ownComment } from '../monitor/own-statements.ts';
import { resolveStatement } from './access.ts';
import { analyzeStatementSync } from './analyze.ts';
import type { Catalog, TableInfo } from './catalog.ts';
import foreignKeysSql from './sql/foreign-keys.sql';
import type { StatsSnapshot, WorkloadStatement } from './workload.ts';

/**
 * Foreign keys as part of the workload. A DELETE on a referenced (parent) table, and an UPDATE of its
 * referenced columns, make the server look up the referencing (child) rows by the foreign key's columns:
 * once per row, for the check (NO ACTION, RESTRICT) or the action (CASCADE, SET NULL, SET DEFAULT). Those
 * lookups run in a trigger: EXPLAIN of the parent's statement does not show them, and pg_stat_statements
 * lists them only with track = all. Without an index whose leading columns are the foreign key's, each is
 * a scan of the child. Each becomes a statement of the workload of its own (the lookup, run as many times
 * as the parent's statement changed rows), so that the index on the child's columns is a candidate
 * weighed like any other.
 */

export interface ForeignKey {
  name: string;
  child: { schema: string; name: string };
  parent: { schema: string; name: string };
  childColumns: string[];
  parentColumns: string[];
  /** confdeltype / confupdtype: a no action, r restrict, c cascade, n set null, d set default. */
  onDelete: string;
  onUpdate: string;
}

/** The foreign keys that reference any of the named tables (the children may be named by no statement). */
export async function loadReferencingKeys(
  client: pg.Client,
  names: Array<{ schema?: string; name: string }>,
): Promise<ForeignKey[]> {
  if (names.length === 0) return [];
  const { rows } = await client.query<{
    name: string;
    child_schema: string;
    child_name: string;
    parent_schema: string;
    parent_name: string;
    child_columns: string[];
    parent_columns: string[];
    on_delete: string;
    on_update: string;
  }>(`${ownComment('optimizer')} ${foreignKeysSql}`, [
    names.map((n) => n.schema ?? null),
    names.map((n) => n.name),
  ]);
  return rows.map((r) => ({
    name: r.name,
    child: { schema: r.child_schema, name: r.child_name },
    parent: { schema: r.parent_schema, name: r.parent_name },
    childColumns: r.child_columns,
    parentColumns: r.parent_columns,
    onDelete: r.on_delete,
    onUpdate: r.on_update,
  }));
}

/** Whether a valid index on the child leads with the key's columns (in any order): the lookup is served. */
export function keyIsIndexed(child: TableInfo, columns: readonly string[]): boolean {
  return child.indexes.some((i) => {
    if (!i.valid || i.predicate || i.method !== 'btree') return false;
    const lead = i.keys.slice(0, columns.length).map((k) => k.column);
    return lead.length === columns.length && columns.every((c) => lead.includes(c));
  });
}

/**
 * The child lookups the workload's DELETE and UPDATE statements cause, as workload statements: one per
 * (statement, foreign key) whose child columns no index leads with. Its calls are the rows the parent's
 * statement changed (pg_stat_statements' rows), each a lookup.
 */
export function foreignKeyLookups(
  statements: readonly WorkloadStatement[],
  keys: readonly ForeignKey[],
  catalog: Catalog,
  snapshot: StatsSnapshot | undefined,
): WorkloadStatement[] {
  const out: WorkloadStatement[] = [];
  for (const s of statements) {
    const parent = s.resolved?.writes;
    const operation = s.resolved?.operation;
    if (!parent || s.skipped || (operation !== 'delete' && operation !== 'update')) continue;
    for (const k of keys) {
      if (parent.schema !== k.parent.schema || parent.name !== k.parent.name) continue;
      const child = catalog.lookup(k.child.schema, k.child.name);
      if (!child || keyIsIndexed(child, k.childColumns)) continue;
      // An UPDATE looks the child up only when it sets a referenced column.
      if (operation === 'update' && !s.resolved!.setColumns.some((c) => k.parentColumns.includes(c)))
        continue;
      const stat = s.queryid && snapshot?.available ? snapshot.statements.get(s.queryid) : undefined;
      const rows = Math.max(s.calls, stat?.rows ?? s.calls);
      const text = `SELECT 1 FROM ${quoteQualified(child.schema, child.name)} WHERE ${k.childColumns
        .map((c, i) => `${quoteIdent(c)} = $${i + 1}`)
        .join(' AND ')}`;
      const parsed = analyzeStatementSync(text);
      if (!parsed.analysis) continue;
      out.push({
        id: `fk:${k.name}:${s.id}`,
        queryid: null,
        text,
        name: `foreign key ${k.name}: ${child.schema}.${child.name}(${k.childColumns.join(', ')}) looked up by ${operation === 'delete' ? 'a DELETE' : 'an UPDATE'} on ${parent.schema}.${parent.name}`,
        calls: rows,
        // The time is the parent statement's: the lookups are part of it.
        totalMs: s.totalMs,
        meanMs: rows > 0 ? s.totalMs / rows : 0,
        tempBlksWritten: 0,
        analysis: parsed.analysis,
        resolved: resolveStatement(parsed.analysis, catalog),
      });
    }
  }
  return out;
}
