import {
  list,
  loadParser as loadTreeParser,
  type ParseNode as Node,
  parseStatements,
  stringValue as str,
  unwrap,
  walkNodes,
} from '../db/parse-tree.ts';
import { repairNormalizedText as repairShapeText } from '../monitor/statement-shape.ts';
import type {
  ColumnRef,
  Operation,
  RawOrderItem,
  RelationOccurrence,
  Scope,
  StatementAnalysis,
} from './analysis.ts';
import { ConditionReader, type ScopeState } from './conditions.ts';
import { columnRefOf, isNullConst, opName } from './sql-expression.ts';
import { inlineViews, type ViewLookup } from './views.ts';

/**
 * Statement analysis with the real PostgreSQL parser (libpg-query): which tables a statement reads or
 * writes, and per table the predicates an index could serve (equality, range, IN, JSONB containment and
 * key existence, IS NULL), ORDER BY with LIMIT, and join keys. Pure: column references are kept as
 * written and resolved against the catalog later (resolveStatement in workload.ts). The result's types
 * are in analysis.ts, conditions are read by conditions.ts, expressions rendered by sql-expression.ts.
 */

export type {
  ColumnRef,
  IndexExpression,
  Literal,
  Operation,
  PredicateKind,
  RawJoin,
  RawOrder,
  RawOrderItem,
  RawOrGroup,
  RawPredicate,
  RelationOccurrence,
  Scope,
  StatementAnalysis,
} from './analysis.ts';

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
  return loadTreeParser();
}

/** Parses one statement; undefined with the parser's message when it is not valid SQL. */
export async function analyzeStatement(
  sql: string,
): Promise<{ analysis?: StatementAnalysis; error?: string }> {
  await loadParser();
  return analyzeStatementSync(sql);
}

/**
 * As analyzeStatement, once loadParser() has resolved. With `views`, a statement reading views is read as
 * reading the tables beneath them (views.ts).
 */
export function analyzeStatementSync(
  sql: string,
  views?: ViewLookup,
): { analysis?: StatementAnalysis; error?: string } {
  let tree: { stmts?: Array<{ stmt?: unknown }> };
  try {
    tree = parseStatements(repairNormalizedText(sql));
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length !== 1) return { error: `expected one statement, found ${stmts.length}` };
  const stmt = views ? inlineViews(stmts[0]!.stmt, views).stmt : stmts[0]!.stmt;
  const a = new Analyzer();
  a.statement(stmt);
  // Every $n of the text, wherever it stands (LIKE, function arguments, select list): a statement is
  // only planned with as many parameters as it has.
  walkNodes(stmt, (type, body) => {
    if (type === 'ParamRef') a.maxParam = Math.max(a.maxParam, body.number as number);
    return true;
  });
  return { analysis: a.result() };
}

class Analyzer extends ConditionReader {
  private operation: Operation = 'other';
  private readonly scopes: Scope[] = [];
  private readonly paramRoles: Record<number, 'limit' | 'offset'> = {};
  private readonly columnRefs: Array<{ scope: number; ref: ColumnRef }> = [];
  private readonly stars: Array<{ scope: number; qualifier?: string }> = [];
  private writes?: number;
  private readonly setColumns: string[] = [];

  result(): StatementAnalysis {
    return {
      operation: this.operation,
      relations: this.relations,
      scopes: this.scopes,
      predicates: this.predicates,
      orGroups: this.orGroups,
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
      case 'MergeStmt': {
        // MERGE finds its target's rows by the join with its source, as an UPDATE ... FROM does, and
        // updates (or deletes) those: read as an UPDATE of the columns its WHEN MATCHED ... UPDATE sets.
        this.operation = 'update';
        const scope = this.newScope(undefined);
        this.withClause(body.withClause, scope);
        this.writes = this.addRelation(scope, body.relation)?.id;
        this.fromItem(body.sourceRelation, scope);
        this.where(body.joinCondition, scope);
        this.noteColumns(body.joinCondition, scope);
        for (const w of list(body.mergeWhenClauses)) {
          const clause = unwrap(w);
          if (clause?.[0] !== 'MergeWhenClause') continue;
          if (clause[1].condition) this.scanSublinks(clause[1].condition, scope);
          if (clause[1].commandType !== 'CMD_UPDATE') continue;
          for (const t of list(clause[1].targetList)) {
            const rt = unwrap(t);
            if (rt && typeof rt[1].name === 'string') this.setColumns.push(rt[1].name);
          }
        }
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

  protected anySelect(node: unknown, parent: ScopeState | undefined): void {
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
    this.minMax(body, scope);
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
    walkNodes(node, (type, body) => {
      if (type === 'SubLink' || type === 'RangeSubselect') return false;
      if (type === 'ColumnRef') {
        const fields = list(body.fields);
        if (fields.some((f) => unwrap(f)?.[0] === 'A_Star')) {
          const names = fields.map(str).filter((x): x is string => x !== undefined);
          this.stars.push({ scope: scope.id, qualifier: names.at(-1) });
        } else {
          const names = fields.map(str);
          if (names.every((x) => x !== undefined)) {
            this.columnRefs.push({ scope: scope.id, ref: columnRefOf(names as string[]) });
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
      const l0 = scope.relations.length;
      this.fromItem(body.larg, scope);
      const r0 = scope.relations.length;
      this.fromItem(body.rarg, scope);
      if (body.quals) {
        this.where(body.quals, scope);
        this.noteColumns(body.quals, scope);
      }
      // The nullable side of an outer join, for the WHERE read after the FROM list (its ON clause above
      // restricts its scan as any join's does).
      const side =
        body.jointype === 'JOIN_LEFT'
          ? scope.relations.slice(r0)
          : body.jointype === 'JOIN_RIGHT'
            ? scope.relations.slice(l0, r0)
            : body.jointype === 'JOIN_FULL'
              ? scope.relations.slice(l0)
              : [];
      for (const r of side) this.nullable.add(r.id);
      if (list(body.usingClause).length > 0) this.notes.add('JOIN USING');
    } else if (type === 'RangeSubselect') {
      // A derived table sees no sibling FROM items unless LATERAL; treat it as its own statement.
      this.anySelect(body.subquery, body.lateral ? scope : scope.parent);
    }
  }

  /**
   * `SELECT max(ts) FROM t WHERE k = $1`: with no GROUP BY and only min() / max() of one column in the
   * select list, the planner reads it as ORDER BY ts DESC LIMIT 1 (min: ascending; both, each its own
   * read of one index) when an index returns that order; an order of its own for the candidates.
   */
  private minMax(body: Node, scope: ScopeState): void {
    if (list(body.sortClause).length > 0 || list(body.groupClause).length > 0 || body.havingClause) return;
    const aggs: Array<{ name: string; arg: unknown }> = [];
    for (const t of scope.targets) {
      const f = unwrap(t.val);
      if (f?.[0] !== 'FuncCall' || f[1].over || f[1].agg_distinct || f[1].agg_filter) return;
      const name = list(f[1].funcname).map(str).at(-1);
      const args = list(f[1].args);
      if ((name !== 'min' && name !== 'max') || args.length !== 1) return;
      aggs.push({ name, arg: args[0] });
    }
    if (aggs.length === 0) return;
    const op = this.operand(aggs[0]!.arg, scope);
    if (op.kind !== 'column' || op.outer) return;
    const same = (a: unknown) => {
      const o = this.operand(a, scope);
      return o.kind === 'column' && o.ref.column === op.ref.column && o.ref.qualifier === op.ref.qualifier;
    };
    if (!aggs.every((a) => same(a.arg))) return;
    // min() and max() together (a first and last seen): the planner answers each from the same index,
    // one read forwards and one backwards.
    const direction = aggs.every((a) => a.name === 'max') ? 'desc' : 'asc';
    this.orders.push({
      scope: scope.id,
      items: [{ column: op.ref, direction, nulls: 'default' }],
      limit: true,
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
      // A distance to a value (`ORDER BY location <-> point($1, $2)`): a nearest-neighbour order, which a
      // GiST index on the column returns (KNN), not a btree.
      const distance = this.distanceOrder(target, scope);
      if (distance) {
        items.push({ column: distance, direction: 'asc', nulls: 'default', distance: true });
        continue;
      }
      const op = this.operand(target, scope);
      // A column, or an expression of one column (ORDER BY lower(name)) that an expression index returns;
      // not after GROUP BY, where an expression may be an aggregate (max(ts)), which no index holds.
      const grouped = list(body.groupClause).length > 0;
      const key = op.kind === 'column' || grouped ? undefined : this.indexOperand(target, scope);
      if (op.kind !== 'column' && !key?.expression) return;
      const dir = sb[1].sortby_dir === 'SORTBY_DESC' ? 'desc' : 'asc';
      const nulls =
        sb[1].sortby_nulls === 'SORTBY_NULLS_FIRST'
          ? 'first'
          : sb[1].sortby_nulls === 'SORTBY_NULLS_LAST'
            ? 'last'
            : 'default';
      if (key?.expression) items.push({ column: key.ref, expression: key.expression, direction: dir, nulls });
      else if (op.kind === 'column') items.push({ column: op.ref, direction: dir, nulls });
    }
    this.orders.push({ scope: scope.id, items, limit: hasLimit, limitParam });
  }

  /** `col <-> value` (either way round) on a column of this scope: the column, else undefined. */
  private distanceOrder(node: unknown, scope: ScopeState): ColumnRef | undefined {
    const u = unwrap(node);
    if (u?.[0] !== 'A_Expr' || u[1].kind !== 'AEXPR_OP' || opName(u[1].name) !== '<->') return undefined;
    const left = this.operand(u[1].lexpr, scope);
    const right = this.operand(u[1].rexpr, scope);
    const [col, value] = left.kind === 'column' ? [left, right] : [right, left];
    if (col.kind !== 'column' || col.outer || value.kind !== 'value') return undefined;
    return col.ref;
  }
}
