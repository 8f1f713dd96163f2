import { quoteIdent } from '../db/identifiers.ts';
import { list, type ParseNode as Node, stringValue as str, unwrap, walkNodes } from '../db/parse-tree.ts';
import type { ColumnRef, Literal, PredicateKind } from './analysis.ts';

/**
 * Expressions of a parsed statement as the optimizer needs them: constants as SQL literals, type names,
 * the SQL of an index expression on one column, the operators an index serves and their commuted forms.
 * Pure functions over libpg-query's tree (db/parse-tree.ts).
 */

/** The last name of an operator's qualified name (`OPERATOR(pg_catalog.=)` is =). */
export function opName(names: unknown): string {
  const parts = list(names).map(str);
  return parts[parts.length - 1] ?? '';
}

/** A column reference's names as written: `status`, `a.status`, or the last two of longer ones. */
export function columnRefOf(names: string[]): ColumnRef {
  return names.length === 1 ? { column: names[0]! } : { qualifier: names.at(-2)!, column: names.at(-1)! };
}

export const COMMUTED: Record<string, string> = {
  '=': '=',
  '<': '>',
  '>': '<',
  '<=': '>=',
  '>=': '<=',
  '<@': '@>',
  '@>': '<@',
  '&&': '&&',
  '@@': '@@',
  // inet / cidr: `value >>= col` is `col <<= value`.
  '<<=': '>>=',
  '>>=': '<<=',
  '<<': '>>',
  '>>': '<<',
};

/** The operator at the top of an expression (for `a -> 'k'`: ->). */
export function lastOperator(node: unknown): string | undefined {
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
export function renderIndexExpression(
  node: unknown,
  refs: ColumnRef[],
  params: number[],
): string | undefined {
  const u = unwrap(node);
  if (!u) return undefined;
  const [type, body] = u;
  switch (type) {
    case 'ColumnRef': {
      const names = list(body.fields).map(str);
      if (names.some((n) => n === undefined) || names.length === 0) return undefined;
      const ns = names as string[];
      refs.push(columnRefOf(ns));
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
      // A function the grammar spells with keywords (`extract(year from d)`, `substring(s from 2)`) is
      // parsed as pg_catalog.extract('year', d): its name is a keyword, callable only schema-qualified.
      const keywordSyntax = body.funcformat === 'COERCE_SQL_SYNTAX';
      const fn = list(body.funcname)
        .map(str)
        .filter((n) => keywordSyntax || n !== 'pg_catalog');
      if (fn.length === 0 || fn.some((n) => n === undefined)) return undefined;
      const args = list(body.args).map((a) => renderIndexExpression(a, refs, params));
      if (args.some((a) => a === undefined)) return undefined;
      // A name the grammar folds to lower case is written bare (`lower`, `app.normalize`), as the server
      // prints it; any other (a mixed-case schema's `"Billing".normalize`) quoted, or it names another
      // function.
      const name = (fn as string[]).map((n) => (/^[a-z_][a-z0-9_]*$/.test(n) ? n : quoteIdent(n))).join('.');
      return `${name}(${args.join(', ')})`;
    }
    case 'CoalesceExpr':
    case 'MinMaxExpr': {
      // COALESCE(closed_at, opened_at), GREATEST(a, b), LEAST(a, b).
      const fn = type === 'CoalesceExpr' ? 'COALESCE' : body.op === 'IS_GREATEST' ? 'GREATEST' : 'LEAST';
      const args = list(body.args).map((a) => renderIndexExpression(a, refs, params));
      if (args.length === 0 || args.some((a) => a === undefined)) return undefined;
      return `${fn}(${args.join(', ')})`;
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

/** The built-in range constructors: an expression index on `tstzrange(a, b)` is a GiST of ranges. */
const RANGE_CONSTRUCTORS = new Set([
  'tstzrange',
  'tsrange',
  'daterange',
  'int4range',
  'int8range',
  'numrange',
]);

/** Whether the expression is a call of a built-in range constructor. */
export function isRangeConstructor(node: unknown): boolean {
  const u = unwrap(node);
  if (u?.[0] !== 'FuncCall') return false;
  const fn = list(u[1].funcname).map(str);
  return (
    fn.length > 0 && (fn.length === 1 || fn[0] === 'pg_catalog') && RANGE_CONSTRUCTORS.has(fn.at(-1) ?? '')
  );
}

export const OPERATOR_KIND: Record<string, PredicateKind> = {
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
  '@@': 'text_match',
  '@?': 'jsonb_path',
  '<<=': 'network_within',
  '<<': 'network_within',
  '>>=': 'network_contains',
  '>>': 'network_contains',
  '~': 'regex',
  '~*': 'regex',
};

export function isNullConst(node: unknown): boolean {
  const u = unwrap(node);
  return u?.[0] === 'A_Const' && u[1].isnull === true;
}

/** SQL text of a literal constant, quoted as PostgreSQL would need it. */
export function constLiteral(body: Node): Literal {
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

/**
 * A string the planner folds to a constant: literals joined by `||` (`'gue' || '%'`, as a LIKE pattern is
 * often written around a bind parameter and then logged with its value), or undefined.
 */
export function foldedConcat(node: unknown): Literal | undefined {
  const u = unwrap(node);
  if (!u) return undefined;
  const [type, body] = u;
  let text: string | undefined;
  if (type === 'A_Const' && !body.isnull && body.boolval === undefined && body.bsval === undefined) {
    text = constLiteral(body).text;
  } else if (
    type === 'TypeCast' &&
    /^(text|varchar|character varying)$/.test(typeNameSql(body.typeName) ?? '')
  ) {
    text = foldedConcat(body.arg)?.text;
  } else if (type === 'A_Expr' && body.kind === 'AEXPR_OP' && opName(body.name) === '||') {
    const l = foldedConcat(body.lexpr);
    const r = l && foldedConcat(body.rexpr);
    if (l && r) text = l.text + r.text;
  } else if (type === 'FuncCall' && isLikeEscape(body)) {
    // `LIKE 'a!_b%' ESCAPE '!'` is `LIKE like_escape('a!_b%', '!')`, folded by the planner to the
    // pattern with backslash escapes ('a\_b%') before it looks for a prefix.
    const [pattern, escapeChar] = list(body.args).map(foldedConcat);
    if (pattern && escapeChar) text = likeEscape(pattern.text, escapeChar.text);
  }
  return text === undefined ? undefined : { text, sql: `'${text.replaceAll("'", "''")}'` };
}

function isLikeEscape(body: Node): boolean {
  const fn = list(body.funcname).map(str);
  return (
    fn.at(-1) === 'like_escape' &&
    (fn.length === 1 || (fn.length === 2 && fn[0] === 'pg_catalog')) &&
    list(body.args).length === 2
  );
}

/**
 * PostgreSQL's like_escape(pattern, escape): the pattern rewritten to use backslash as its escape
 * character, as the LIKE operator reads it. Undefined for an escape of more than one character (an error
 * on the server).
 */
export function likeEscape(pattern: string, esc: string): string | undefined {
  const chars = [...pattern];
  if (esc === '') return chars.map((c) => (c === '\\' ? '\\\\' : c)).join('');
  if ([...esc].length !== 1) return undefined;
  if (esc === '\\') return pattern;
  let out = '';
  let afterEscape = false;
  for (const c of chars) {
    if (c === esc && !afterEscape) {
      out += '\\';
      afterEscape = true;
    } else if (c === '\\') {
      out += afterEscape ? '\\' : '\\\\';
      afterEscape = false;
    } else {
      out += c;
      afterEscape = false;
    }
  }
  return out;
}

export function typeNameSql(typeName: unknown): string | undefined {
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

/** The columns and $n parameters an expression mentions, not looking into sub-selects. */
export function collectColumnsAndParams(node: unknown, refs: ColumnRef[], params: number[]): void {
  walkNodes(node, (type, body) => {
    if (type === 'SubLink') return false;
    if (type === 'ColumnRef') {
      const names = list(body.fields).map(str);
      if (names.every((n) => n !== undefined)) {
        refs.push(columnRefOf(names as string[]));
      }
      return false;
    }
    if (type === 'ParamRef') params.push(body.number as number);
    return true;
  });
}
