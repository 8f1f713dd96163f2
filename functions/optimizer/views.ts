import type pg from 'pg';
import {
  list,
  type ParseNode as Node,
  parseStatements,
  stringValue as str,
  unwrap,
  walkNodes,
} from '../db/parse-tree.ts';
import viewsSql from './sql/views.sql';

/**
 * Statements that read through views. The planner expands a view into the query beneath it, and an index
 * on the view's tables serves the statement; the analysis (analyze.ts) reads tables only. So before it
 * reads a statement, each view the statement names is put in its place in the parse tree, as the
 * planner's rewriter does: a simple view (one query level: no grouping, DISTINCT, LIMIT, window or set
 * operation) is flattened into the statement, its tables joining the statement's FROM under aliases of
 * their own, its WHERE joining the statement's WHERE, and every reference to one of its columns replaced
 * by the expression the view computes it with; any other view becomes a derived table (its own query
 * level, read on its own). Views of views are expanded in turn. Views in the system schemas are never
 * read (the optimizer analyzes no system catalogs).
 */

export interface ViewDefinition {
  schema: string;
  name: string;
  /** The SelectStmt body of the view's query (pg_get_viewdef, parsed). */
  select: Node;
}

/** The view a statement means by `schema.name` (or `name` through the search_path), if it is one. */
export type ViewLookup = (schema: string | undefined, name: string) => ViewDefinition | undefined;

/** Views of views are expanded this many levels deep at most. */
const MAX_DEPTH = 8;

/** The built-in aggregates a view's select list may use without GROUP BY (one row for the whole table). */
const AGGREGATES = new Set(
  'count sum avg min max array_agg string_agg json_agg jsonb_agg json_object_agg jsonb_object_agg bool_and bool_or every bit_and bit_or stddev variance percentile_cont percentile_disc mode'.split(
    ' ',
  ),
);

const key = (schema: string | undefined | null, name: string) => JSON.stringify([schema ?? null, name]);

/**
 * The definitions of those of the named relations that are views (and of the views they read, in turn),
 * in one round trip per level of nesting.
 */
export async function loadViews(
  client: pg.Client,
  names: Array<{ schema?: string; name: string }>,
): Promise<ViewLookup> {
  const found = new Map<string, ViewDefinition>();
  const asked = new Set<string>();
  let pending = names;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const batch = new Map<string, { schema?: string; name: string }>();
    for (const n of pending) if (!asked.has(key(n.schema, n.name))) batch.set(key(n.schema, n.name), n);
    if (batch.size === 0) break;
    for (const k of batch.keys()) asked.add(k);
    const list = [...batch.values()];
    const { rows } = await client.query<{
      requested_schema: string | null;
      requested_name: string;
      schema_name: string;
      view_name: string;
      definition: string;
    }>(viewsSql, [list.map((n) => n.schema ?? null), list.map((n) => n.name)]);
    pending = [];
    for (const r of rows) {
      const select = parseView(r.definition);
      if (!select) continue;
      found.set(key(r.requested_schema, r.requested_name), {
        schema: r.schema_name,
        name: r.view_name,
        select,
      });
      pending.push(...relationNames(select));
    }
  }
  return (schema, name) => found.get(key(schema, name));
}

function parseView(definition: string): Node | undefined {
  try {
    const u = unwrap(parseStatements(definition).stmts[0]?.stmt);
    return u?.[0] === 'SelectStmt' ? u[1] : undefined;
  } catch {
    return undefined;
  }
}

/** Every table or view name a query mentions (CTE names included: they resolve to nothing). */
function relationNames(node: unknown): Array<{ schema?: string; name: string }> {
  const out: Array<{ schema?: string; name: string }> = [];
  walkNodes(node, (type, body) => {
    if (type === 'RangeVar' && typeof body.relname === 'string')
      out.push({ schema: body.schemaname as string | undefined, name: body.relname });
    return true;
  });
  return out;
}

/** The statement's parse tree with every view it reads put in its place (a new tree; the input is kept). */
export function inlineViews(stmt: unknown, lookup: ViewLookup): { stmt: unknown; views: string[] } {
  const tree = structuredClone(stmt);
  const ctes = new Set<string>();
  walkNodes(tree, (type, body) => {
    if (type === 'CommonTableExpr' && typeof body.ctename === 'string') ctes.add(body.ctename);
    return true;
  });
  const views: string[] = [];
  const state = { n: 0 };
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const hosts: Array<[string, Node]> = [];
    walkNodes(tree, (type, body) => {
      if (['SelectStmt', 'UpdateStmt', 'DeleteStmt', 'InsertStmt'].includes(type)) hosts.push([type, body]);
      return true;
    });
    let changed = false;
    for (const [type, host] of hosts) {
      const found = (rv: Node): ViewDefinition | undefined =>
        typeof rv.relname !== 'string' || (!rv.schemaname && ctes.has(rv.relname))
          ? undefined
          : lookup(rv.schemaname as string | undefined, rv.relname);
      const expanded: Expanded[] = [];
      const fromKey = type === 'DeleteStmt' ? 'usingClause' : 'fromClause';
      if (Array.isArray(host[fromKey])) {
        host[fromKey] = (host[fromKey] as unknown[]).map((item) =>
          replaceFromItem(item, found, expanded, state),
        );
      }
      const target = unwrap(host.relation)?.[1] ?? (host.relation as Node | undefined);
      if (target && type !== 'SelectStmt') {
        const def = found(target);
        const e = def ? expand(def, target, state) : undefined;
        // A write through a view: only an auto-updatable one (one table, no grouping) can be written.
        const only = e?.fromItem && unwrap(e.fromItem)?.[0] === 'RangeVar' ? e : undefined;
        if (only) {
          host.relation = unwrap(only.fromItem)![1];
          expanded.push(only);
          if (Array.isArray(host.targetList) && type === 'UpdateStmt') renameSetTargets(host, only);
          if (type === 'InsertStmt') renameSetTargets(host, only, 'cols');
        }
      }
      if (expanded.length === 0) continue;
      changed = true;
      for (const e of expanded) {
        views.push(`${e.view.schema}.${e.view.name}`);
        if (e.where && type !== 'InsertStmt') {
          host.whereClause = host.whereClause
            ? { BoolExpr: { boolop: 'AND_EXPR', args: [host.whereClause, e.where] } }
            : e.where;
        }
      }
      for (const [field, value] of Object.entries(host)) {
        if (field === 'relation' || field === 'withClause' || !value || typeof value !== 'object') continue;
        const wrapper: Node = { [field]: value };
        substitute(wrapper, expanded, true);
        host[field] = wrapper[field];
      }
    }
    if (!changed) break;
  }
  return { stmt: tree, views };
}

interface Expanded {
  view: ViewDefinition;
  /** The names a statement refers to the view by: its alias, or its name (and schema.name). */
  qualifiers: string[];
  /** Output column name -> the expression computing it (simple views only). */
  columns: Map<string, unknown>;
  /** The view's FROM, as one item (undefined for a view read as a derived table). */
  fromItem?: unknown;
  /** The alias of the view's one table, when it has exactly one. */
  soleAlias?: string;
  where?: unknown;
}

function isSimple(s: Node): boolean {
  if (s.op && s.op !== 'SETOP_NONE') return false;
  for (const f of [
    'groupClause',
    'havingClause',
    'distinctClause',
    'limitCount',
    'limitOffset',
    'windowClause',
  ])
    if (s[f] !== undefined && !(Array.isArray(s[f]) && (s[f] as unknown[]).length === 0)) return false;
  if (s.withClause || s.valuesLists || list(s.fromClause).length === 0) return false;
  // Aggregates or set-returning functions in the select list change the row count.
  let plain = true;
  walkNodes(s.targetList, (type, body) => {
    if (type === 'SubLink') return false;
    if (type === 'FuncCall') {
      const name = str(list(body.funcname).at(-1));
      if (body.agg_star || body.over || body.agg_distinct || (name && AGGREGATES.has(name))) plain = false;
    }
    if (type === 'A_Star') plain = false;
    return plain;
  });
  return plain;
}

function expand(view: ViewDefinition, rv: Node, state: { n: number }): Expanded {
  const aliasNode = rv.alias as Node | undefined;
  const alias = (aliasNode?.aliasname as string | undefined) ?? (rv.relname as string);
  const qualifiers = aliasNode?.aliasname ? [alias] : [alias, `${rv.schemaname ?? ''}.${alias}`];
  const s = structuredClone(view.select);
  if (!isSimple(s)) {
    return { view, qualifiers, columns: new Map() };
  }
  const n = ++state.n;
  // The view's own tables, renamed so that they cannot clash with the statement's.
  const renames = new Map<string, string>();
  const inner: Node[] = [];
  const collect = (item: unknown) => {
    const u = unwrap(item);
    if (u?.[0] === 'RangeVar') inner.push(u[1]);
    else if (u?.[0] === 'JoinExpr') {
      collect(u[1].larg);
      collect(u[1].rarg);
    }
  };
  for (const f of list(s.fromClause)) collect(f);
  for (const r of inner) {
    const own = ((r.alias as Node | undefined)?.aliasname as string | undefined) ?? (r.relname as string);
    const renamed = `${alias}/${own}#${n}`;
    renames.set(own, renamed);
    r.alias = { aliasname: renamed };
  }
  const soleAlias = inner.length === 1 ? [...renames.values()][0] : undefined;
  const requalify = (node: unknown) =>
    mapColumnRefs(node, (fields) => {
      const names = fields.map(str);
      if (names.length === 1 && soleAlias) return columnRef([soleAlias], fields);
      const q = names.length >= 2 ? names[names.length - 2] : undefined;
      if (q !== undefined && renames.has(q)) return columnRef([renames.get(q)!], fields.slice(-1));
      return undefined;
    });
  const fromItems = list(s.fromClause).map(requalify);
  const targets = list(s.targetList).map((t) => requalify(t));
  const colnames = list(aliasNode?.colnames).map(str);
  const columns = new Map<string, unknown>();
  targets.forEach((t, i) => {
    const rt = unwrap(t)?.[1];
    if (!rt) return;
    const fields = list(unwrap(rt.val)?.[0] === 'ColumnRef' ? unwrap(rt.val)![1].fields : []);
    const name = colnames[i] ?? (rt.name as string | undefined) ?? str(fields[fields.length - 1]);
    if (name) columns.set(name, rt.val);
  });
  const fromItem = fromItems.reduce((l, r) => ({ JoinExpr: { jointype: 'JOIN_INNER', larg: l, rarg: r } }));
  return {
    view,
    qualifiers,
    columns,
    fromItem,
    soleAlias,
    where: s.whereClause ? requalify(s.whereClause) : undefined,
  };
}

function replaceFromItem(
  item: unknown,
  found: (rv: Node) => ViewDefinition | undefined,
  expanded: Expanded[],
  state: { n: number },
): unknown {
  const u = unwrap(item);
  if (u?.[0] === 'JoinExpr') {
    u[1].larg = replaceFromItem(u[1].larg, found, expanded, state);
    u[1].rarg = replaceFromItem(u[1].rarg, found, expanded, state);
    return item;
  }
  if (u?.[0] !== 'RangeVar') return item;
  const def = found(u[1]);
  if (!def) return item;
  const e = expand(def, u[1], state);
  expanded.push(e);
  if (e.fromItem) return e.fromItem;
  const alias = u[1].alias ?? { aliasname: u[1].relname };
  return { RangeSubselect: { subquery: { SelectStmt: e.view.select }, alias } };
}

/** UPDATE ... SET col / INSERT (col, ...) through a view: the table's column names. */
function renameSetTargets(host: Node, e: Expanded, field = 'targetList'): void {
  for (const t of list(host[field])) {
    const rt = unwrap(t)?.[1];
    const mapped = rt && typeof rt.name === 'string' ? e.columns.get(rt.name) : undefined;
    const fields = list(unwrap(mapped)?.[0] === 'ColumnRef' ? unwrap(mapped)![1].fields : []).map(str);
    if (rt && fields.length > 0 && fields.at(-1)) rt.name = fields.at(-1);
  }
}

/**
 * Replaces, in place, the statement's references to expanded views' columns by the expressions beneath:
 * `v.col` anywhere (sub-selects included), a bare `col` only on the statement's own level (a sub-select's
 * own tables come first for a bare name), `v.*` by the table's `*`. In place: the statement's sub-selects
 * are expanded next as statements of their own, and must stay the tree's nodes.
 */
function substitute(container: Node | unknown[], expanded: Expanded[], ownLevel: boolean): void {
  const entries: Array<[string | number, unknown]> = Array.isArray(container)
    ? container.map((v, i) => [i, v])
    : Object.entries(container);
  for (const [k, v] of entries) {
    if (!v || typeof v !== 'object') continue;
    const u = unwrap(v);
    if (u?.[0] === 'ColumnRef') {
      const replaced = replacement(list(u[1].fields), expanded, ownLevel);
      if (replaced !== undefined) (container as Record<string | number, unknown>)[k] = replaced;
      continue;
    }
    const nested = u?.[0] === 'SelectStmt' || u?.[0] === 'RangeSubselect';
    substitute(v as Node, expanded, ownLevel && !nested);
  }
}

function replacement(fields: unknown[], expanded: Expanded[], ownLevel: boolean): unknown {
  const names = fields.map(str);
  const last = names[names.length - 1];
  const quals = names.slice(0, -1).filter((x): x is string => x !== undefined);
  const e =
    quals.length > 0
      ? expanded.find((x) => x.qualifiers.includes(quals.join('.')) || x.qualifiers.includes(quals.at(-1)!))
      : ownLevel && last !== undefined
        ? expanded.find((x) => x.columns.has(last))
        : undefined;
  if (!e?.fromItem) return undefined;
  if (last === undefined) return columnRef(e.soleAlias ? [e.soleAlias] : [], fields.slice(-1));
  const value = e.columns.get(last);
  return value === undefined ? undefined : structuredClone(value);
}

function mapColumnRefs(node: unknown, fn: (fields: unknown[]) => unknown): unknown {
  if (Array.isArray(node)) return node.map((x) => mapColumnRefs(x, fn));
  if (!node || typeof node !== 'object') return node;
  const u = unwrap(node);
  if (u?.[0] === 'ColumnRef') return fn(list(u[1].fields)) ?? node;
  if (u?.[0] === 'SubLink' || u?.[0] === 'RangeSubselect') return node;
  const out: Node = {};
  for (const [k, v] of Object.entries(node as Node)) out[k] = mapColumnRefs(v, fn);
  return out;
}

function columnRef(qualifiers: string[], rest: unknown[]): unknown {
  return { ColumnRef: { fields: [...qualifiers.map((q) => ({ String: { sval: q } })), ...rest] } };
}
