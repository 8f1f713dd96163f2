import { createHash } from 'node:crypto';
import { quoteIdent, quoteQualified } from '../db/identifiers.ts';
import type { AccessPredicate, TableAccess } from './access.ts';
import type { Literal } from './analyze.ts';
import { type ColumnInfo, distinctValues, type IndexInfo, type TableInfo } from './catalog.ts';

/**
 * Candidate indexes from table accesses: multi-column btrees (equality, then range, then order), partial
 * btrees for constant predicates on low-cardinality columns, GIN for JSONB and array operators. Pure.
 */

export interface CandidateColumn {
  column: string;
  desc: boolean;
  /** Part of a required sort order: its direction relative to the others matters. */
  ordered: boolean;
}

export interface PartialPredicate {
  column: string;
  literals: Literal[];
  /** The WHERE clause text, e.g. status IN ('active', 'pending'). */
  sql: string;
}

export interface CandidateIndex {
  /** Identity: table, method, columns, opclass, predicate. */
  key: string;
  table: TableInfo;
  method: 'btree' | 'gin';
  columns: CandidateColumn[];
  /** The first eqPrefix columns are equality lookups: their order among themselves does not matter. */
  eqPrefix: number;
  /** GIN operator class (jsonb_ops, jsonb_path_ops, array_ops). */
  opclass?: string;
  /** INCLUDE columns: with them the statement's other columns come from the index (index-only scan). */
  include?: string[];
  predicate?: PartialPredicate;
  /** Why it was proposed, e.g. "equality on status, order by created_at DESC". */
  reason: string;
  /** Statements (by id) whose access proposed it. */
  statements: Set<string>;
}

/** Kinds of a btree-usable column: not JSON, geometry, full text or other non-orderable types. */
const NON_BTREE_TYPES = /^(json|jsonb|xml|point|line|lseg|box|path|polygon|circle|tsvector|tsquery)\b/;

function btreeable(col: ColumnInfo | undefined): boolean {
  return !!col && !NON_BTREE_TYPES.test(col.type) && col.typeCategory !== 'A';
}

/** Columns at most in an INCLUDE list: a covering index should stay small. */
const MAX_INCLUDE = 4;

/** Few enough distinct values that a constant predicate on the column is worth a partial index. */
export const PARTIAL_MAX_DISTINCT = 64;

function renderPredicate(column: string, literals: Literal[]): string {
  if (literals.length === 1) return `${quoteIdent(column)} = ${literals[0]!.sql}`;
  return `${quoteIdent(column)} IN (${literals.map((l) => l.sql).join(', ')})`;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function describe(parts: Array<[string, string[]]>): string {
  return parts
    .filter(([, cols]) => cols.length > 0)
    .map(([what, cols]) => `${what} ${cols.join(', ')}`)
    .join('; ');
}

function candidateKey(c: Omit<CandidateIndex, 'key' | 'statements' | 'reason'>): string {
  const cols = c.columns.map((x) => `${x.column}${x.desc ? ' desc' : ''}`).join(',');
  return `${c.table.oid}|${c.method}|${c.opclass ?? ''}|${cols}|${c.predicate?.sql ?? ''}|${(c.include ?? []).join(',')}`;
}

function make(
  table: TableInfo,
  method: 'btree' | 'gin',
  columns: CandidateColumn[],
  eqPrefix: number,
  reason: string,
  statementId: string,
  extra: { opclass?: string; predicate?: PartialPredicate; include?: string[] } = {},
): CandidateIndex {
  const base = { table, method, columns, eqPrefix, ...extra };
  return { ...base, key: candidateKey(base), reason, statements: new Set([statementId]) };
}

/** Candidate indexes for one table access of one statement. */
export function candidatesForAccess(access: TableAccess, statementId: string): CandidateIndex[] {
  const t = access.table;
  const col = (name: string) => t.columns.find((c) => c.name === name);
  const out: CandidateIndex[] = [];
  const byKind = (kinds: AccessPredicate['kind'][]) =>
    access.predicates.filter((p) => kinds.includes(p.kind) && btreeable(col(p.column)));
  // Most selective equality first: the index is then useful to more statements as a prefix.
  const distinct = (c: string) => distinctValues(t, col(c)) ?? 0;
  const eq = unique(byKind(['eq', 'is_null']).map((p) => p.column)).sort((a, b) => distinct(b) - distinct(a));
  const inCols = unique(byKind(['in']).map((p) => p.column)).filter((c) => !eq.includes(c));
  const range = unique(byKind(['range']).map((p) => p.column)).filter((c) => !eq.includes(c));
  const order = access.order?.items.filter((i) => btreeable(col(i.column))) ?? [];
  const orderUsable = access.order !== undefined && order.length === access.order.items.length;
  const eqCols: CandidateColumn[] = eq.map((c) => ({ column: c, desc: false, ordered: false }));

  // Equality, then the sort order: rows come out sorted, a LIMIT stops early.
  if (orderUsable && order.length > 0) {
    const rest = order.filter((o) => !eq.includes(o.column));
    if (rest.length > 0) {
      out.push(
        make(
          t,
          'btree',
          [
            ...eqCols,
            ...rest.map((o) => ({ column: o.column, desc: o.direction === 'desc', ordered: true })),
          ],
          eq.length,
          describe([
            ['equality on', eq],
            ['order by', rest.map((o) => `${o.column}${o.direction === 'desc' ? ' DESC' : ''}`)],
          ]) + (access.order?.limit ? ' with LIMIT' : ''),
          statementId,
        ),
      );
    }
  }
  // Equality, IN lists, then one range column.
  for (const r of range.length > 0 ? range : [undefined]) {
    const cols = [
      ...eqCols,
      ...inCols.map((c) => ({ column: c, desc: false, ordered: false })),
      ...(r ? [{ column: r, desc: false, ordered: false }] : []),
    ];
    if (cols.length === 0) continue;
    out.push(
      make(
        t,
        'btree',
        cols,
        eq.length,
        describe([
          ['equality on', eq],
          ['IN on', inCols],
          ['range on', r ? [r] : []],
        ]),
        statementId,
      ),
    );
  }
  // Nested-loop lookups by a join key.
  for (const j of access.joinColumns.filter((c) => btreeable(col(c)) && !eq.includes(c))) {
    out.push(
      make(
        t,
        'btree',
        [...eqCols, { column: j, desc: false, ordered: false }],
        eq.length + 1,
        describe([
          ['equality on', eq],
          ['join key', [j]],
        ]),
        statementId,
      ),
    );
  }
  // Partial indexes: a constant predicate on a low-cardinality column becomes the index's WHERE clause,
  // and the rest of the access its key.
  const constant = access.predicates.filter(
    (p) =>
      (p.kind === 'in' || p.kind === 'eq') &&
      p.literals !== undefined &&
      p.literals.length > 0 &&
      p.literals.every((l) => l.sql !== 'NULL') &&
      btreeable(col(p.column)) &&
      (distinctValues(t, col(p.column)) ?? Number.POSITIVE_INFINITY) <= PARTIAL_MAX_DISTINCT,
  );
  for (const p of constant) {
    const predicate: PartialPredicate = {
      column: p.column,
      literals: [...p.literals!].sort((a, b) => a.sql.localeCompare(b.sql)),
      sql: renderPredicate(
        p.column,
        [...p.literals!].sort((a, b) => a.sql.localeCompare(b.sql)),
      ),
    };
    const otherEq = eqCols.filter((c) => c.column !== p.column);
    let key: CandidateColumn[];
    if (orderUsable && order.length > 0) {
      key = [
        ...otherEq,
        ...order
          .filter((o) => o.column !== p.column && !eq.includes(o.column))
          .map((o) => ({ column: o.column, desc: o.direction === 'desc', ordered: true })),
      ];
    } else {
      const r = range[0];
      key = [...otherEq, ...(r && r !== p.column ? [{ column: r, desc: false, ordered: false }] : [])];
    }
    if (key.length === 0) key = [{ column: p.column, desc: false, ordered: false }];
    out.push(
      make(
        t,
        'btree',
        key,
        otherEq.length,
        `partial for ${predicate.sql}; ${describe([
          ['equality on', otherEq.map((c) => c.column)],
          ['key', key.slice(otherEq.length).map((c) => `${c.column}${c.desc ? ' DESC' : ''}`)],
        ])}`,
        statementId,
        { predicate },
      ),
    );
  }
  // Covering variants: the statement's other (narrow) columns as INCLUDE, so a read needs no heap visit.
  if (!access.allColumns) {
    for (const c of [...out]) {
      const key = new Set(c.columns.map((x) => x.column));
      const rest = [...access.columns].filter((x) => !key.has(x)).sort();
      const infos = rest.map(col);
      // Narrow scalar columns only (by their average width in pg_stats): JSON, arrays and long text
      // would make the index as wide as the table.
      const narrow = infos.every((i) => i && btreeable(i) && i.type !== 'bytea' && (i.avgWidth ?? 64) <= 32);
      const width = infos.reduce((sum, i) => sum + (i?.avgWidth ?? 64), 0);
      if (rest.length === 0 || rest.length > MAX_INCLUDE || !narrow || width > 64) continue;
      out.push(
        make(t, 'btree', c.columns, c.eqPrefix, `${c.reason}; covering ${rest.join(', ')}`, statementId, {
          predicate: c.predicate,
          include: rest,
        }),
      );
    }
  }
  // GIN: JSONB containment needs jsonb_path_ops or jsonb_ops; key existence needs jsonb_ops.
  const ginCols = unique(
    access.predicates
      .filter((p) => p.kind === 'jsonb_contains' || p.kind === 'jsonb_exists' || p.kind === 'array_overlap')
      .map((p) => p.column),
  );
  for (const c of ginCols) {
    const info = col(c);
    if (!info) continue;
    const kinds = access.predicates.filter((p) => p.column === c).map((p) => p.kind);
    let opclass: string;
    if (info.type === 'jsonb') opclass = kinds.includes('jsonb_exists') ? 'jsonb_ops' : 'jsonb_path_ops';
    else if (info.typeCategory === 'A') opclass = 'array_ops';
    else continue;
    out.push(
      make(
        t,
        'gin',
        [{ column: c, desc: false, ordered: false }],
        0,
        `${kinds.includes('jsonb_exists') ? 'key existence (?)' : 'containment (@>)'} on ${c}`,
        statementId,
        { opclass },
      ),
    );
  }
  return out;
}

/** Whether `inner`'s columns are a prefix of `outer`'s (equality columns in any order). */
function isPrefix(inner: CandidateColumn[], innerEq: number, outer: CandidateColumn[]): boolean {
  if (inner.length > outer.length) return false;
  const innerEqSet = new Set(inner.slice(0, innerEq).map((c) => c.column));
  const outerHead = new Set(outer.slice(0, innerEq).map((c) => c.column));
  if (innerEqSet.size !== outerHead.size || [...innerEqSet].some((c) => !outerHead.has(c))) return false;
  let flip: boolean | undefined;
  for (let i = innerEq; i < inner.length; i++) {
    const a = inner[i]!;
    const b = outer[i]!;
    if (a.column !== b.column) return false;
    if (a.ordered) {
      // A btree reads backwards too: the directions must agree all the same way.
      const f = a.desc !== b.desc;
      if (flip === undefined) flip = f;
      else if (flip !== f) return false;
    }
  }
  return true;
}

/** The string literals and column name a partial index predicate (pg_get_expr text) mentions. */
function predicateSignature(text: string): { literals: string[]; columns: string[] } {
  const literals = [...text.matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1]!.replaceAll("''", "'")).sort();
  const stripped = text.replace(/'((?:[^']|'')*)'(::[a-z ]+(\[\])?)?/g, '');
  const columns = unique([...stripped.matchAll(/"?([a-z_][a-z0-9_]*)"?/gi)].map((m) => m[1]!)).filter(
    (w) => !/^(ANY|ARRAY|IN|AND|OR|NOT|text|true|false|null)$/i.test(w),
  );
  return { literals, columns };
}

function samePredicate(existing: string, p: PartialPredicate): boolean {
  const sig = predicateSignature(existing);
  const want = p.literals.map((l) => l.text).sort();
  return (
    sig.columns.length === 1 &&
    sig.columns[0] === p.column &&
    sig.literals.length === want.length &&
    sig.literals.every((l, i) => l === want[i])
  );
}

/** The existing index that already serves a candidate, if any. */
export function coveringIndex(c: CandidateIndex, indexes: IndexInfo[]): IndexInfo | undefined {
  for (const ix of indexes) {
    if (!ix.valid || ix.method !== c.method) continue;
    if (ix.predicate && (!c.predicate || !samePredicate(ix.predicate, c.predicate))) continue;
    const keys = ix.keys.filter((k) => !k.included);
    if (keys.some((k) => k.column === null)) continue;
    if (c.method === 'gin') {
      const k = keys[0];
      if (keys.length !== 1 || k?.column !== c.columns[0]!.column) continue;
      if (c.opclass === 'jsonb_ops' && k.opclass !== 'jsonb_ops') continue;
      return ix;
    }
    const outer = keys.map((k) => ({ column: k.column!, desc: k.desc, ordered: true }));
    // A covering variant of a key an index already has would be a second index on the same key: the
    // existing one serves it (its INCLUDE columns are not worth the duplicate).
    // A full index whose key starts with the candidate's key serves a partial candidate as well.
    if (isPrefix(c.columns, c.eqPrefix, outer)) return ix;
  }
  return undefined;
}

/**
 * Folds candidates into each other: identical ones merge their statements, and one whose columns are a
 * prefix of another's (same table, method, predicate) is absorbed by the longer one.
 */
export function mergeCandidates(all: CandidateIndex[]): CandidateIndex[] {
  const byKey = new Map<string, CandidateIndex>();
  for (const c of all) {
    const prior = byKey.get(c.key);
    if (prior) {
      for (const s of c.statements) prior.statements.add(s);
    } else {
      byKey.set(c.key, { ...c, statements: new Set(c.statements) });
    }
  }
  // GIN on the same column: jsonb_ops serves containment as well as existence.
  const list = [...byKey.values()];
  for (const a of list) {
    if (a.method !== 'gin' || a.opclass !== 'jsonb_path_ops') continue;
    const b = list.find(
      (x) =>
        x.method === 'gin' &&
        x.opclass === 'jsonb_ops' &&
        x.table.oid === a.table.oid &&
        x.columns[0]!.column === a.columns[0]!.column,
    );
    if (b) {
      for (const s of a.statements) b.statements.add(s);
      byKey.delete(a.key);
    }
  }
  const remaining = [...byKey.values()].sort((a, b) => b.columns.length - a.columns.length);
  const kept: CandidateIndex[] = [];
  for (const c of remaining) {
    const absorber = kept.find(
      (k) =>
        k.table.oid === c.table.oid &&
        k.method === c.method &&
        k.method === 'btree' &&
        (k.predicate?.sql ?? '') === (c.predicate?.sql ?? '') &&
        (k.include ?? []).join(',') === (c.include ?? []).join(',') &&
        isPrefix(c.columns, c.eqPrefix, k.columns),
    );
    if (absorber) for (const s of c.statements) absorber.statements.add(s);
    else kept.push(c);
  }
  return kept;
}

/** A stable index name: dgm_auto_<table>_<columns>_<hash>, at most 63 bytes. */
export function candidateName(c: CandidateIndex): string {
  const hash = createHash('sha256').update(c.key).digest('hex').slice(0, 8);
  const cols = c.columns.map((x) => x.column).join('_');
  const base =
    `dgm_auto_${c.table.name}_${cols}${c.predicate ? '_part' : ''}${c.include?.length ? '_cov' : ''}${c.method === 'gin' ? '_gin' : ''}`
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_');
  const room = 63 - hash.length - 1;
  let head = base;
  while (Buffer.byteLength(head) > room) head = head.slice(0, -1);
  return `${head}_${hash}`;
}

/** The column list of a CREATE INDEX, e.g. (status, created_at DESC) or (metadata jsonb_path_ops). */
export function columnListSql(c: CandidateIndex): string {
  const cols = c.columns.map((x) => {
    const parts = [quoteIdent(x.column)];
    if (c.method === 'gin' && c.opclass && c.opclass !== 'array_ops' && c.opclass !== 'jsonb_ops')
      parts.push(c.opclass);
    if (x.desc) parts.push('DESC');
    return parts.join(' ');
  });
  return `(${cols.join(', ')})`;
}

export interface CreateIndexOptions {
  name: string;
  concurrently?: boolean;
  only?: boolean;
  ifNotExists?: boolean;
  /** Builds on another table (a partition) with the candidate's definition. */
  on?: { schema: string; name: string };
}

/** CREATE INDEX for a candidate; every identifier quoted. */
export function createIndexSql(c: CandidateIndex, o: CreateIndexOptions): string {
  const on = o.on ?? { schema: c.table.schema, name: c.table.name };
  return [
    'CREATE INDEX',
    o.concurrently ? 'CONCURRENTLY' : '',
    o.ifNotExists ? 'IF NOT EXISTS' : '',
    quoteIdent(o.name),
    'ON',
    o.only ? 'ONLY' : '',
    quoteQualified(on.schema, on.name),
    c.method === 'gin' ? 'USING gin' : '',
    columnListSql(c),
    c.include?.length ? `INCLUDE (${c.include.map(quoteIdent).join(', ')})` : '',
    c.predicate ? `WHERE ${c.predicate.sql}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/** The definition people read: CREATE INDEX name ON table USING method (...) WHERE ... */
export function describeCandidate(c: CandidateIndex, name = candidateName(c)): string {
  return createIndexSql(c, { name });
}
