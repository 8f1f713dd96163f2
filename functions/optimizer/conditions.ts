import { list, type ParseNode as Node, stringValue as str, unwrap, walkNodes } from '../db/parse-tree.ts';
import type {
  ColumnRef,
  IndexExpression,
  Literal,
  PredicateKind,
  RawJoin,
  RawOrder,
  RawOrGroup,
  RawPredicate,
  RelationOccurrence,
} from './analysis.ts';
import {
  COMMUTED,
  collectColumnsAndParams,
  constLiteral,
  foldedConcat,
  isRangeConstructor,
  lastOperator,
  OPERATOR_KIND,
  opName,
  renderIndexExpression,
  typeNameSql,
} from './sql-expression.ts';

/**
 * How optimizer/analyze.ts reads conditions (WHERE, JOIN ... ON, the operands of a comparison) into the
 * predicates an index could serve and the join keys. The statement's structure (scopes, FROM items,
 * sub-selects, ORDER BY) is analyze.ts's Analyzer, which extends this class.
 */

/** The pattern operators a `... ANY(array)` may apply, as the predicate kind each is read as. */
const PATTERN_ANY_KIND: Record<string, PredicateKind> = {
  '~~': 'like',
  '~~*': 'ilike',
  '~': 'regex',
  '~*': 'regex',
};

/** A query level while it is read: its relations and CTE names, and its enclosing level. */
export interface ScopeState {
  id: number;
  parent?: ScopeState;
  relations: RelationOccurrence[];
  ctes: Set<string>;
  /** Output column names of the select list, for ORDER BY alias or position. */
  targets: Array<{ name?: string; val: unknown }>;
}

/** One side of a comparison. */
export type Operand =
  | { kind: 'column'; ref: ColumnRef; outer: boolean }
  | { kind: 'value'; literals?: Literal[]; params: number[] }
  | { kind: 'expr' };

export abstract class ConditionReader {
  protected readonly relations: RelationOccurrence[] = [];
  protected readonly predicates: RawPredicate[] = [];
  protected readonly orGroups: RawOrGroup[] = [];
  /** Sub-selects already read: an expression is walked by its condition and again by its operands. */
  private readonly scannedSublinks = new WeakSet<object>();
  protected readonly joins: RawJoin[] = [];
  protected readonly orders: RawOrder[] = [];
  protected readonly notes = new Set<string>();
  /**
   * Relations (by id) on the nullable side of an outer join (`a LEFT JOIN b`: b), once their join's own
   * ON clause is read: a WHERE test `b.col IS NULL` holds for the rows the join found no match for, after
   * the join, and restricts no scan of b.
   */
  protected readonly nullable = new Set<number>();
  maxParam = 0;

  /** Reads a sub-select in its own scope, with `parent` as the outer query. */
  protected abstract anySelect(node: unknown, parent: ScopeState | undefined): void;

  protected where(expr: unknown, scope: ScopeState): void {
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
      const isNull = body.nulltesttype === 'IS_NULL';
      // `LEFT JOIN b ... WHERE b.id IS NULL`, an anti-join: b is probed by its join key, not by this test.
      if (arg.kind === 'column' && isNull && this.onNullableSide(arg.ref, scope)) return;
      if (arg.kind === 'column' && !arg.outer) {
        this.predicates.push({
          scope: scope.id,
          column: arg.ref,
          kind: isNull ? 'is_null' : 'not_null',
          operator: isNull ? 'IS NULL' : 'IS NOT NULL',
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
          fixed: true,
        });
      }
    } else if (type === 'BoolExpr' && body.boolop === 'OR_EXPR') {
      this.disjunction(body, scope);
    } else if (type === 'BoolExpr') {
      // `NOT flag` on a boolean column (as Django writes `flag=False`) is `flag = false`: the planner
      // reads both alike, and a partial index `WHERE NOT flag` serves either.
      const args = list(body.args);
      const arg =
        body.boolop === 'NOT_EXPR' && args.length === 1 && unwrap(args[0])?.[0] === 'ColumnRef'
          ? this.operand(args[0], scope)
          : undefined;
      if (arg?.kind === 'column' && !arg.outer) {
        this.predicates.push({
          scope: scope.id,
          column: arg.ref,
          kind: 'eq',
          operator: '=',
          literals: [{ text: 'false', sql: 'false' }],
          params: [],
          fixed: true,
        });
      } else this.notes.add('NOT condition');
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

  /**
   * `x = $1 OR y = $2`: each arm read as a WHERE of its own (an arm may be a conjunction). When every
   * arm has an indexable predicate the disjunction is an OR group: one index per arm, used together
   * (BitmapOr), serve it. Join keys and nested disjunctions inside an arm are not lookups: dropped.
   */
  private disjunction(body: Node, scope: ScopeState): void {
    const arms: RawPredicate[][] = [];
    for (const arm of list(body.args)) {
      const p0 = this.predicates.length;
      const j0 = this.joins.length;
      const g0 = this.orGroups.length;
      this.where(arm, scope);
      // IS NOT NULL selects by a partial index's WHERE only, no lookup an OR arm can be answered with.
      arms.push(this.predicates.splice(p0).filter((p) => p.kind !== 'not_null'));
      this.joins.splice(j0);
      this.orGroups.splice(g0);
    }
    if (arms.length > 1 && arms.every((a) => a.length > 0)) this.orGroups.push({ scope: scope.id, arms });
    else this.notes.add('OR condition');
  }

  private aExpr(body: Node, scope: ScopeState): void {
    const kind = body.kind as string;
    const op = opName(body.name);
    // IN lists and = ANY on a column, or on an expression of one column (payload ->> 'state' IN (...)).
    if (kind === 'AEXPR_IN') {
      if (op === '=' && unwrap(body.lexpr)?.[0] === 'RowExpr') {
        this.rowComparison(
          body.lexpr,
          list((unwrap(body.rexpr)?.[1] as Node | undefined)?.items ?? body.rexpr),
          scope,
        );
        return;
      }
      const left = op === '=' ? this.indexOperand(body.lexpr, scope) : undefined;
      if (!left) {
        if (op !== '=') this.notes.add('NOT IN condition');
        return;
      }
      const values = list((unwrap(body.rexpr)?.[1] as Node | undefined)?.items ?? body.rexpr).map((v) =>
        this.operand(v, scope),
      );
      this.pushValues(scope, left.ref, 'in', 'IN', values, left.expression);
      return;
    }
    if (kind === 'AEXPR_OP_ANY' && PATTERN_ANY_KIND[op]) {
      // `plate ILIKE ANY($1::text[])`, `name ~* ANY(ARRAY[...])`: any of several patterns. No btree serves
      // it (the planner derives a prefix range from one constant pattern, never from an array), but a
      // trigram GIN does, one bitmap scan per pattern: read as a pattern known only as $n.
      const left = this.indexOperand(body.lexpr, scope);
      const right = this.operand(body.rexpr, scope);
      if (!left || right.kind !== 'value') {
        this.notes.add('pattern match (LIKE ANY) on an expression');
        return;
      }
      this.predicates.push({
        scope: scope.id,
        column: left.ref,
        kind: PATTERN_ANY_KIND[op]!,
        operator: `${op} ANY`,
        params: right.params,
        ...(left.expression ? { expression: left.expression } : {}),
      });
      return;
    }
    if (kind === 'AEXPR_OP_ANY') {
      const left = op === '=' ? this.indexOperand(body.lexpr, scope) : undefined;
      const right = this.operand(body.rexpr, scope);
      if (left && right.kind === 'value') {
        this.predicates.push({
          scope: scope.id,
          column: left.ref,
          kind: 'in',
          operator: '= ANY',
          params: right.params,
          ...(left.expression ? { expression: left.expression } : {}),
        });
      }
      return;
    }
    if (kind === 'AEXPR_BETWEEN' || kind === 'AEXPR_BETWEEN_SYM') {
      // On a column, or on an expression of its table (ts::date BETWEEN ..., coalesce(a, b) BETWEEN ...).
      const left = this.indexOperand(body.lexpr, scope);
      const bounds = list((unwrap(body.rexpr)?.[1] as Node | undefined)?.items ?? body.rexpr).map((v) =>
        this.operand(v, scope),
      );
      if (left) this.pushValues(scope, left.ref, 'range', 'BETWEEN', bounds, left.expression);
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
    if (kind === 'AEXPR_DISTINCT' && op === '=') {
      this.inequality(body, scope, 'IS DISTINCT FROM');
      return;
    }
    if (kind !== 'AEXPR_OP') return;
    if (op === '=' && unwrap(body.lexpr)?.[0] === 'RowExpr' && unwrap(body.rexpr)?.[0] === 'RowExpr') {
      this.rowComparison(body.lexpr, [body.rexpr], scope);
      return;
    }
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
      if (operator === '<>' || operator === '!=') this.inequality(body, scope, '<>');
      return;
    }
    this.pushValues(scope, left.ref, predicateKind, operator, [right]);
  }

  /**
   * `status <> 'done'`, `status IS DISTINCT FROM 'paid'`: a column against one constant. No index looks
   * the rows up by it, but where the constant is the column's common value the rows left are few, and a
   * partial index holding just those serves the statement (optimizer/candidates.ts).
   */
  private inequality(body: Node, scope: ScopeState, operator: string): void {
    let column = this.operand(body.lexpr, scope);
    let value = this.operand(body.rexpr, scope);
    if (column.kind !== 'column') [column, value] = [value, column];
    const literal = value.kind === 'value' && value.params.length === 0 ? value.literals : undefined;
    if (column.kind !== 'column' || column.outer || literal?.length !== 1 || literal[0]!.sql === 'NULL') {
      this.notes.add('inequality (<>)');
      return;
    }
    this.predicates.push({
      scope: scope.id,
      column: column.ref,
      kind: 'not_eq',
      operator,
      literals: literal,
      params: [],
    });
  }

  /**
   * `(a, b) IN ((1, 'x'), (2, 'x'))` (and `(a, b) = (1, 'x')`), which the planner reads as
   * `(a = 1 AND b = 'x') OR (a = 2 AND b = 'x')`: each column of the row is read with the values its
   * position takes, an equality where every row gives it the same constant (b = 'x'), else an IN list
   * (a IN (1, 2)). These are implied by the condition, and the btree a DBA writes on them, (b, a, ...),
   * serves each arm of the planner's OR through a BitmapOr. A row of another arity is left alone.
   */
  private rowComparison(lexpr: unknown, rows: unknown[], scope: ScopeState): void {
    const columns = list((unwrap(lexpr)?.[1] as Node | undefined)?.args);
    const tuples = rows.map((r) => {
      const u = unwrap(r);
      return u?.[0] === 'RowExpr' ? list(u[1].args) : undefined;
    });
    if (tuples.length === 0 || tuples.some((t) => t?.length !== columns.length)) {
      this.notes.add('row comparison');
      return;
    }
    columns.forEach((c, i) => {
      const left = this.indexOperand(c, scope);
      if (!left) return;
      const values = tuples.map((t) => this.operand(t![i], scope));
      const seen = new Set<string>();
      const distinct = values.filter((v) => {
        if (v.kind !== 'value') return true;
        const id = v.literals?.map((l) => l.sql).join(',') ?? `$${v.params.join(',$')}`;
        return !seen.has(id) && seen.add(id);
      });
      const single =
        distinct.length === 1 && distinct[0]!.kind === 'value' && distinct[0]!.params.length <= 1;
      this.pushValues(scope, left.ref, single ? 'eq' : 'in', single ? '=' : 'IN', distinct, left.expression);
    });
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
   * A column of this scope, or an expression an index can be built on that reads columns of one table
   * of this scope (function calls, casts, jsonb paths, arithmetic; coalesce(closed_at, opened_at)), all
   * written with the same qualifier; undefined otherwise. The first column is its column, the rest its
   * others (the access checks that its table has them all).
   */
  protected indexOperand(
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
    // Columns of one table, all written with the same qualifier: one column (lower(email)), several
    // (coalesce(closed_at, opened_at)), or a range built from them (`tstzrange(starts_at, ends_at)`).
    const range = isRangeConstructor(node);
    if (refs.some((r) => r.qualifier !== first.qualifier || r.schema !== first.schema)) return undefined;
    if (refs.some((r) => this.isOuter(r, scope))) return undefined;
    const others = [...new Set(refs.map((r) => r.column))].filter((c) => c !== first.column);
    return {
      ref: first,
      expression: {
        sql,
        params,
        jsonb: /(->|#>)$/.test(lastOperator(node) ?? ''),
        ...(others.length > 0 ? { others } : {}),
        ...(range ? { range } : {}),
      },
    };
  }

  /** Classifies one side of a comparison. */
  protected operand(node: unknown, scope: ScopeState): Operand {
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
        const folded = type === 'A_Expr' || type === 'FuncCall' ? foldedConcat(node) : undefined;
        if (folded) return { kind: 'value', literals: [folded], params: [] };
        // Any other expression: a value for this scan when it refers to no column of this scope.
        const refs: ColumnRef[] = [];
        const params: number[] = [];
        collectColumnsAndParams(node, refs, params);
        for (const p of params) this.maxParam = Math.max(this.maxParam, p);
        this.scanSublinks(node, scope);
        if (refs.some((r) => !this.isOuter(r, scope))) return { kind: 'expr' };
        return { kind: 'value', params };
      }
    }
  }

  /** A qualified column of a relation of this scope on the nullable side of an outer join. */
  private onNullableSide(ref: ColumnRef, scope: ScopeState): boolean {
    if (!ref.qualifier) return false;
    const rel = scope.relations.find((r) =>
      r.alias
        ? r.alias === ref.qualifier
        : r.name === ref.qualifier && (!ref.schema || r.schema === ref.schema),
    );
    return rel !== undefined && this.nullable.has(rel.id);
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
  protected scanSublinks(node: unknown, scope: ScopeState): void {
    walkNodes(node, (type, body) => {
      if (type === 'SubLink') {
        if (this.scannedSublinks.has(body)) return false;
        this.scannedSublinks.add(body);
        this.anySelect(body.subselect, scope);
        return false;
      }
      return true;
    });
  }
}
