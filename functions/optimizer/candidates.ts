import { quoteIdent } from '../db/identifiers.ts';
import type { AccessOrderItem, AccessPredicate, TableAccess } from './access.ts';
import {
  btreeable,
  type CandidateColumn,
  type CandidateEnvironment,
  type CandidateIndex,
  describe,
  includable,
  keyId,
  label,
  likePrefix,
  make,
  NOT_NULL_MIN_NULL_FRAC,
  orderedColumn,
  PARTIAL_MAX_DISTINCT,
  type PartialPredicate,
  patternOpclass,
  regexPrefix,
  renderPredicate,
  SYSTEM_SCHEMAS,
  unique,
} from './candidate-model.ts';
import { distinctValues } from './catalog.ts';

export * from './candidate-model.ts';

/**
 * Candidate indexes from table accesses: multi-column btrees (equality, then range, then order), partial
 * btrees for constant predicates on low-cardinality columns, GIN for JSONB and array operators, GiST for
 * range operators. Pure.
 */

/** A pattern a btree can serve by its fixed prefix: LIKE, and a case-sensitive regular expression. */
const btreePattern = (p: AccessPredicate): boolean =>
  p.kind === 'like' || (p.kind === 'regex' && p.operator === '~');
const patternPrefix = (p: AccessPredicate, pattern: string): string | undefined =>
  p.kind === 'regex' ? regexPrefix(pattern) : likePrefix(pattern);

/** Candidate indexes for one table access of one statement. */
export function candidatesForAccess(
  access: TableAccess,
  statementId: string,
  env: CandidateEnvironment = {},
): CandidateIndex[] {
  const t = access.table;
  // Defensive: a statement on a system catalog is never the application's (the workload filter drops
  // them; a candidate on one would be refused by the server anyway).
  if (SYSTEM_SCHEMAS.has(t.schema) || t.schema.startsWith('pg_toast')) return [];
  const col = (name: string) => t.columns.find((c) => c.name === name);
  const out: CandidateIndex[] = [];
  // An expression whose key is still a $n (a jsonb key pg_stat_statements replaced) has no index until a
  // literal sample names it, nor one whose constants the statement's samples give differently (an index
  // on one value of many: sample-constants.ts).
  const fixedExpression = (e: AccessPredicate['expression']) =>
    !e || (e.params.length === 0 && !access.varyingExpressions?.has(e.sql));
  const usable = access.predicates.filter((p) => fixedExpression(p.expression));
  const keyOf = (p: AccessPredicate): CandidateColumn => ({
    column: p.column,
    ...(p.expression ? { expression: p.expression.sql } : {}),
    desc: false,
    ordered: false,
  });
  const networkColumn = (p: AccessPredicate) => !p.expression && col(p.column)?.typeCategory === 'I';
  const btreeKey = (p: AccessPredicate) => (p.expression ? !p.expression.jsonb : btreeable(col(p.column)));
  const byKind = (kinds: AccessPredicate['kind'][]) =>
    usable.filter((p) => kinds.includes(p.kind) && btreeKey(p));
  const dedupe = (cols: CandidateColumn[]) => {
    const seen = new Set<string>();
    return cols.filter((c) => !seen.has(keyId(c)) && seen.add(keyId(c)));
  };
  // Most selective equality first: the index is then useful to more statements as a prefix. An
  // expression has no statistics of its own before it is indexed: taken as selective.
  const distinct = (c: CandidateColumn) =>
    c.expression ? Math.max(1, t.reltuples / 2) : (distinctValues(t, col(c.column)) ?? 0);
  const eqCols = dedupe(byKind(['eq', 'is_null']).map(keyOf)).sort((a, b) => distinct(b) - distinct(a));
  const eqIds = new Set(eqCols.map(keyId));
  const inCols = dedupe(byKind(['in']).map(keyOf)).filter((c) => !eqIds.has(keyId(c)));
  const rangeCols: CandidateColumn[] = dedupe(byKind(['range']).map(keyOf)).filter(
    (c) => !eqIds.has(keyId(c)),
  );
  // LIKE 'prefix%' and an anchored regular expression `~ '^prefix'`: a btree range on the prefix, with the
  // pattern operator class unless the collation sorts by byte (C); a pattern known only as $n (no literal
  // sample) cannot use a btree at all.
  for (const p of usable.filter((x) => btreePattern(x) && btreeKey(x))) {
    const patterns = p.literals?.map((l) => l.text) ?? [];
    if (patterns.length === 0 || !patterns.every((x) => patternPrefix(p, x) !== undefined)) continue;
    const opclass = patternOpclass(col(p.column), p.expression !== undefined);
    rangeCols.push({ ...keyOf(p), ...(opclass ? { opclass } : {}) });
  }
  // An inet / cidr column within a network (`addr <<= '10.0.0.0/8'`): the planner turns it into a range
  // on a btree of the column (a GiST, below, serves it too, and the other containment operators).
  for (const p of usable.filter((x) => x.kind === 'network_within' && networkColumn(x))) {
    if (!rangeCols.some((c) => keyId(c) === keyId(keyOf(p)))) rangeCols.push(keyOf(p));
  }
  // An order on an expression: a btree key unless its value is jsonb, and not while its key is a $n.
  const order =
    access.order?.items.filter((i) =>
      i.distance
        ? false
        : i.expression
          ? !i.expression.jsonb && fixedExpression(i.expression)
          : btreeable(col(i.column)),
    ) ?? [];
  const orderId = (o: AccessOrderItem) => o.expression?.sql ?? o.column;
  const orderUsable = access.order !== undefined && order.length === access.order.items.length;
  const eqNames = (cols: CandidateColumn[]) => cols.map((c) => c.expression ?? c.column);

  // Equality, then the sort order: rows come out sorted, a LIMIT stops early. An IS NULL column goes
  // after the order (checked in the index): unlike an equality it makes no sort order redundant, so before
  // it the rows would still need a sort (the partial index WHERE ... IS NULL, below, serves it best).
  if (orderUsable && order.length > 0) {
    const rest = order.filter((o) => !eqIds.has(orderId(o)));
    if (rest.length > 0) {
      const ordered = rest.map(orderedColumn);
      const nullIds = new Set(byKind(['is_null']).map((p) => keyId(keyOf(p))));
      const eqOnly = eqCols.filter((c) => !nullIds.has(keyId(c)));
      const nullCols = eqCols.filter((c) => nullIds.has(keyId(c)));
      out.push(
        make(
          t,
          'btree',
          [...eqOnly, ...ordered, ...nullCols],
          eqOnly.length,
          describe([
            ['equality on', eqNames(eqOnly)],
            ['order by', ordered.map(label)],
            ['IS NULL on', eqNames(nullCols)],
          ]) + (access.order?.limit ? ' with LIMIT' : ''),
          statementId,
        ),
      );
    }
  }
  // Equality, IN lists, then one range column.
  for (const r of rangeCols.length > 0 ? rangeCols : [undefined]) {
    const cols = [...eqCols, ...inCols, ...(r ? [r] : [])];
    if (cols.length === 0) continue;
    out.push(
      make(
        t,
        'btree',
        cols,
        eqCols.length,
        describe([
          ['equality on', eqNames(eqCols)],
          ['IN on', eqNames(inCols)],
          ['range on', r ? [label(r)] : []],
        ]),
        statementId,
      ),
    );
  }
  // Nested-loop lookups by a join key (either side of a join: each access proposes its own).
  for (const j of access.joinColumns.filter((c) => btreeable(col(c)) && !eqIds.has(c))) {
    out.push(
      make(
        t,
        'btree',
        [...eqCols, { column: j, desc: false, ordered: false }],
        eqCols.length + 1,
        describe([
          ['equality on', eqNames(eqCols)],
          ['join key', [j]],
        ]),
        statementId,
      ),
    );
  }
  // A partial index: the predicate as its WHERE clause, and the rest of the access its key (the other
  // equality columns, then the order, or the IN columns when asked and one range).
  const partial = (predicate: PartialPredicate, o: { withIn: boolean; ownColumnKey: boolean }) => {
    const own = predicate.column;
    const otherEq = eqCols.filter((c) => c.expression !== undefined || c.column !== own);
    let key: CandidateColumn[];
    if (orderUsable && order.length > 0) {
      key = [
        ...otherEq,
        ...order
          .filter((x) => (x.expression || x.column !== own) && !eqIds.has(orderId(x)))
          .map(orderedColumn),
      ];
    } else {
      const r = rangeCols[0];
      key = [
        ...otherEq,
        ...(o.withIn ? inCols : []),
        ...(r && !(r.column === own && !r.expression) ? [r] : []),
      ];
    }
    if (key.length === 0 && o.ownColumnKey) key = [{ column: own, desc: false, ordered: false }];
    if (key.length === 0) return;
    out.push(
      make(
        t,
        'btree',
        key,
        otherEq.length,
        `partial for ${predicate.sql}; ${describe([
          ['equality on', eqNames(otherEq)],
          ['key', key.slice(otherEq.length).map(label)],
        ])}`,
        statementId,
        { predicate },
      ),
    );
  };
  // A constant predicate on a low-cardinality column, unless the statement's samples show it varying.
  const constant = usable.filter(
    (p) =>
      !p.expression &&
      (p.kind === 'in' || p.kind === 'eq') &&
      !access.varying?.has(p.column) &&
      p.literals !== undefined &&
      p.literals.length > 0 &&
      p.literals.every((l) => l.sql !== 'NULL') &&
      btreeable(col(p.column)) &&
      (distinctValues(t, col(p.column)) ?? Number.POSITIVE_INFINITY) <= PARTIAL_MAX_DISTINCT,
  );
  for (const p of constant) {
    const literals = [...p.literals!].sort((a, b) => a.sql.localeCompare(b.sql));
    // A list of several constants (status IN ('violation', 'critical')) is written into the application's
    // SQL, as is a bare boolean test (`NOT flag`); a single `= 3` may as well be one value of many the
    // statement is run with.
    partial(
      {
        column: p.column,
        literals,
        sql: renderPredicate(p.column, literals),
        ...(literals.length > 1 || p.fixed ? { fixed: true } : {}),
      },
      { withIn: false, ownColumnKey: true },
    );
  }
  // An inequality with a constant on a low-cardinality column (`status IS DISTINCT FROM 'paid'`,
  // `state <> 'done'`): where the constant is the common value the rows left are few, a partial index
  // holds just those (the what-if plan judges whether they are few), keyed by the rest of the access.
  for (const p of usable.filter(
    (x) =>
      x.kind === 'not_eq' &&
      !x.expression &&
      x.literals?.length === 1 &&
      btreeable(col(x.column)) &&
      (distinctValues(t, col(x.column)) ?? Number.POSITIVE_INFINITY) <= PARTIAL_MAX_DISTINCT,
  )) {
    partial(
      {
        column: p.column,
        literals: p.literals!,
        sql: `${quoteIdent(p.column)} ${p.operator} ${p.literals![0]!.sql}`,
      },
      { withIn: true, ownColumnKey: true },
    );
  }
  // IS NULL as the WHERE of a partial index (`WHERE deleted_at IS NULL`): the condition is fixed in the
  // statement's text, and unlike an equality it makes no sort order redundant, so a key of
  // (shipped_at, status, created_at) cannot return `status = 'paid' AND shipped_at IS NULL ORDER BY
  // created_at` in order, while (status, created_at) WHERE shipped_at IS NULL can.
  for (const p of usable.filter((x) => x.kind === 'is_null' && !x.expression && btreeable(col(x.column)))) {
    partial(
      { column: p.column, literals: [], sql: `${quoteIdent(p.column)} IS NULL`, fixed: true },
      { withIn: true, ownColumnKey: false },
    );
  }
  // IS NOT NULL on a column that is mostly NULL (a reported_at, a deleted_at of a trash view): the WHERE
  // of a partial index holding just those rows, keyed by the rest of the access (its order, equality,
  // range), else by the column itself. Where most rows have a value the condition selects nothing.
  for (const p of usable.filter((x) => x.kind === 'not_null' && !x.expression && btreeable(col(x.column)))) {
    if ((col(p.column)?.nullFrac ?? 0) < NOT_NULL_MIN_NULL_FRAC) continue;
    partial(
      { column: p.column, literals: [], sql: `${quoteIdent(p.column)} IS NOT NULL`, fixed: true },
      { withIn: true, ownColumnKey: true },
    );
  }
  // Covering variants: the statement's other (narrow) columns as INCLUDE, so a read needs no heap visit.
  // Not for expression keys: an index-only scan needs the column itself.
  if (!access.allColumns) {
    for (const c of [...out]) {
      if (c.columns.some((x) => x.expression || x.opclass)) continue;
      const key = new Set(c.columns.map((x) => x.column));
      const rest = [...access.columns].filter((x) => !key.has(x)).sort();
      if (!includable(t, rest)) continue;
      out.push(
        make(t, 'btree', c.columns, c.eqPrefix, `${c.reason}; covering ${rest.join(', ')}`, statementId, {
          predicate: c.predicate,
          include: rest,
        }),
      );
    }
  }
  // GIN: JSONB containment needs jsonb_path_ops or jsonb_ops; key existence needs jsonb_ops; arrays
  // array_ops. On a column, or on a jsonb path expression (payload -> 'attrs').
  const firstIndexed = out.length;
  const ginPreds = usable.filter((p) =>
    [
      'jsonb_contains',
      'jsonb_exists',
      'jsonb_path',
      'array_overlap',
      'array_contained',
      'text_match',
      'network_within',
      'network_contains',
    ].includes(p.kind),
  );
  const gistColumns: CandidateColumn[] = [];
  for (const id of unique(ginPreds.map((p) => p.expression?.sql ?? p.column))) {
    const preds = ginPreds.filter((p) => (p.expression?.sql ?? p.column) === id);
    const first = preds[0]!;
    const info = col(first.column);
    if (!info) continue;
    const kinds = preds.map((p) => p.kind);
    let opclass: string;
    const jsonb = first.expression ? first.expression.jsonb : info.type === 'jsonb';
    if (!first.expression && info.typeCategory === 'I') {
      // inet / cidr containment (<<, <<=, >>, >>=) and overlap (&&): GiST with inet_ops (not the type's
      // default operator class, so named).
      if (kinds.some((k) => !['network_within', 'network_contains', 'array_overlap'].includes(k))) continue;
      out.push(
        make(
          t,
          'gist',
          [{ column: first.column, opclass: 'inet_ops', desc: false, ordered: false }],
          0,
          `network operators (${unique(preds.map((p) => p.operator)).join(', ')}) on ${id}`,
          statementId,
        ),
      );
      continue;
    }
    if (kinds.some((k) => k === 'network_within' || k === 'network_contains')) continue;
    if (kinds.includes('text_match') && !jsonb) {
      // Full-text search: a GIN over the tsvector the statement matches (a tsvector column, or the
      // to_tsvector(...) expression as written: the index serves only that exact expression).
      if (kinds.some((k) => k !== 'text_match')) continue;
      if (!first.expression && info.type !== 'tsvector') continue;
      opclass = 'tsvector_ops';
    } else if (jsonb) {
      if (kinds.includes('array_contained') || kinds.includes('array_overlap')) continue;
      // jsonpath (`@?`, and `@@` on jsonb) is served by either operator class, like containment.
      opclass = kinds.includes('jsonb_exists') ? 'jsonb_ops' : 'jsonb_path_ops';
    } else if (!first.expression && info.typeCategory === 'A') opclass = 'array_ops';
    else if (!first.expression && info.typeCategory === 'G') {
      // A geometric column (point, box, polygon, circle): containment `<@` / `@>` and overlap `&&` are
      // GiST operators (the type's default operator class); GIN has none.
      out.push(
        make(
          t,
          'gist',
          [{ column: first.column, desc: false, ordered: false }],
          0,
          `geometric operators (${unique(preds.map((p) => p.operator)).join(', ')}) on ${id}`,
          statementId,
        ),
      );
      continue;
    } else if (
      (first.expression ? first.expression.range === true : info.typeCategory === 'R') &&
      !kinds.includes('jsonb_exists')
    ) {
      // A range (or multirange) column, or a range built from columns (`tstzrange(starts_at, ends_at)`):
      // overlap `&&`, containment `@>` of a range or an element, `<@`. GIN has no operator class for
      // ranges; GiST's default (range_ops) serves all three.
      const key: CandidateColumn = {
        column: first.column,
        ...(first.expression ? { expression: first.expression.sql } : {}),
        desc: false,
        ordered: false,
      };
      gistColumns.push(key);
      out.push(
        make(
          t,
          'gist',
          [key],
          0,
          `range operators (${unique(preds.map((p) => p.operator)).join(', ')}) on ${id}`,
          statementId,
        ),
      );
      continue;
    } else continue;
    out.push(
      make(
        t,
        'gin',
        [
          {
            column: first.column,
            ...(first.expression ? { expression: first.expression.sql } : {}),
            desc: false,
            ordered: false,
          },
        ],
        0,
        `${opclass === 'tsvector_ops' ? 'full-text search (@@)' : kinds.includes('jsonb_exists') ? 'key existence (?)' : opclass === 'array_ops' ? 'array operators' : kinds.some((k) => k === 'jsonb_path' || k === 'text_match') ? 'jsonpath (@?, @@)' : 'containment (@>)'} on ${id}`,
        statementId,
        { opclass },
      ),
    );
  }
  // Range operators on several range columns at once (`period @> $1 AND latency @> $2`): one GiST over them
  // all, as a DBA writes it. A multi-column GiST narrows its search on every column together; one column's
  // index leaves the others to a filter, and two single-column indexes to a BitmapAnd of two scans.
  if (gistColumns.length > 1) {
    out.push(
      make(
        t,
        'gist',
        gistColumns,
        0,
        `range operators on ${gistColumns.map((c) => c.expression ?? c.column).join(', ')}`,
        statementId,
      ),
    );
  }
  // A nearest-neighbour order on a geometric column (`ORDER BY location <-> point($1, $2) LIMIT 10`): a
  // GiST index on the column returns the rows by distance (KNN) and the LIMIT stops the scan.
  const nearest = access.order?.items[0];
  if (access.order?.limit && nearest?.distance && col(nearest.column)?.typeCategory === 'G') {
    const c = make(
      t,
      'gist',
      [{ column: nearest.column, desc: false, ordered: false }],
      0,
      `nearest-neighbour order (<->) on ${nearest.column} with LIMIT`,
      statementId,
    );
    const same = out.find((x) => x.key === c.key);
    if (same) same.reason = `${same.reason}; ${c.reason}`;
    else out.push(c);
  }
  // pg_trgm GIN for LIKE / ILIKE that a btree cannot serve: an infix pattern, ILIKE, or a pattern seen
  // only as $n; and for a regular expression (`~`, `~*`), which gin_trgm_ops serves as it serves LIKE.
  // Only where the extension is installed (creating one is a DBA's decision).
  const trgm = env.extensions?.get('pg_trgm');
  if (trgm) {
    const patterns = usable.filter((p) => {
      if (p.kind !== 'like' && p.kind !== 'ilike' && p.kind !== 'regex') return false;
      const info = col(p.column);
      if (!info || (!p.expression && info.typeCategory !== 'S')) return false;
      const lits = p.literals?.map((l) => l.text) ?? [];
      // A known prefix under LIKE or an anchored `~` is the btree's; otherwise the trigram index's.
      return !btreePattern(p) || lits.length === 0 || lits.some((x) => patternPrefix(p, x) === undefined);
    });
    for (const id of unique(patterns.map((p) => p.expression?.sql ?? p.column))) {
      const p = patterns.find((x) => (x.expression?.sql ?? x.column) === id)!;
      const opclass = `${quoteIdent(trgm)}.gin_trgm_ops`;
      out.push(
        make(
          t,
          'gin',
          [
            {
              column: p.column,
              ...(p.expression ? { expression: p.expression.sql } : {}),
              desc: false,
              ordered: false,
            },
          ],
          0,
          `${p.kind === 'regex' ? `regular expression (${p.operator})` : `pattern match (${p.kind === 'ilike' ? 'ILIKE' : 'LIKE'})`} on ${id}, trigram`,
          statementId,
          { opclass },
        ),
      );
    }
  }
  // Partial GIN and GiST: a constant on a low-cardinality column beside the condition (`status =
  // 'active' AND to_tsvector(...) @@ ...`) becomes their WHERE, as it does a btree's, so the index holds
  // only the rows the statement can return (a search over the 9% of listings that are active).
  for (const c of out.slice(firstIndexed)) {
    if (c.method === 'btree' || c.predicate) continue;
    for (const p of constant) {
      const literals = [...p.literals!].sort((a, b) => a.sql.localeCompare(b.sql));
      const predicate = {
        column: p.column,
        literals,
        sql: renderPredicate(p.column, literals),
        ...(literals.length > 1 || p.fixed ? { fixed: true } : {}),
      };
      out.push(
        make(t, c.method, c.columns, 0, `${c.reason}; partial for ${predicate.sql}`, statementId, {
          ...(c.opclass ? { opclass: c.opclass } : {}),
          predicate,
        }),
      );
    }
  }
  return out;
}
