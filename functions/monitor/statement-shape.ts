import { normalizeSync } from 'libpg-query';
import {
  list as asArray,
  isNode,
  loadParser,
  type ParseNode as Node,
  parserLoaded,
  parseStatements,
  preparedStatementBody,
  qualifiedName,
  walkEntries,
  walkNodes,
} from '../db/parse-tree.ts';

/**
 * What a statement is, read with libpg-query (the real PostgreSQL parser compiled to WebAssembly):
 * its normalized text, its operation, the table it mainly works on and every table it names. The
 * sampler groups pg_stat_statements entries by it; the optimizer reuses it for its workload.
 *
 * The parser is loaded lazily (`loadStatementParser`, about 20 ms once per process) so a sample that has
 * no new statement to read never pays for it. The tree is walked with the shared db/parse-tree.ts.
 */

export type StatementOperation = 'select' | 'insert' | 'update' | 'delete' | 'merge' | 'utility' | 'other';

/** A table as the statement names it; schema is null when the statement leaves it to the search_path. */
export interface TableRef {
  schema: string | null;
  name: string;
}

export interface StatementShape {
  /** Constants replaced by $n (existing $n kept), the statement's own spelling otherwise. */
  normalized: string;
  operation: StatementOperation;
  /** The target of a write, else the first table read (through CTEs, subqueries and set operations). */
  mainTable: TableRef | null;
  /** Every table named, once each, in the parse tree's order, CTE names left out. */
  tables: TableRef[];
  /** Every function called (FuncCall), once each, schema null when unqualified. */
  functions?: TableRef[];
  /** Statements in the text (pg_stat_statements texts hold one). */
  statementCount: number;
  /** The highest $n the normalized text uses (the parameters a PREPARE of it takes). */
  paramCount: number;
  /** Why the text could not be parsed (operation is then 'other'). */
  error?: string;
}

/** Loads the WebAssembly parser once; every shape function needs it. */
export const loadStatementParser: () => Promise<void> = loadParser;

/** Parses SQL into libpg-query's tree (`{ stmts: [{ stmt: { SelectStmt: ... } }] }`). */
export { parseStatements };

const TYPED_PARAM =
  /\b(interval|date|timestamptz|timestamp|timetz|time|numeric|decimal|uuid|jsonb|json|inet|cidr|bytea|money|int2|int4|int8|integer|bigint|smallint|real|float4|float8|text|varchar|bool|boolean)\s+\$(\d+)/gi;
const TYPED_PARAM_LONG = /\b(timestamp|time)\s+(with|without)\s+time\s+zone\s+\$(\d+)/gi;

/**
 * pg_stat_statements replaces the literal of a typed constant too (`interval '2 hours'` becomes
 * `interval $1`), which is no longer valid SQL; this writes such parameters as casts (`$1::interval`).
 */
export function repairNormalizedText(sql: string): string {
  return sql
    .replace(TYPED_PARAM_LONG, (_m, t: string, w: string, n: string) => `$${n}::${t} ${w} time zone`)
    .replace(TYPED_PARAM, (_m, t: string, n: string) => `$${n}::${t}`);
}

/** The shape of a statement's text; parse errors give operation 'other' with the reason, never a throw. */
export function shapeOf(text: string): StatementShape {
  if (!parserLoaded()) throw new Error('call loadStatementParser() before reading statement shapes');
  let stmts: Array<{ stmt?: Node }>;
  let sql = preparedStatementBody(text);
  try {
    try {
      stmts = parseStatements(sql).stmts ?? [];
    } catch (err) {
      const repaired = repairNormalizedText(sql);
      if (repaired === sql) throw err;
      stmts = parseStatements(repaired).stmts ?? [];
      sql = repaired;
    }
  } catch (err) {
    return {
      normalized: sql.trim(),
      operation: 'other',
      mainTable: null,
      tables: [],
      statementCount: 0,
      paramCount: 0,
      error: err instanceof Error ? err.message : String(err),
    };
  }
  let normalized: string;
  try {
    normalized = normalizeSync(sql).trim();
  } catch {
    normalized = sql.trim();
  }
  const first = stmts[0]?.stmt;
  if (!first) {
    return { normalized, operation: 'other', mainTable: null, tables: [], statementCount: 0, paramCount: 0 };
  }
  const cteNames = new Set<string>();
  collectCteNames(first, cteNames);
  return {
    normalized,
    operation: operationOf(first),
    mainTable: mainTableOf(first, cteNames),
    tables: tablesOf(first, cteNames),
    functions: functionsOf(first),
    statementCount: stmts.length,
    paramCount: normalized === sql.trim() ? maxParam(first) : normalizedParamCount(normalized, first),
  };
}

/** Loads the parser if needed, then gives the shape. */
export async function describeStatement(sql: string): Promise<StatementShape> {
  await loadStatementParser();
  return shapeOf(sql);
}

/** The operation of one parsed statement node (`{ SelectStmt: {...} }`). */
export function operationOf(stmt: Node): StatementOperation {
  const kind = Object.keys(stmt)[0];
  switch (kind) {
    case 'SelectStmt':
      return 'select';
    case 'InsertStmt':
      return 'insert';
    case 'UpdateStmt':
      return 'update';
    case 'DeleteStmt':
      return 'delete';
    case 'MergeStmt':
      return 'merge';
    case undefined:
      return 'other';
    default:
      return 'utility';
  }
}

/** Every table a parsed statement names, once each, CTE names excluded. */
export function tablesOf(stmt: Node, cteNames: ReadonlySet<string> = cteNamesOf(stmt)): TableRef[] {
  const seen = new Map<string, TableRef>();
  walkEntries(stmt, (key, value) => {
    // FOR UPDATE/SHARE OF x names a table of the FROM list by its alias: not a table of its own.
    if (key === 'lockingClause') return false;
    if (key !== 'RangeVar' && !isRangeVarSlot(key)) return;
    const ref = tableRefOf(value, cteNames);
    if (ref) seen.set(`${ref.schema ?? ''}\u0000${ref.name}`, ref);
  });
  return [...seen.values()];
}

/**
 * The parameter references ($n) of a statement's text with their byte offsets, last first (the order to
 * replace them in). Throws when the text does not parse.
 */
export function paramRefs(sql: string): Array<{ number: number; location: number }> {
  const refs: Array<{ number: number; location: number }> = [];
  walkNodes(parseStatements(sql).stmts, (type, body) => {
    if (type === 'ParamRef' && typeof body.number === 'number')
      refs.push({ number: body.number, location: Number(body.location ?? -1) });
  });
  return refs.filter((r) => r.location >= 0).sort((a, b) => b.location - a.location);
}

/** Every function a parsed statement calls, once each. */
export function functionsOf(stmt: Node): TableRef[] {
  const seen = new Map<string, TableRef>();
  walkNodes(stmt, (type, body) => {
    if (type !== 'FuncCall') return;
    const name = qualifiedName(body.funcname);
    if (!name) return;
    const ref = { schema: name[0], name: name[1] };
    seen.set(`${ref.schema ?? ''}\u0000${ref.name}`, ref);
  });
  return [...seen.values()];
}

/** The names the statement's WITH clauses define (anywhere in it). */
export function cteNamesOf(stmt: Node): Set<string> {
  const names = new Set<string>();
  collectCteNames(stmt, names);
  return names;
}

/** The table a statement mainly works on: the target of a write, else the first table read. */
export function mainTableOf(stmt: Node, cteNames: ReadonlySet<string> = cteNamesOf(stmt)): TableRef | null {
  const [kind, body] = Object.entries(stmt)[0] ?? [];
  if (!kind || !isNode(body)) return null;
  if (kind === 'InsertStmt' || kind === 'UpdateStmt' || kind === 'DeleteStmt' || kind === 'MergeStmt') {
    return tableRefOf(body.relation, cteNames);
  }
  if (kind === 'SelectStmt') return firstTableOfSelect(body, stmt, cteNames);
  if (kind === 'ExplainStmt' && isNode(body.query)) return mainTableOf(body.query, cteNames);
  return tablesOf(stmt, cteNames)[0] ?? null;
}

function firstTableOfSelect(select: Node, root: Node, cteNames: ReadonlySet<string>): TableRef | null {
  if (select.op && select.op !== 'SETOP_NONE') {
    return (
      (isNode(select.larg) ? firstTableOfSelect(select.larg, root, cteNames) : null) ??
      (isNode(select.rarg) ? firstTableOfSelect(select.rarg, root, cteNames) : null)
    );
  }
  for (const item of asArray(select.fromClause)) {
    const found = firstTableOfFromItem(item, root, cteNames);
    if (found) return found;
  }
  return null;
}

function firstTableOfFromItem(item: unknown, root: Node, cteNames: ReadonlySet<string>): TableRef | null {
  if (!isNode(item)) return null;
  if (isNode(item.RangeVar)) {
    const rv = item.RangeVar;
    const name = String(rv.relname ?? '');
    if (!rv.schemaname && cteNames.has(name)) {
      const cteQuery = findCteQuery(root, name);
      return cteQuery ? mainTableOf(cteQuery, cteNames) : null;
    }
    return tableRefOf(rv, cteNames);
  }
  if (isNode(item.JoinExpr)) {
    return (
      firstTableOfFromItem(item.JoinExpr.larg, root, cteNames) ??
      firstTableOfFromItem(item.JoinExpr.rarg, root, cteNames)
    );
  }
  if (isNode(item.RangeSubselect) && isNode(item.RangeSubselect.subquery)) {
    return mainTableOf(item.RangeSubselect.subquery, cteNames);
  }
  return null;
}

function findCteQuery(root: Node, name: string): Node | null {
  let found: Node | null = null;
  walkNodes(root, (type, body) => {
    if (found || type !== 'CommonTableExpr') return;
    if (body.ctename === name && isNode(body.ctequery)) found = body.ctequery;
  });
  return found;
}

function collectCteNames(node: Node, into: Set<string>): void {
  walkNodes(node, (type, body) => {
    if (type === 'CommonTableExpr' && typeof body.ctename === 'string') into.add(body.ctename);
  });
}

// INSERT/UPDATE/DELETE/MERGE hold their target as a bare RangeVar body under `relation`.
function isRangeVarSlot(key: string): boolean {
  return key === 'relation';
}

function tableRefOf(value: unknown, cteNames: ReadonlySet<string>): TableRef | null {
  if (!isNode(value)) return null;
  const rv = isNode(value.RangeVar) ? value.RangeVar : value;
  if (typeof rv.relname !== 'string') return null;
  const schema = typeof rv.schemaname === 'string' ? rv.schemaname : null;
  if (!schema && cteNames.has(rv.relname)) return null;
  return { schema, name: rv.relname };
}

function normalizedParamCount(normalized: string, original: Node): number {
  try {
    const stmt = parseStatements(normalized).stmts[0]?.stmt;
    return stmt ? maxParam(stmt) : maxParam(original);
  } catch {
    return maxParam(original);
  }
}

function maxParam(node: Node): number {
  let max = 0;
  walkNodes(node, (type, body) => {
    if (type === 'ParamRef' && typeof body.number === 'number') max = Math.max(max, body.number);
  });
  return max;
}
