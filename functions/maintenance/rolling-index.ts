import type pg from 'pg';
import { parseQualifiedName, quoteIdent, quoteQualified } from '../db/identifiers.ts';
import { fitIdentifier, type MaintenanceAction } from './plan.ts';
import indexSql from './sql/rolling-index.sql';
import partitionsSql from './sql/rolling-index-partitions.sql';

/**
 * Rolling partial indexes: an index predicate must be immutable, so "the last 30 days" is written as
 * `column >= <constant>` and the constant is moved forward once a month. The new index is built without
 * blocking writes: on a partitioned table as an invalid `ON ONLY` parent, CREATE INDEX CONCURRENTLY on
 * every partition, ALTER INDEX ... ATTACH PARTITION (the parent turns valid when the last one is attached),
 * then the old index is dropped and the new one takes its name in one short transaction.
 */

export interface RollingIndexSpec {
  index: string;
  keepMonths: number;
}

/**
 * The rolling indexes to maintain: the config's, then those registered in dgm.rolling_indexes (the
 * design's "recent metrics" index is registered by migration 012); the config wins for the same index.
 */
export async function rollingIndexSpecs(
  client: pg.Client,
  configured: RollingIndexSpec[],
): Promise<RollingIndexSpec[]> {
  const { rows } = await client.query<{ index_name: string; keep_months: number }>(
    'SELECT index_name, keep_months FROM dgm.rolling_indexes ORDER BY index_name',
  );
  const keyOf = (text: string) => {
    try {
      const p = parseQualifiedName(text);
      return `${p.schema ?? 'public'}\u0000${p.name}`;
    } catch {
      return text;
    }
  };
  const seen = new Set(configured.map((c) => keyOf(c.index)));
  return [
    ...configured,
    ...rows
      .filter((r) => !seen.has(keyOf(r.index_name)))
      .map((r) => ({ index: r.index_name, keepMonths: Number(r.keep_months) })),
  ];
}

export interface RollingIndexRow {
  indexrelid: number;
  indrelid: number;
  index_name: string;
  index_kind: string;
  table_schema: string;
  table_name: string;
  table_kind: string;
  definition: string;
  predicate: string | null;
  am_ident: string;
  is_unique: boolean;
  is_valid: boolean;
  index_ident: string;
  table_text: string;
  column_ident: string | null;
  cutoff: Date | null;
  column_type: string | null;
  wanted_literal: string | null;
}

export interface RollingPartitionRow {
  relid: number;
  parent_relid: number;
  is_leaf: boolean;
  level: number;
  schema_name: string;
  table_name: string;
  planned_index_name: string;
  attached_index: string | null;
  named_index: string | null;
  named_index_valid: boolean | null;
  named_index_attached: boolean | null;
}

export interface RollingIndexFacts {
  spec: RollingIndexSpec;
  schema: string;
  name: string;
  nextName: string;
  wanted: Date;
  current?: RollingIndexRow;
  next?: RollingIndexRow;
  /** The table's partitions, with what the "next" index already has on them. */
  partitions: RollingPartitionRow[];
}

/** The first day (UTC) of the month keepMonths before now's month. */
export function rollingCutoff(now: Date, keepMonths: number): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - keepMonths, 1));
}

function childSuffix(wanted: Date): string {
  return `_c${wanted.toISOString().slice(0, 10).replaceAll('-', '')}`;
}

/** Reads what planning a rolling index needs; the session must run with TimeZone UTC. */
export async function collectRollingIndexFacts(
  client: pg.Client,
  spec: RollingIndexSpec,
  now: Date,
): Promise<RollingIndexFacts> {
  const parsed = parseQualifiedName(spec.index);
  const schema = parsed.schema ?? 'public';
  const nextName = fitIdentifier(parsed.name, '_next');
  const wanted = rollingCutoff(now, spec.keepMonths);
  const { rows } = await client.query<RollingIndexRow>(indexSql, [schema, parsed.name, nextName, wanted]);
  const current = rows.find((r) => r.index_name === parsed.name);
  const next = rows.find((r) => r.index_name === nextName);
  const table = current ?? next;
  let partitions: RollingPartitionRow[] = [];
  if (table?.table_kind === 'p') {
    partitions = (
      await client.query<RollingPartitionRow>(partitionsSql, [
        table.indrelid,
        next?.indexrelid ?? null,
        childSuffix(wanted),
      ])
    ).rows;
  }
  return { spec, schema, name: parsed.name, nextName, wanted, current, next, partitions };
}

/** The part of an index definition between `USING am` and `WHERE`: columns, INCLUDE, WITH. */
function indexBody(row: RollingIndexRow): string | undefined {
  const prefix = `CREATE ${row.is_unique ? 'UNIQUE ' : ''}INDEX ${row.index_ident} ON ${
    row.table_kind === 'p' ? 'ONLY ' : ''
  }${row.table_text} USING ${row.am_ident} `;
  const suffix = ` WHERE ${row.predicate}`;
  if (!row.definition.startsWith(prefix) || !row.definition.endsWith(suffix)) return undefined;
  return row.definition.slice(prefix.length, row.definition.length - suffix.length);
}

/** The actions that move a rolling index's cutoff forward (none when it is current). */
export function planRollingIndex(f: RollingIndexFacts): MaintenanceAction[] {
  const target = quoteQualified(f.schema, f.name);
  const group = `roll:${target}`;
  const base = { task: 'partitions' as const, group, target };
  const problem = (text: string): MaintenanceAction[] => [
    {
      ...base,
      kind: 'roll_partial_index',
      reason: 'rolling partial index',
      statements: [],
      mode: 'transaction',
      problem: text,
    },
  ];
  const qNext = quoteQualified(f.schema, f.nextName);
  const assertValid = { text: 'SELECT dgm.assert_index_valid($1::regclass)', values: [qNext] };
  const rename: MaintenanceAction = {
    ...base,
    kind: 'swap_partial_index',
    reason: `the rebuilt index takes the name ${f.name}`,
    statements: [assertValid, `ALTER INDEX ${qNext} RENAME TO ${quoteIdent(f.name)}`],
    mode: 'transaction',
  };
  const { current, next } = f;
  if (!current) {
    // The old index was dropped and the rename did not follow (an interrupted run): finish it.
    if (next?.is_valid) return [rename];
    // Not there (dropped by its owner, or never created): nothing to roll. Recreating it would undo the
    // owner's decision, and the configuration names the index, not its definition.
    return [
      {
        ...base,
        kind: 'roll_partial_index',
        reason: 'rolling partial index',
        statements: [],
        mode: 'transaction',
        skip: `index ${f.spec.index} does not exist (dropped or never created): nothing to roll`,
      },
    ];
  }
  if (!current.column_ident || !current.cutoff || !current.wanted_literal) {
    return problem(`index ${f.spec.index} has no predicate of the form column >= constant`);
  }
  if (current.cutoff.getTime() >= f.wanted.getTime() && !next) return [];
  const body = indexBody(current);
  if (body === undefined) return problem(`cannot rebuild the definition of ${f.spec.index}`);
  const predicate = `${current.column_ident} >= ${current.wanted_literal}`;
  const unique = current.is_unique ? 'UNIQUE ' : '';
  const table = quoteQualified(current.table_schema, current.table_name);
  const reason = `cutoff ${current.cutoff.toISOString().slice(0, 10)} -> ${f.wanted.toISOString().slice(0, 10)}`;
  const nextUsable = next !== undefined && next.cutoff?.getTime() === f.wanted.getTime();
  const actions: MaintenanceAction[] = [];

  if (current.table_kind !== 'p') {
    if (next && !(nextUsable && next.is_valid)) {
      actions.push({
        ...base,
        kind: 'drop_index',
        reason: 'an earlier rebuild with another cutoff or an invalid build',
        statements: [`DROP INDEX CONCURRENTLY IF EXISTS ${qNext}`],
        mode: 'autocommit',
      });
    }
    if (!(nextUsable && next?.is_valid)) {
      actions.push({
        ...base,
        kind: 'create_index_concurrently',
        target: qNext,
        reason,
        statements: [
          `CREATE ${unique}INDEX CONCURRENTLY ${quoteIdent(f.nextName)} ON ${table} USING ${current.am_ident} ${body} WHERE ${predicate}`,
        ],
        mode: 'autocommit',
        cleanup: { schema: f.schema, table: current.table_name, exact: [f.nextName] },
      });
    }
    actions.push(
      {
        ...base,
        kind: 'drop_index',
        reason: 'replaced by the rebuilt index',
        statements: [assertValid, `DROP INDEX CONCURRENTLY IF EXISTS ${target}`],
        mode: 'autocommit',
      },
      rename,
    );
    return actions;
  }

  // Partitioned: an ON ONLY parent, then every partition bottom-up, then the swap.
  const fresh = !nextUsable;
  if (next && fresh) {
    actions.push({
      ...base,
      kind: 'drop_index',
      reason: 'an earlier rebuild with another cutoff',
      statements: [`DROP INDEX IF EXISTS ${qNext}`],
      mode: 'transaction',
    });
  }
  if (fresh) {
    actions.push({
      ...base,
      kind: 'create_parent_index',
      target: qNext,
      reason,
      statements: [
        `CREATE ${unique}INDEX ${quoteIdent(f.nextName)} ON ONLY ${table} USING ${current.am_ident} ${body} WHERE ${predicate}`,
      ],
      mode: 'transaction',
    });
  }
  const byRelid = new Map(f.partitions.map((p) => [p.relid, p]));
  const parentIndexOf = (p: RollingPartitionRow) => {
    const parent = byRelid.get(p.parent_relid);
    return parent ? quoteQualified(parent.schema_name, parent.planned_index_name) : qNext;
  };
  const pending = f.partitions.filter((p) => fresh || !p.attached_index);
  const ownIndex = (p: RollingPartitionRow) => quoteQualified(p.schema_name, p.planned_index_name);
  const attach = (p: RollingPartitionRow): MaintenanceAction => ({
    ...base,
    kind: 'attach_index',
    target: ownIndex(p),
    reason: `part of ${f.nextName}`,
    statements: [`ALTER INDEX ${parentIndexOf(p)} ATTACH PARTITION ${ownIndex(p)}`],
    mode: 'transaction',
  });
  for (const p of pending.filter((x) => !x.is_leaf).sort((a, b) => a.level - b.level)) {
    if (p.named_index && !fresh) continue;
    actions.push({
      ...base,
      kind: 'create_parent_index',
      target: ownIndex(p),
      reason,
      statements: [
        `CREATE ${unique}INDEX ${quoteIdent(p.planned_index_name)} ON ONLY ${quoteQualified(p.schema_name, p.table_name)} USING ${current.am_ident} ${body} WHERE ${predicate}`,
      ],
      mode: 'transaction',
    });
  }
  for (const p of pending.filter((x) => x.is_leaf)) {
    const reusable = !fresh && p.named_index !== null && p.named_index_valid === true;
    if (!reusable) {
      if (p.named_index !== null) {
        actions.push({
          ...base,
          kind: 'drop_index',
          target: ownIndex(p),
          reason: 'an invalid or stale build of ours',
          statements: [`DROP INDEX CONCURRENTLY IF EXISTS ${ownIndex(p)}`],
          mode: 'autocommit',
        });
      }
      actions.push({
        ...base,
        kind: 'create_index_concurrently',
        target: ownIndex(p),
        reason,
        statements: [
          `CREATE ${unique}INDEX CONCURRENTLY ${quoteIdent(p.planned_index_name)} ON ${quoteQualified(p.schema_name, p.table_name)} USING ${current.am_ident} ${body} WHERE ${predicate}`,
        ],
        mode: 'autocommit',
        cleanup: { schema: p.schema_name, table: p.table_name, exact: [p.planned_index_name] },
      });
    }
    actions.push(attach(p));
  }
  for (const p of pending.filter((x) => !x.is_leaf).sort((a, b) => b.level - a.level))
    actions.push(attach(p));
  actions.push({
    ...base,
    kind: 'swap_partial_index',
    reason: `replaces ${f.name} (${reason})`,
    statements: [assertValid, `DROP INDEX ${target}`, `ALTER INDEX ${qNext} RENAME TO ${quoteIdent(f.name)}`],
    mode: 'transaction',
  });
  return actions;
}
