import { loadModule, parseSync } from 'libpg-query';

/**
 * The one walker over libpg-query's parse tree (the real PostgreSQL parser compiled to WebAssembly),
 * shared by the sampler's statement shapes (monitor/statement-shape.ts) and the optimizer's analysis
 * (optimizer/analyze.ts, optimizer/measure.ts). The tree is JSON: a node is a one-key object naming its
 * type, `{ "SelectStmt": { "targetList": [...], "fromClause": [...] } }`; its body holds fields (lower
 * case) whose values are nodes, lists of nodes, or plain values.
 *
 * The parser is loaded lazily (`loadParser`, about 20 ms once per process) so a caller that has nothing
 * to parse never pays for it.
 */

/** A node's body, or any object of the tree. */
export type ParseNode = Record<string, unknown>;

/** What parseStatements returns: one entry per statement of the text. */
export interface ParseResult {
  stmts: Array<{ stmt?: ParseNode; stmt_location?: number; stmt_len?: number }>;
}

let loaded: Promise<void> | undefined;
let ready = false;

/** Loads the WebAssembly parser once; parseStatements needs it. */
export async function loadParser(): Promise<void> {
  loaded ??= loadModule().then(() => {
    ready = true;
  });
  return loaded;
}

/** Whether loadParser() has resolved (parseStatements would throw before). */
export function parserLoaded(): boolean {
  return ready;
}

/** Parses SQL into libpg-query's tree (`{ stmts: [{ stmt: { SelectStmt: ... } }] }`); throws on bad SQL. */
export function parseStatements(sql: string): ParseResult {
  if (!ready) throw new Error('call loadParser() (loadStatementParser) before parsing statements');
  return parseSync(sql) as unknown as ParseResult;
}

/**
 * Depth-first over every (key, value) entry of every object in the tree, node types and fields alike.
 * `visit` returns false to not descend into that value.
 */
export function walkEntries(node: unknown, visit: (key: string, value: unknown) => unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) walkEntries(item, visit);
    return;
  }
  if (!isNode(node)) return;
  for (const [key, value] of Object.entries(node)) {
    if (visit(key, value) === false) continue;
    if (typeof value === 'object' && value !== null) walkEntries(value, visit);
  }
}

/**
 * Depth-first over every node of the tree as (type, body), e.g. ('ColumnRef', { fields: [...] }).
 * `visit` returns false to skip the node's children.
 */
export function walkNodes(node: unknown, visit: (type: string, body: ParseNode) => unknown): void {
  walkEntries(node, (key, value) => (isNodeType(key) && isNode(value) ? visit(key, value) : true));
}

/** Node types are capitalized (SelectStmt, A_Expr); fields are not (targetList, relname). */
function isNodeType(key: string): boolean {
  const c = key.charCodeAt(0);
  return c >= 65 && c <= 90;
}

/** The type and body of a node (`{ SelectStmt: {...} }`); undefined for anything that is not one node. */
export function unwrap(node: unknown): [string, ParseNode] | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const keys = Object.keys(node);
  if (keys.length !== 1) return undefined;
  const key = keys[0]!;
  const body = (node as ParseNode)[key];
  if (!body || typeof body !== 'object') return [key, {}];
  return [key, body as ParseNode];
}

/** A non-array object of the tree. */
export function isNode(v: unknown): v is ParseNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A list field, or empty when absent (the tree leaves empty lists out). */
export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The text of a String node (`{ String: { sval: 'x' } }`), undefined for any other node. */
export function stringValue(node: unknown): string | undefined {
  const u = unwrap(node);
  if (u && u[0] === 'String') return u[1].sval as string | undefined;
  return undefined;
}

/**
 * A qualified name (funcname, operator name, type name) as [schema, name]: schema null when unqualified,
 * undefined when the list holds no name.
 */
export function qualifiedName(names: unknown): [string | null, string] | undefined {
  const parts = list(names)
    .map(stringValue)
    .filter((p): p is string => typeof p === 'string');
  if (parts.length === 0) return undefined;
  return [parts.length > 1 ? parts[parts.length - 2]! : null, parts[parts.length - 1]!];
}

const PREPARE_PREFIX =
  /^\s*PREPARE\s+(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)\s*(?:\((?:[^()]|\([^()]*\))*\))?\s+AS\s+/i;

/**
 * The statement an SQL-level `PREPARE name (types) AS <statement>` prepares. pg_stat_statements keeps the
 * first text it saw for a queryid, so an application's statement prepared once with PREPARE is listed
 * under the PREPARE text, with the calls of every EXECUTE (and of the same statement sent by a driver):
 * it is the application's statement, not a utility one. Other texts are returned unchanged.
 */
export function preparedStatementBody(sql: string): string {
  const m = PREPARE_PREFIX.exec(sql);
  return m ? sql.slice(m[0].length) : sql;
}
