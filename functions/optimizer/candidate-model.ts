import { quoteIdent } from '../db/identifiers.ts';
import type { AccessOrderItem } from './access.ts';
import type { Literal } from './analyze.ts';
import { byteOrderCollation, type ColumnInfo, type TableInfo } from './catalog.ts';

/**
 * What a candidate index is (pure): its columns, method, operator class, partial predicate and INCLUDE
 * list, its identity key, and the rules of what may be a key or an INCLUDE column. candidates.ts proposes
 * them from table accesses.
 */

export interface CandidateColumn {
  /** The column, or for an expression the one column it reads. */
  column: string;
  /** An index expression on the column, e.g. lower("title") or ("payload" ->> 'kind'). */
  expression?: string;
  /** Operator class when not the type's default (text_pattern_ops, gin_trgm_ops, jsonb_path_ops). */
  opclass?: string;
  desc: boolean;
  /**
   * NULLS FIRST (true) or LAST (false), set only where the sort order asks for the other than the
   * direction's default (NULLS FIRST for DESC, LAST for ASC): `ORDER BY x DESC NULLS LAST` can use
   * neither (x) nor (x DESC), read either way.
   */
  nullsFirst?: boolean;
  /** Part of a required sort order: its direction relative to the others matters. */
  ordered: boolean;
}

/** Whether a key column sorts its NULLs first. */
export const nullsFirstOf = (c: Pick<CandidateColumn, 'desc' | 'nullsFirst'>): boolean =>
  c.nullsFirst ?? c.desc;

/** An ORDER BY item as a key column: its direction, and its NULLS placement where not the default. */
export function orderedColumn(o: AccessOrderItem): CandidateColumn {
  const desc = o.direction === 'desc';
  const nullsFirst = o.nulls === 'default' ? desc : o.nulls === 'first';
  return {
    column: o.column,
    ...(o.expression ? { expression: o.expression.sql } : {}),
    desc,
    ...(nullsFirst !== desc ? { nullsFirst } : {}),
    ordered: true,
  };
}

export interface PartialPredicate {
  column: string;
  literals: Literal[];
  /** The WHERE clause text, e.g. status IN ('active', 'pending'), or deleted_at IS NULL. */
  sql: string;
  /**
   * The condition is fixed in the statement's text (IS NULL survives normalization), not a constant
   * seen in one sample that pg_stat_statements shows as $n.
   */
  fixed?: boolean;
}

/** Access methods of candidates: btree, GIN (jsonb, arrays, full text, trigrams), GiST (range types). */
export type CandidateMethod = 'btree' | 'gin' | 'gist';

/**
 * A partial candidate's benefit counts this much when ranked against full ones, unless its WHERE is fixed
 * in the statement's text: one sample cannot show that a sampled constant is fixed.
 */
export const PARTIAL_PREFERENCE = 0.7;

export interface CandidateIndex {
  /** Identity: table, method, columns, opclass, predicate. */
  key: string;
  table: TableInfo;
  method: CandidateMethod;
  columns: CandidateColumn[];
  /** The first eqPrefix columns are equality lookups: their order among themselves does not matter. */
  eqPrefix: number;
  /** GIN operator class (jsonb_ops, jsonb_path_ops, array_ops, gin_trgm_ops). */
  opclass?: string;
  /** INCLUDE columns: with them the statement's other columns come from the index (index-only scan). */
  include?: string[];
  predicate?: PartialPredicate;
  /** Why it was proposed, e.g. "equality on status, order by created_at DESC". */
  reason: string;
  /** Statements (by id) whose access proposed it. */
  statements: Set<string>;
}

/** What candidates may use besides the table: installed extensions (pg_trgm) by name, with their schema. */
export interface CandidateEnvironment {
  extensions?: Map<string, string>;
}

/** Schemas no candidate is ever built in: the system catalogs are not the application's. */
export const SYSTEM_SCHEMAS = new Set(['pg_catalog', 'information_schema', 'pg_toast']);

/** Kinds of a btree-usable column: not JSON, geometry, full text or other non-orderable types. */
export const NON_BTREE_TYPES = /^(json|jsonb|xml|point|line|lseg|box|path|polygon|circle|tsvector|tsquery)\b/;

export function btreeable(col: ColumnInfo | undefined): boolean {
  return !!col && !NON_BTREE_TYPES.test(col.type) && col.typeCategory !== 'A';
}

/** Columns at most in an INCLUDE list: a covering index should stay small. */
export const MAX_INCLUDE = 4;

/**
 * Whether columns make a covering index's INCLUDE list: at most MAX_INCLUDE, narrow scalar columns only (by
 * their average width in pg_stats), 64 bytes together; JSON, arrays and long text would make the index as
 * wide as the table.
 */
export function includable(t: TableInfo, columns: string[]): boolean {
  const infos = columns.map((x) => t.columns.find((c) => c.name === x));
  const narrow = infos.every((i) => i && btreeable(i) && i.type !== 'bytea' && (i.avgWidth ?? 64) <= 32);
  const width = infos.reduce((sum, i) => sum + (i?.avgWidth ?? 64), 0);
  return columns.length > 0 && columns.length <= MAX_INCLUDE && narrow && width <= 64;
}

/** Few enough distinct values that a constant predicate on the column is worth a partial index. */
export const PARTIAL_MAX_DISTINCT = 64;

/** `col IS NOT NULL` becomes a partial index's WHERE when at least this share of the column is NULL. */
export const NOT_NULL_MIN_NULL_FRAC = 0.5;

export function renderPredicate(column: string, literals: Literal[]): string {
  if (literals.length === 1) return `${quoteIdent(column)} = ${literals[0]!.sql}`;
  return `${quoteIdent(column)} IN (${literals.map((l) => l.sql).join(', ')})`;
}

export function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

export function describe(parts: Array<[string, string[]]>): string {
  return parts
    .filter(([, cols]) => cols.length > 0)
    .map(([what, cols]) => `${what} ${cols.join(', ')}`)
    .join('; ');
}

/** A key column's identity: the column or expression, and a non-default operator class. */
export function keyId(c: Pick<CandidateColumn, 'column' | 'expression' | 'opclass'>): string {
  return `${c.expression ?? c.column}${c.opclass ? ` ${c.opclass}` : ''}`;
}

/** ' NULLS FIRST' / ' NULLS LAST' where the column's placement is not its direction's default. */
export function nullsSql(c: Pick<CandidateColumn, 'desc' | 'nullsFirst'>): string {
  return nullsFirstOf(c) === c.desc ? '' : nullsFirstOf(c) ? ' NULLS FIRST' : ' NULLS LAST';
}

export function label(c: CandidateColumn): string {
  return `${c.expression ?? c.column}${c.opclass ? ` ${c.opclass}` : ''}${c.desc ? ' DESC' : ''}${nullsSql(c)}`;
}

export function candidateKey(c: Omit<CandidateIndex, 'key' | 'statements' | 'reason'>): string {
  const cols = c.columns
    .map((x) => `${keyId(x)}${x.desc ? ' desc' : ''}${nullsSql(x).toLowerCase()}`)
    .join(',');
  return `${c.table.oid}|${c.method}|${c.opclass ?? ''}|${cols}|${c.predicate?.sql ?? ''}|${(c.include ?? []).join(',')}`;
}

export function make(
  table: TableInfo,
  method: CandidateMethod,
  columns: CandidateColumn[],
  eqPrefix: number,
  reason: string,
  statementId: string,
  extra: { opclass?: string; predicate?: PartialPredicate; include?: string[] } = {},
): CandidateIndex {
  const base = { table, method, columns, eqPrefix, ...extra };
  return { ...base, key: candidateKey(base), reason, statements: new Set([statementId]) };
}

/** A LIKE pattern's fixed prefix when it has one ('abc%' -> 'abc'); undefined for '%abc' or '_bc'. */
export function likePrefix(pattern: string): string | undefined {
  let prefix = '';
  // A backslash makes the next character literal ('a\\_b%' -> 'a_b'), as the planner reads the prefix.
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '%' || c === '_' || (c === '\\' && i + 1 === pattern.length)) break;
    prefix += c === '\\' ? pattern[++i]! : c;
  }
  return prefix.length > 0 ? prefix : undefined;
}

/**
 * A case-sensitive regular expression's fixed prefix when it is anchored ('^INV-20' -> 'INV-20'), as the
 * planner reads one to turn `~` into a btree range (undefined for an unanchored or an alternation at the
 * top). A character a quantifier follows ('^abc*', '^ab?') is no part of the prefix.
 */
export function regexPrefix(pattern: string): string | undefined {
  if (!pattern.startsWith('^') || pattern.includes('|')) return undefined;
  let prefix = '';
  for (let i = 1; i < pattern.length; i++) {
    const c = pattern[i]!;
    if ('*?{+'.includes(c)) {
      // The quantified character may be absent ('+' keeps it, once at least).
      if (c !== '+') prefix = prefix.slice(0, -1);
      break;
    }
    if ('.[()^$'.includes(c)) break;
    if (c === '\\') {
      const next = pattern[i + 1];
      // An escaped punctuation character is itself; a class escape (\d, \w) or a back reference is not.
      if (next === undefined || /[0-9A-Za-z]/.test(next)) break;
      prefix += next;
      i++;
      continue;
    }
    prefix += c;
  }
  return prefix.length > 0 ? prefix : undefined;
}

/** The pattern operator class a btree needs for LIKE 'prefix%' under a non-C collation. */
export function patternOpclass(col: ColumnInfo | undefined, expression: boolean): string | undefined {
  if (!col) return undefined;
  if (!expression && byteOrderCollation(col)) return undefined;
  if (expression) return 'text_pattern_ops';
  if (col.type.startsWith('character varying')) return 'varchar_pattern_ops';
  if (col.type.startsWith('character')) return 'bpchar_pattern_ops';
  if (col.type === 'text') return 'text_pattern_ops';
  return undefined;
}
