import type { StatementShape, TableRef } from './statement-shape.ts';

/**
 * Which statements are the application's workload, for every part of dgm-db-ops that lists, counts or
 * optimizes statements (the sampler's top and slow lists, operation/table figures and metrics, the
 * optimizer's workload, the report). One rule, applied to a statement's text and parsed shape and
 * recorded once per queryid (dgm.statement_shapes.not_workload):
 *
 * - a statement carrying the marker `dgm-db-ops:<part>` is the tool's own (the sampler, maintenance,
 *   the optimizer, migrations, the demo's loaders, the report, the governance check);
 * - utility statements (ANALYZE, VACUUM, CREATE/ALTER/DROP, EXPLAIN, SET, PREPARE, COPY, CALL, DO ...);
 * - statements that call one of the tool's own functions (dgm.create_partitions, ...);
 * - statements whose tables are all system catalogs or the tool's own bookkeeping objects;
 * - statements that name no table and call only built-in functions (SELECT set_config(...), SELECT 1);
 * - texts that are not a statement (PL/pgSQL expressions reported nested, track = all).
 *
 * The application's tables may live in the tool's schema too (the demo's do): only the objects listed
 * here are the tool's own.
 */

/** Every marker starts with this; statements are matched on it (`LIKE '%dgm-db-ops:%'`). */
export const OWN_MARKER_PREFIX = 'dgm-db-ops:';

/** The part of dgm-db-ops a marked statement belongs to. */
export type OwnPart =
  | 'sampler'
  | 'maintenance'
  | 'optimizer'
  | 'migrate'
  | 'demo'
  | 'report'
  | 'governance'
  | 'compliance';

/** The comment marking a statement of `part`. */
export function ownComment(part: OwnPart): string {
  return `/* ${OWN_MARKER_PREFIX}${part} */`;
}

/**
 * The comment that marks dgm-db-ops's own statements run with a sample (nested counts, pruning, timeouts,
 * alert inputs, query samples, the governance check). It goes inside a statement, after its first
 * keyword: PostgreSQL 18 stores a statement's text from its first token, so a leading comment is lost.
 * The SQL files spell it out too.
 */
export const SAMPLER_MARKER = `${OWN_MARKER_PREFIX}sampler`;
export const SAMPLER_COMMENT = ownComment('sampler');

/** The schema the tool's migrations create their objects in. */
export const OWN_SCHEMA = 'dgm';

/**
 * The tool's own bookkeeping tables and views in OWN_SCHEMA (created by its migrations and the migrate
 * runner). test/unit/own-statements.test.ts checks this list against the migration files.
 */
export const OWN_TABLES: ReadonlySet<string> = new Set([
  'schema_migrations',
  'constitution',
  'optimization_audit',
  'stat_snapshots',
  'partition_config',
  'stat_statement_baseline',
  'statement_shapes',
  'performance_baselines',
  'performance_baseline_queries',
  'auto_indexes',
  'query_samples',
  'optimizer_runs',
  'governance_events',
  'server_log_positions',
  'settings',
  'rolling_indexes',
  'index_usage',
  'slow_queries',
  'partition_sizes',
]);

/** The tool's own functions and procedures in OWN_SCHEMA (checked against the migrations as well). */
export const OWN_FUNCTIONS: ReadonlySet<string> = new Set([
  'assert_index_valid',
  'cleanup_old_partitions',
  'create_partitions',
  'daily_partition_maintenance',
  'fit_identifier',
  'list_value_suffix',
  'maintenance_lock_key',
  'partition_bound_literal',
  'partition_child_name',
  'partition_free_name',
  'partition_maintenance_plan',
  'partition_period_start',
  'partition_ranges',
  'partition_run_gate',
  'partition_suffix',
  'record_governance_event',
  'run_partition_maintenance',
  'run_partition_plan',
  'run_partition_sets',
  'slow_query_rows',
  'valid_partition_interval',
]);

/** Schemas of the system catalogs. */
export const SYSTEM_SCHEMAS: ReadonlySet<string> = new Set(['pg_catalog', 'information_schema', 'pg_toast']);

/** Built-in functions a statement without tables calls for the session, not for data. */
const SESSION_FUNCTIONS = new Set([
  'set_config',
  'current_setting',
  'current_database',
  'current_schema',
  'current_user',
  'now',
  'clock_timestamp',
  'version',
  'txid_current',
  'has_table_privilege',
  'has_schema_privilege',
  'has_database_privilege',
  'to_regclass',
  'quote_ident',
  'format',
]);

/** Why a statement is not the application's workload. */
export type NotWorkloadReason =
  | 'marked'
  | 'utility'
  | 'own function'
  | 'own objects'
  | 'system catalogs'
  | 'no table'
  | 'not a statement';

/**
 * Whether a table is a system catalog or view: in a system schema, or named pg_* (unqualified names
 * resolve to pg_catalog first; extensions' statistics views such as pg_stat_statements live in any schema).
 */
export function isSystemTable(t: TableRef): boolean {
  if (t.schema && (SYSTEM_SCHEMAS.has(t.schema) || t.schema.startsWith('pg_'))) return true;
  return t.name.startsWith('pg_');
}

/** Whether a table is one of the tool's own bookkeeping objects. */
export function isOwnTable(t: TableRef): boolean {
  return t.schema === OWN_SCHEMA && OWN_TABLES.has(t.name);
}

/** Whether a function is one of the tool's own. */
export function isOwnFunction(f: TableRef): boolean {
  return (f.schema === OWN_SCHEMA || f.schema === null) && OWN_FUNCTIONS.has(f.name);
}

function isBuiltinFunction(f: TableRef): boolean {
  if (f.schema) return f.schema === 'pg_catalog';
  return f.name.startsWith('pg_') || SESSION_FUNCTIONS.has(f.name);
}

/**
 * Why a statement is not the application's workload, or null when it is. `shape` is its parsed shape
 * (statement-shape.ts shapeOf of the same text).
 */
export function notWorkloadReason(text: string, shape: StatementShape): NotWorkloadReason | null {
  if (text.includes(OWN_MARKER_PREFIX)) return 'marked';
  // Another role's statement this role may not read (without pg_read_all_stats): unknown, so counted.
  if (text.trim() === '<insufficient privilege>') return null;
  if (shape.error || shape.statementCount === 0) return 'not a statement';
  if (shape.operation === 'utility' || shape.operation === 'other') return 'utility';
  const functions = shape.functions ?? [];
  if (functions.some(isOwnFunction)) return 'own function';
  if (shape.tables.length === 0) return functions.every(isBuiltinFunction) ? 'no table' : null;
  if (shape.tables.every((t) => isSystemTable(t) || isOwnTable(t)))
    return shape.tables.some(isOwnTable) ? 'own objects' : 'system catalogs';
  return null;
}

const FIRST_KEYWORD = /^((?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*)([A-Za-z]+)/;

/**
 * The statement with the marker of `part` after its first keyword (where PostgreSQL 18 keeps it), for
 * statements built elsewhere (planned SQL the maintenance executor runs). Unchanged when it carries a
 * marker already or has no keyword.
 */
export function markOwnStatement(sql: string, part: OwnPart): string {
  if (sql.includes(OWN_MARKER_PREFIX)) return sql;
  return sql.replace(FIRST_KEYWORD, (_m, lead: string, word: string) => `${lead}${word} ${ownComment(part)}`);
}

const STRING_CONSTANT = /(?:[EeBbXxNnUu]&?)?'(?:[^']|'')*'|\$([A-Za-z_]\w*)?\$[\s\S]*?\$\1\$/g;

/**
 * A text with every SQL string constant replaced by '…': what a log line may say about a statement,
 * an index predicate or a plan (literal samples never reach logs, metrics or alerts).
 */
export function redactLiterals(text: string): string {
  return text.replace(STRING_CONSTANT, "'…'");
}
