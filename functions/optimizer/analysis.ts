/**
 * What optimizer/analyze.ts reads from one statement: the real tables it names (per scope: the statement,
 * each sub-select), the predicates an index could serve, join keys, ORDER BY with LIMIT, and the columns a
 * covering index would need. Plain data; column references are kept as written and resolved against the
 * catalog later (resolveStatement in access.ts).
 */

export type Operation = 'select' | 'insert' | 'update' | 'delete' | 'other';

export type PredicateKind =
  | 'eq'
  | 'in'
  | 'range'
  | 'is_null'
  /** `col <> constant`, `col IS DISTINCT FROM constant`: the WHERE of a partial index, never a key. */
  | 'not_eq'
  /** `col IS NOT NULL`: the WHERE of a partial index where most of the column is NULL. */
  | 'not_null'
  | 'jsonb_contains'
  | 'jsonb_exists'
  | 'array_overlap'
  /** `array <@ value`: GIN array_ops serves it. */
  | 'array_contained'
  /** LIKE / ILIKE: a btree serves a constant prefix (LIKE only), pg_trgm GIN any pattern. */
  | 'like'
  | 'ilike'
  /** POSIX regular expression `~` / `~*`: pg_trgm GIN serves it (trigrams read from the expression). */
  | 'regex'
  /**
   * Full-text search `tsvector @@ tsquery`: GIN (tsvector_ops) on the tsvector column or expression. On
   * jsonb, `@@` is a jsonpath predicate: GIN (jsonb_path_ops) serves it.
   */
  | 'text_match'
  /** jsonpath `jsonb @? path`: GIN (jsonb_path_ops or jsonb_ops) serves it. */
  | 'jsonb_path'
  /** inet / cidr `col << net`, `col <<= net`: a btree serves it (a range on the network), GiST inet_ops too. */
  | 'network_within'
  /** inet / cidr `col >> addr`, `col >>= addr` (the column's network holds the value): GiST inet_ops. */
  | 'network_contains';

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
  /** The other columns of the same table it reads (coalesce(closed_at, opened_at)), besides its column. */
  others?: string[];
  /**
   * The expression builds a range from the row's columns (`tstzrange(starts_at, ends_at)`): GiST serves
   * its operators.
   */
  range?: boolean;
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
  /**
   * The value is part of the statement's text, not a constant pg_stat_statements replaces: a boolean
   * column tested bare (`flag`, `NOT flag`).
   */
  fixed?: boolean;
}

/**
 * A disjunction `a = $1 OR b = $2` on one query level: each arm's predicates (an arm may be a
 * conjunction). No single index serves it; one index per arm, together, do (a BitmapOr of their scans).
 */
export interface RawOrGroup {
  scope: number;
  arms: RawPredicate[][];
}

export interface RawJoin {
  scope: number;
  left: ColumnRef;
  right: ColumnRef;
}

export interface RawOrderItem {
  /** The column, or the one column the expression reads. */
  column: ColumnRef;
  /** ORDER BY an expression of one column (lower(title)): an expression index returns that order. */
  expression?: IndexExpression;
  direction: 'asc' | 'desc';
  nulls: 'first' | 'last' | 'default';
  /** A distance to a value, `col <-> point($1, $2)`: a nearest-neighbour order (GiST), not a btree's. */
  distance?: boolean;
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
  /** OR conditions whose every arm has an indexable predicate (resolved to one table in access.ts). */
  orGroups: RawOrGroup[];
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
