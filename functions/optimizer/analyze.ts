import { parseSync } from 'libpg-query';
import { quoteIdent } from '../db/identifiers.ts';
import { loadStatementParser, repairNormalizedText as repairShapeText } from '../monitor/statement-shape.ts';

/**
 * Statement analysis with the real PostgreSQL parser (libpg-query): which tables a statement reads or
 * writes, and per table the predicates an index could serve (equality, range, IN, JSONB containment and
 * key existence, IS NULL), ORDER BY with LIMIT, and join keys. Pure: column references are kept as
 * written and resolved against the catalog later (resolveStatement in workload.ts).
 */

export type Operation = 'select' | 'insert' | 'update' | 'delete' | 'other';

export type PredicateKind =
  | 'eq'
  | 'in'
  | 'range'
  | 'is_null'
  | 'jsonb_contains'
  | 'jsonb_exists'
  | 'array_overlap'
  /** `array <@ value`: GIN array_ops serves it. */
  | 'array_contained'
  /** LIKE / ILIKE: a btree serves a constant prefix (LIKE only), pg_trgm GIN any pattern. */
  | 'like'
  | 'ilike';

/** A literal constant as written in the statement (normalized pg_stat_statements text has none). */
export interface Literal {
  /** The value's text, e.g. 'active' or 42. */
  text: string;
  /** The SQL that reproduces it, e.g. 'active' with quotes, 42, true, or '2025-01-01'::timestamptz. */
  sql: string;
}

/** A column as written: `status`, `a.status` or `dgm.workspaces.status`. */
export interface ColumnRef {
  qualifier?: string;
  schema?: string;
  column: string;
}

/**
 * An index expression on one column, e.g. lower("title"), ("payload" ->> 'kind'), ("at")::date: the SQL
 * an expression index is built on (columns unqualified, identifiers quoted), as the statement wrote it.
 */
export interface IndexExpression {
  sql: string;
  /** $n inside the expression (a jsonb key pg_stat_statements replaced): no index without a literal sample. */
  params: number[];
  /** The expression ends in a jsonb `->` / `#>` path: its value is jsonb. */
  jsonb: boolean;
}

export interface RawPredicate {
  scope: number;
  /** The column compared, or the one column the expression reads. */
  column: ColumnRef;
  /** Set when the compared side is an expression on the column rather than the column itself. */
  expression?: IndexExpression;
  kind: PredicateKind;
  operator: string;
  /** Set when every compared value is a literal constant (possible partial-index predicate). */
  literals?: Literal[];
  /** $n parameters among the compared values. */
  params: number[];
}

export interface RawJoin {
  scope: number;
  left: ColumnRef;
  right: ColumnRef;
}

export interface RawOrderItem {
  column: ColumnRef;
  direction: 'asc' | 'desc';
  nulls: 'first' | 'last' | 'default';
}

export interface RawOrder {
  scope: number;
  items: RawOrderItem[];
  /** LIMIT present: an index in this order can stop early. */
  limit: boolean;
  limitParam?: number;
}

/** One occurrence of a real table in the statement (CTE names and subqueries are not tables). */
export interface RelationOccurrence {
  id: number;
  scope: number;
  schema?: string;
  name: string;
  alias?: string;
}

export interface Scope {
  id: number;
  parent?: number;
  relations: number[];
}

export interface StatementAnalysis {
  operation: Operation;
  relations: RelationOccurrence[];
  scopes: Scope[];
  predicates: RawPredicate[];
  joins: RawJoin[];
  orders: RawOrder[];
  /** The relation an INSERT, UPDATE or DELETE writes (its occurrence id). */
  writes?: number;
  /** Columns an UPDATE sets (an index on any of them stops HOT updates). */
  setColumns: string[];
  /** Highest $n in the text. */
  maxParam: number;
  /** Parameters whose role is known (LIMIT/OFFSET). */
  paramRoles: Record<number, 'limit' | 'offset'>;
  /** Conditions seen but not indexable by a plain column index (OR, expressions, LIKE). */
  notes: string[];
  /** Every column a SELECT scope mentions (select list, conditions, grouping, order): covering indexes. */
  columnRefs: Array<{ scope: number; ref: ColumnRef }>;
  /** `*` or `t.*` in a select list: all columns of those relations are needed. */
  stars: Array<{ scope: number; qualifier?: string }>;
}

type Node = Record<string, unknown>;

/** The node type and body of an AST node ({ "SelectStmt": {...} }). */
function unwrap(node: unknown): [string, Node] | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const keys = Object.keys(node);
  if (keys.length !== 1) return undefined;
  const key = keys[0]!;
  const body = (node as Node)[key];
  if (!body || typeof body !== 'object') return [key, {}];
  return [key, body as Node];
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(node: unknown): string | undefined {
  const u = unwrap(node);
  if (u && u[0] === 'String') return u[1].sval as string | undefined;
  return undefined;
}

function opName(names: unknown): string {
  const parts = list(names).map(str);
  return parts[parts.length - 1] ?? '';
}

// Type names that pg_stat_statements leaves in front of a replaced literal: `interval $1`. The sampler's
// statement-shape module repairs the common ones; these are the rest (double precision, char, int, ...).
const TYPED_LITERAL =
  /\b(interval|timestamptz|timestamp(?:\s+with(?:out)?\s+time\s+zone)?|date|time(?:tz)?|numeric|decimal|int[248]?|integer|bigint|smallint|real|float[48]?|double\s+precision|text|varchar|char|bool(?:ean)?|jsonb?|uuid|inet|cidr|bytea|money)\s+(\$\d+)/gi;

/**
 * pg_stat_statements replaces a typed literal's string (interval '7 days') by $n but keeps the type
 * name in front (interval $1), which is not valid SQL. Rewrites those to $1::interval.
 */
export function repairNormalizedText(sql: string): string {
  return repairShapeText(sql).replace(
    TYPED_LITERAL,
    (_m, type: string, param: string) => `${param}::${type}`,
  );
}

/** Loads the parser's WebAssembly module once (shared with the sampler's statement shapes). */
export function loadParser(): Promise<void> {
  return loadStatementParser();
}

/** Parses one statement; undefined with the parser's message when it is not valid SQL. */
export async function analyzeStatement(
  sql: string,
): Promise<{ analysis?: StatementAnalysis; error?: string }> {
  await loadParser();
  return analyzeStatementSync(sql);
}

/** As analyzeStatement, once loadParser() has resolved. */
export function analyzeStatementSync(sql: string): { analysis?: StatementAnalysis; error?: string } {
  let tree: { stmts?: Array<{ stmt?: unknown }> };
  try {
    tree = parseSync(repairNormalizedText(sql)) as typeof tree;
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length !== 1) return { error: `expected one statement, found ${stmts.length}` };
  const a = new Analyzer();
  a.statement(stmts[0]!.stmt);
  // Every $n of the text, wherever it stands (LIKE, function arguments, select list): a statement is
  // only planned with as many parameters as it has.
  walk(stmts[0]!.stmt, (type, body) => {
    if (type === 'ParamRef') a.maxParam = Math.max(a.maxParam, body.number as number);
    return true;
  });
  return { analysis: a.result() };
}

interface ScopeState {
  id: number;
  parent?: ScopeState;
  relations: RelationOccurrence[];
  ctes: Set<string>;
  /** Output column names of the select list, for ORDER BY alias or position. */
  targets: Array<{ name?: string; val: unknown }>;
}

type Operand =
  | { kind: 'column'; ref: ColumnRef; outer: boolean }
  | { kind: 'value'; literals?: Literal[]; params: number[] }
  | { kind: 'expr' };

class Analyzer {
  private operation: Operation = 'other';
  private readonly relations: RelationOccurrence[] = [];
  private readonly scopes: Scope[] = [];
  private readonly predicates: RawPredicate[] = [];
  private readonly joins: RawJoin[] = [];
  private readonly orders: RawOrder[] = [];
  private readonly notes = new Set<string>();
  private readonly paramRoles: Record<number, 'limit' | 'offset'> = {};
  private readonly columnRefs: Array<{ scope: number; ref: ColumnRef }> = [];
  private readonly stars: Array<{ scope: number; qualifier?: string }> = [];
  private writes?: number;
  private readonly setColumns: string[] = [];
  maxParam = 0;

  result(): StatementAnalysis {
    return {
      operation: this.operation,
      relations: this.relations,
      scopes: this.scopes,
      predicates: this.predicates,
      joins: this.joins,
      orders: this.orders,
      writes: this.writes,
      setColumns: this.setColumns,
      maxParam: this.maxParam,
      paramRoles: this.paramRoles,
      notes: [...this.notes],
      columnRefs: this.columnRefs,
      stars: this.stars,
    };
  }

  statement(stmt: unknown): void {
    const u = unwrap(stmt);
    if (!u) return;
    const [type, body] = u;
    switch (type) {
      case 'SelectStmt':
        this.operation = 'select';
        this.select(body, undefined);
        return;
      case 'InsertStmt': {
        this.operation = 'insert';
        const scope = this.newScope(undefined);
        this.writes = this.addRelation(scope, body.relation)?.id;
        this.withClause(body.withClause, scope);
        if (body.selectStmt) this.anySelect(body.selectStmt, scope);
        return;
      }
      case 'UpdateStmt': {
        this.operation = 'update';
        const scope = this.newScope(undefined);
        this.withClause(body.withClause, scope);
        this.writes = this.addRelation(scope, body.relation)?.id;
        for (const f of list(body.fromClause)) this.fromItem(f, scope);
        this.where(body.whereClause, scope);
        for (const t of list(body.targetList)) {
          const rt = unwrap(t);
          if (!rt) continue;
          if (typeof rt[1].name === 'string') this.setColumns.push(rt[1].name);
          this.scanSublinks(rt[1].val, scope);
        }
        return;
      }
      case 'DeleteStmt': {
        this.operation = 'delete';
        const scope = this.newScope(undefined);
        this.withClause(body.withClause, scope);
        this.writes = this.addRelation(scope, body.relation)?.id;
        for (const f of list(body.usingClause)) this.fromItem(f, scope);
        this.where(body.whereClause, scope);
        return;
      }
      default:
        this.operation = 'other';
    }
  }

  private newScope(parent: ScopeState | undefined): ScopeState {
    const s: ScopeState = { id: this.scopes.length, parent, relations: [], ctes: new Set(), targets: [] };
    this.scopes.push({ id: s.id, parent: parent?.id, relations: [] });
    return s;
  }

  private isCte(scope: ScopeState | undefined, name: string): boolean {
    for (let s = scope; s; s = s.parent) if (s.ctes.has(name)) return true;
    return false;
  }

  private addRelation(scope: ScopeState, rangeVar: unknown): RelationOccurrence | undefined {
    const u = unwrap(rangeVar);
    const rv = u ? (u[0] === 'RangeVar' ? u[1] : undefined) : (rangeVar as Node | undefined);
    if (!rv || typeof rv.relname !== 'string') return undefined;
    const schema = rv.schemaname as string | undefined;
    if (!schema && this.isCte(scope, rv.relname)) return undefined;
    const aliasNode = rv.alias as Node | undefined;
    const occ: RelationOccurrence = {
      id: this.relations.length,
      scope: scope.id,
      schema,
      name: rv.relname,
      alias: aliasNode?.aliasname as string | undefined,
    };
    this.relations.push(occ);
    scope.relations.push(occ);
    this.scopes[scope.id]!.relations.push(occ.id);
    return occ;
  }

  private withClause(withClause: unknown, scope: ScopeState): void {
    const w = withClause as Node | undefined;
    if (!w) return;
    for (const c of list(w.ctes)) {
      const cte = unwrap(c);
      if (cte?.[0] !== 'CommonTableExpr') continue;
      scope.ctes.add(cte[1].ctename as string);
    }
    for (const c of list(w.ctes)) {
      const cte = unwrap(c);
      if (cte?.[0] !== 'CommonTableExpr') continue;
      const q = unwrap(cte[1].ctequery);
      if (!q) continue;
      if (q[0] === 'SelectStmt') this.select(q[1], scope);
      else {
        // A data-modifying CTE: its own statement shape.
        const inner = new Analyzer();
        inner.statement(cte[1].ctequery);
        this.notes.add('data-modifying CTE');
      }
    }
  }

  private anySelect(node: unknown, parent: ScopeState | undefined): void {
    const u = unwrap(node);
    if (u && u[0] === 'SelectStmt') this.select(u[1], parent);
  }

  private select(body: Node, parent: ScopeState | undefined): void {
    if (body.op && body.op !== 'SETOP_NONE') {
      const scope = this.newScope(parent);
      this.withClause(body.withClause, scope);
      if (body.larg) this.select(body.larg as Node, scope);
      if (body.rarg) this.select(body.rarg as Node, scope);
      return;
    }
    if (body.valuesLists) return;
    const scope = this.newScope(parent);
    this.withClause(body.withClause, scope);
    for (const f of list(body.fromClause)) this.fromItem(f, scope);
    for (const t of list(body.targetList)) {
      const rt = unwrap(t);
      if (!rt) continue;
      scope.targets.push({ name: rt[1].name as string | undefined, val: rt[1].val });
      this.scanSublinks(rt[1].val, scope);
    }
    this.where(body.whereClause, scope);
    if (body.havingClause) this.scanSublinks(body.havingClause, scope);
    this.orderBy(body, scope);
    for (const part of [
      body.targetList,
      body.whereClause,
      body.groupClause,
      body.havingClause,
      body.sortClause,
    ]) {
      this.noteColumns(part, scope);
    }
  }

  /** Records the columns an expression mentions in this scope (not inside sub-selects). */
  private noteColumns(node: unknown, scope: ScopeState): void {
    walk(node, (type, body) => {
      if (type === 'SubLink' || type === 'RangeSubselect') return false;
      if (type === 'ColumnRef') {
        const fields = list(body.fields);
        if (fields.some((f) => unwrap(f)?.[0] === 'A_Star')) {
          const names = fields.map(str).filter((x): x is string => x !== undefined);
          this.stars.push({ scope: scope.id, qualifier: names.at(-1) });
        } else {
          const names = fields.map(str);
          if (names.every((x) => x !== undefined)) {
            const ns = names as string[];
            this.columnRefs.push({
              scope: scope.id,
              ref: ns.length === 1 ? { column: ns[0]! } : { qualifier: ns.at(-2)!, column: ns.at(-1)! },
            });
          }
        }
        return false;
      }
      return true;
    });
  }

  private fromItem(item: unknown, scope: ScopeState): void {
    const u = unwrap(item);
    if (!u) return;
    const [type, body] = u;
    if (type === 'RangeVar') {
      this.addRelation(scope, item);
    } else if (type === 'JoinExpr') {
      this.fromItem(body.larg, scope);
      this.fromItem(body.rarg, scope);
      if (body.quals) {
        this.where(body.quals, scope);
        this.noteColumns(body.quals, scope);
      }
      if (list(body.usingClause).length > 0) this.notes.add('JOIN USING');
    } else if (type === 'RangeSubselect') {
      // A derived table sees no sibling FROM items unless LATERAL; treat it as its own statement.
      this.anySelect(body.subquery, body.lateral ? scope : scope.parent);
    }
  }

  private where(expr: unknown, scope: ScopeState): void {
    if (!expr) return;
    for (const conjunct of this.conjuncts(expr)) this.condition(conjunct, scope);
  }

  private conjuncts(expr: unknown): unknown[] {
    const u = unwrap(expr);
    if (u && u[0] === 'BoolExpr' && u[1].boolop === 'AND_EXPR') {
      return list(u[1].args).flatMap((a) => this.conjuncts(a));
    }
    return [expr];
  }

  private condition(expr: unknown, scope: ScopeState): void {
    const u = unwrap(expr);
    if (!u) return;
    const [type, body] = u;
    this.scanSublinks(expr, scope);
    if (type === 'A_Expr') {
      this.aExpr(body, scope);
    } else if (type === 'NullTest') {
      const arg = this.operand(body.arg, scope);
      if (arg.kind === 'column' && !arg.outer && body.nulltesttype === 'IS_NULL') {
        this.predicates.push({
          scope: scope.id,
          column: arg.ref,
          kind: 'is_null',
          operator: 'IS NULL',
          params: [],
        });
      }
    } else if (type === 'ColumnRef') {
      const arg = this.operand(expr, scope);
      if (arg.kind === 'column' && !arg.outer) {
        this.predicates.push({
          scope: scope.id,
          column: arg.ref,
          kind: 'eq',
          operator: '=',
          literals: [{ text: 'true', sql: 'true' }],
          params: [],
        });
      }
    } else if (type === 'BoolExpr') {
      this.notes.add(body.boolop === 'OR_EXPR' ? 'OR condition' : 'NOT condition');
    } else if (type === 'SubLink') {
      const test = body.testexpr;
      if (test && body.subLinkType === 'ANY_SUBLINK') {
        const arg = this.operand(test, scope);
        if (arg.kind === 'column' && !arg.outer) {
          this.predicates.push({ scope: scope.id, column: arg.ref, kind: 'in', operator: 'IN', params: [] });
        }
      }
    }
  }

  private aExpr(body: Node, scope: ScopeState): void {
    const kind = body.kind as string;
    const op = opName(body.name);
    if (kind === 'AEXPR_IN') {
      const left = this.operand(body.lexpr, scope);
      if (left.kind !== 'column' || left.outer || op !== '=') {
        if (op !== '=') this.notes.add('NOT IN condition');
        return;
      }
      const values = list((unwrap(body.rexpr)?.[1] as Node | undefined)?.items ?? body.rexpr).map((v) =>
        this.operand(v, scope),
      );
      this.pushValues(scope, left.ref, 'in', 'IN', values);
      return;
    }
    if (kind === 'AEXPR_OP_ANY') {
      const left = this.operand(body.lexpr, scope);
      const right = this.operand(body.rexpr, scope);
      if (left.kind === 'column' && !left.outer && op === '=' && right.kind === 'value') {
        this.predicates.push({
          scope: scope.id,
          column: left.ref,
          kind: 'in',
          operator: '= ANY',
          params: right.params,
        });
      }
      return;
    }
    if (kind === 'AEXPR_BETWEEN' || kind === 'AEXPR_BETWEEN_SYM') {
      const left = this.operand(body.lexpr, scope);
      const bounds = list((unwrap(body.rexpr)?.[1] as Node | undefined)?.items ?? body.rexpr).map((v) =>
        this.operand(v, scope),
      );
      if (left.kind === 'column' && !left.outer) this.pushValues(scope, left.ref, 'range', 'BETWEEN', bounds);
      return;
    }
    if ((kind === 'AEXPR_LIKE' || kind === 'AEXPR_ILIKE') && (op === '~~' || op === '~~*')) {
      const left = this.indexOperand(body.lexpr, scope);
      const right = this.operand(body.rexpr, scope);
      if (!left || right.kind !== 'value') {
        this.notes.add('pattern match (LIKE) on an expression');
        return;
      }
      const k: PredicateKind = kind === 'AEXPR_LIKE' ? 'like' : 'ilike';
      this.pushValues(scope, left.ref, k, op, [right], left.expression);
      return;
    }
    if (kind === 'AEXPR_LIKE' || kind === 'AEXPR_ILIKE' || kind === 'AEXPR_SIMILAR') {
      this.notes.add('pattern match (NOT LIKE, SIMILAR TO)');
      return;
    }
    if (kind !== 'AEXPR_OP') return;
    let left = this.operand(body.lexpr, scope);
    let right = this.operand(body.rexpr, scope);
    let operator = op;
    if (left.kind !== 'column' && right.kind === 'column') {
      [left, right] = [right, left];
      operator = COMMUTED[op] ?? '';
    }
    if (left.kind === 'column' && right.kind === 'column') {
      if (operator === '=' && !(left.outer && right.outer)) {
        if (left.outer || right.outer) {
          // A correlated comparison: for the inner table it is a lookup by a value.
          const inner = left.outer ? right : left;
          this.predicates.push({ scope: scope.id, column: inner.ref, kind: 'eq', operator: '=', params: [] });
        } else {
          this.joins.push({ scope: scope.id, left: left.ref, right: right.ref });
        }
      }
      return;
    }
    if (left.kind !== 'column' || left.outer) {
      if (left.kind === 'expr' || (left.kind === 'value' && right.kind === 'expr')) {
        // An expression on one column compared with a value: an expression index serves it.
        const exprSide = left.kind === 'expr' ? body.lexpr : body.rexpr;
        const valueSide = left.kind === 'expr' ? right : left;
        const ix = this.indexOperand(exprSide, scope);
        const exprOperator = left.kind === 'expr' ? op : (COMMUTED[op] ?? '');
        const exprKind = OPERATOR_KIND[exprOperator];
        if (ix?.expression && valueSide.kind === 'value' && exprKind) {
          this.pushValues(scope, ix.ref, exprKind, exprOperator, [valueSide], ix.expression);
          return;
        }
        this.notes.add('expression on a column');
      }
      return;
    }
    if (right.kind !== 'value') {
      this.notes.add('expression on a column');
      return;
    }
    const predicateKind = OPERATOR_KIND[operator];
    if (!predicateKind) {
      if (operator === '<>' || operator === '!=') this.notes.add('inequality (<>)');
      return;
    }
    this.pushValues(scope, left.ref, predicateKind, operator, [right]);
  }

  private pushValues(
    scope: ScopeState,
    column: ColumnRef,
    kind: PredicateKind,
    operator: string,
    values: Operand[],
    expression?: IndexExpression,
  ): void {
    if (values.some((v) => v.kind !== 'value')) {
      this.notes.add('comparison with a column expression');
      return;
    }
    const vals = values as Array<Extract<Operand, { kind: 'value' }>>;
    const params = vals.flatMap((v) => v.params);
    const literals = vals.every((v) => v.literals && v.params.length === 0)
      ? vals.flatMap((v) => v.literals!)
      : undefined;
    this.predicates.push({
      scope: scope.id,
      column,
      kind,
      operator,
      literals,
      params,
      ...(expression ? { expression } : {}),
    });
  }

  /**
   * A column of this scope, or an expression an index can be built on that reads exactly one column of
   * this scope (function calls, casts, jsonb paths, arithmetic with constants); undefined otherwise.
   */
  private indexOperand(
    node: unknown,
    scope: ScopeState,
  ): { ref: ColumnRef; expression?: IndexExpression } | undefined {
    const direct = this.operand(node, scope);
    if (direct.kind === 'column') return direct.outer ? undefined : { ref: direct.ref };
    const refs: ColumnRef[] = [];
    const params: number[] = [];
    const sql = renderIndexExpression(node, refs, params);
    if (!sql || refs.length === 0) return undefined;
    const first = refs[0]!;
    if (refs.some((r) => r.column !== first.column || r.qualifier !== first.qualifier)) return undefined;
    if (this.isOuter(first, scope)) return undefined;
    return { ref: first, expression: { sql, params, jsonb: /(->|#>)$/.test(lastOperator(node) ?? '') } };
  }

  /** Classifies one side of a comparison. */
  private operand(node: unknown, scope: ScopeState): Operand {
    const u = unwrap(node);
    if (!u) return { kind: 'value', params: [] };
    const [type, body] = u;
    switch (type) {
      case 'ColumnRef': {
        const fields = list(body.fields).map(str);
        if (fields.some((f) => f === undefined)) return { kind: 'expr' };
        const names = fields as string[];
        const ref: ColumnRef =
          names.length === 1
            ? { column: names[0]! }
            : names.length === 2
              ? { qualifier: names[0]!, column: names[1]! }
              : {
                  schema: names[names.length - 3]!,
                  qualifier: names[names.length - 2]!,
                  column: names.at(-1)!,
                };
        return { kind: 'column', ref, outer: this.isOuter(ref, scope) };
      }
      case 'ParamRef': {
        const n = body.number as number;
        this.maxParam = Math.max(this.maxParam, n);
        return { kind: 'value', params: [n] };
      }
      case 'A_Const':
        return { kind: 'value', literals: [constLiteral(body)], params: [] };
      case 'TypeCast': {
        const inner = this.operand(body.arg, scope);
        if (inner.kind === 'column') return { kind: 'expr' };
        if (inner.kind === 'value' && inner.literals?.length === 1) {
          const type = typeNameSql(body.typeName);
          const lit = inner.literals[0]!;
          return {
            kind: 'value',
            literals: [{ text: lit.text, sql: type ? `${lit.sql}::${type}` : lit.sql }],
            params: [],
          };
        }
        return inner;
      }
      case 'SubLink':
        this.scanSublinks(node, scope);
        return { kind: 'value', params: [] };
      default: {
        // Any other expression: a value for this scan when it refers to no column of this scope.
        const refs: ColumnRef[] = [];
        const params: number[] = [];
        collect(node, refs, params);
        for (const p of params) this.maxParam = Math.max(this.maxParam, p);
        this.scanSublinks(node, scope);
        if (refs.some((r) => !this.isOuter(r, scope))) return { kind: 'expr' };
        return { kind: 'value', params };
      }
    }
  }

  /** A column of an enclosing query (a correlated reference) rather than of this scope. */
  private isOuter(ref: ColumnRef, scope: ScopeState): boolean {
    if (!ref.qualifier) return false;
    const matches = (s: ScopeState) =>
      s.relations.some((r) =>
        r.alias
          ? r.alias === ref.qualifier
          : r.name === ref.qualifier && (!ref.schema || r.schema === ref.schema),
      );
    if (matches(scope)) return false;
    for (let s = scope.parent; s; s = s.parent) if (matches(s)) return true;
    return false;
  }

  /** Sub-selects inside an expression get their own scope, with this one as the outer query. */
  private scanSublinks(node: unknown, scope: ScopeState): void {
    walk(node, (type, body) => {
      if (type === 'SubLink') {
        this.anySelect(body.subselect, scope);
        return false;
      }
      return true;
    });
  }

  private orderBy(body: Node, scope: ScopeState): void {
    const sort = list(body.sortClause);
    const limitCount = body.limitCount;
    const hasLimit = limitCount !== undefined && !isNullConst(limitCount);
    let limitParam: number | undefined;
    const lu = unwrap(limitCount);
    if (lu?.[0] === 'ParamRef') {
      limitParam = lu[1].number as number;
      this.paramRoles[limitParam] = 'limit';
      this.maxParam = Math.max(this.maxParam, limitParam);
    }
    const ou = unwrap(body.limitOffset);
    if (ou?.[0] === 'ParamRef') {
      this.paramRoles[ou[1].number as number] = 'offset';
      this.maxParam = Math.max(this.maxParam, ou[1].number as number);
    }
    if (sort.length === 0) return;
    const items: RawOrderItem[] = [];
    for (const s of sort) {
      const sb = unwrap(s);
      if (sb?.[0] !== 'SortBy') return;
      let target = sb[1].node;
      const tu = unwrap(target);
      // ORDER BY 2, or ORDER BY an output alias: the select-list expression it names.
      if (tu?.[0] === 'A_Const' && tu[1].ival) {
        const pos = ((tu[1].ival as Node).ival as number) - 1;
        target = scope.targets[pos]?.val;
      } else if (tu?.[0] === 'ColumnRef') {
        const fields = list(tu[1].fields).map(str);
        if (fields.length === 1) {
          const named = scope.targets.find((t) => t.name === fields[0]);
          if (named) target = named.val;
        }
      }
      const op = this.operand(target, scope);
      if (op.kind !== 'column') return;
      const dir = sb[1].sortby_dir === 'SORTBY_DESC' ? 'desc' : 'asc';
      const nulls =
        sb[1].sortby_nulls === 'SORTBY_NULLS_FIRST'
          ? 'first'
          : sb[1].sortby_nulls === 'SORTBY_NULLS_LAST'
            ? 'last'
            : 'default';
      items.push({ column: op.ref, direction: dir, nulls });
    }
    this.orders.push({ scope: scope.id, items, limit: hasLimit, limitParam });
  }
}

const COMMUTED: Record<string, string> = {
  '=': '=',
  '<': '>',
  '>': '<',
  '<=': '>=',
  '>=': '<=',
  '<@': '@>',
  '@>': '<@',
  '&&': '&&',
};

/** The operator at the top of an expression (for `a -> 'k'`: ->). */
function lastOperator(node: unknown): string | undefined {
  const u = unwrap(node);
  if (u?.[0] === 'A_Expr' && u[1].kind === 'AEXPR_OP') return opName(u[1].name);
  return undefined;
}

const EXPRESSION_OPERATORS = new Set(['->', '->>', '#>', '#>>', '||', '+', '-', '*', '/', '%']);

/**
 * The SQL of an index expression: columns unqualified (an index sees one table), identifiers quoted,
 * constants as written. Undefined for anything an index expression cannot be (aggregates, sub-selects,
 * window functions, star).
 */
function renderIndexExpression(node: unknown, refs: ColumnRef[], params: number[]): string | undefined {
  const u = unwrap(node);
  if (!u) return undefined;
  const [type, body] = u;
  switch (type) {
    case 'ColumnRef': {
      const names = list(body.fields).map(str);
      if (names.some((n) => n === undefined) || names.length === 0) return undefined;
      const ns = names as string[];
      refs.push(ns.length === 1 ? { column: ns[0]! } : { qualifier: ns.at(-2)!, column: ns.at(-1)! });
      return quoteIdent(ns.at(-1)!);
    }
    case 'A_Const':
      return constLiteral(body).sql;
    case 'ParamRef':
      params.push(body.number as number);
      return `$${body.number as number}`;
    case 'TypeCast': {
      const inner = renderIndexExpression(body.arg, refs, params);
      const t = typeNameSql(body.typeName);
      return inner && t ? `(${inner})::${t}` : undefined;
    }
    case 'FuncCall': {
      if (body.agg_star || body.agg_distinct || body.over || list(body.agg_order).length > 0)
        return undefined;
      const fn = list(body.funcname)
        .map(str)
        .filter((n) => n !== 'pg_catalog');
      if (fn.length === 0 || fn.some((n) => n === undefined || !/^[a-z_][a-z0-9_]*$/.test(n)))
        return undefined;
      const args = list(body.args).map((a) => renderIndexExpression(a, refs, params));
      if (args.some((a) => a === undefined)) return undefined;
      return `${(fn as string[]).join('.')}(${args.join(', ')})`;
    }
    case 'A_Expr': {
      const op = opName(body.name);
      if (body.kind !== 'AEXPR_OP' || !EXPRESSION_OPERATORS.has(op) || !body.lexpr) return undefined;
      const l = renderIndexExpression(body.lexpr, refs, params);
      const r = renderIndexExpression(body.rexpr, refs, params);
      return l && r ? `(${l} ${op} ${r})` : undefined;
    }
    default:
      return undefined;
  }
}

const OPERATOR_KIND: Record<string, PredicateKind> = {
  '=': 'eq',
  '<': 'range',
  '<=': 'range',
  '>': 'range',
  '>=': 'range',
  '@>': 'jsonb_contains',
  '?': 'jsonb_exists',
  '?|': 'jsonb_exists',
  '?&': 'jsonb_exists',
  '&&': 'array_overlap',
  '<@': 'array_contained',
};

function isNullConst(node: unknown): boolean {
  const u = unwrap(node);
  return u?.[0] === 'A_Const' && u[1].isnull === true;
}

/** SQL text of a literal constant, quoted as PostgreSQL would need it. */
function constLiteral(body: Node): Literal {
  if (body.isnull) return { text: 'NULL', sql: 'NULL' };
  if (body.ival !== undefined) {
    const v = String((body.ival as Node).ival ?? 0);
    return { text: v, sql: v };
  }
  if (body.fval !== undefined) {
    const v = String((body.fval as Node).fval);
    return { text: v, sql: v };
  }
  if (body.boolval !== undefined) {
    const v = String(Boolean((body.boolval as Node).boolval));
    return { text: v, sql: v };
  }
  if (body.bsval !== undefined) {
    const v = String((body.bsval as Node).bsval);
    return { text: v, sql: `B'${v.replace(/^b/, '')}'` };
  }
  const s = String((body.sval as Node | undefined)?.sval ?? '');
  return { text: s, sql: `'${s.replaceAll("'", "''")}'` };
}

function typeNameSql(typeName: unknown): string | undefined {
  const t = typeName as Node | undefined;
  if (!t) return undefined;
  const names = list(t.names)
    .map(str)
    .filter((n): n is string => n !== undefined && n !== 'pg_catalog');
  if (names.length === 0) return undefined;
  const base = names.join('.');
  const arrayBounds = list(t.arrayBounds).length > 0 ? '[]' : '';
  return /^[a-z_][a-z0-9_.]*$/.test(base) ? `${base}${arrayBounds}` : undefined;
}

/** Visits every node; the visitor returns false to skip a node's children. */
function walk(node: unknown, visit: (type: string, body: Node) => boolean): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, visit);
    return;
  }
  const u = unwrap(node);
  if (u) {
    if (!visit(u[0], u[1])) return;
    for (const v of Object.values(u[1])) if (v && typeof v === 'object') walk(v, visit);
    return;
  }
  if (node && typeof node === 'object') {
    for (const v of Object.values(node)) if (v && typeof v === 'object') walk(v, visit);
  }
}

function collect(node: unknown, refs: ColumnRef[], params: number[]): void {
  walk(node, (type, body) => {
    if (type === 'SubLink') return false;
    if (type === 'ColumnRef') {
      const names = list(body.fields).map(str);
      if (names.every((n) => n !== undefined)) {
        const ns = names as string[];
        refs.push(ns.length === 1 ? { column: ns[0]! } : { qualifier: ns.at(-2)!, column: ns.at(-1)! });
      }
      return false;
    }
    if (type === 'ParamRef') params.push(body.number as number);
    return true;
  });
}
