import {
  type CandidateColumn,
  type CandidateIndex,
  candidateKey,
  includable,
  keyId,
  nullsFirstOf,
  type PartialPredicate,
} from './candidates.ts';
import type { IndexInfo } from './catalog.ts';

/**
 * Candidates against each other and against the table's indexes: identical or prefix candidates folded
 * into one, and a candidate an existing index already serves found. Pure.
 */

/** Whether `inner`'s columns are a prefix of `outer`'s (equality columns in any order). */
function isPrefix(inner: CandidateColumn[], innerEq: number, outer: CandidateColumn[]): boolean {
  if (inner.length > outer.length) return false;
  const innerEqSet = new Set(inner.slice(0, innerEq).map(keyId));
  const outerHead = new Set(outer.slice(0, innerEq).map(keyId));
  if (innerEqSet.size !== outerHead.size || [...innerEqSet].some((c) => !outerHead.has(c))) return false;
  let flip: boolean | undefined;
  for (let i = innerEq; i < inner.length; i++) {
    const a = inner[i]!;
    const b = outer[i]!;
    if (keyId(a) !== keyId(b)) return false;
    if (a.ordered) {
      // A btree reads backwards too: the directions must agree all the same way, and a backward read
      // puts the NULLs at the other end as well.
      if ((a.desc !== b.desc) !== (nullsFirstOf(a) !== nullsFirstOf(b))) return false;
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
  const columns = [...new Set([...stripped.matchAll(/"?([a-z_][a-z0-9_]*)"?/gi)].map((m) => m[1]!))].filter(
    (w) => !/^(ANY|ARRAY|IN|AND|OR|NOT|IS|text|true|false|null)$/i.test(w),
  );
  return { literals, columns };
}

function samePredicate(existing: string, p: PartialPredicate): boolean {
  const sig = predicateSignature(existing);
  const want = p.literals.map((l) => l.text).sort();
  const isNull = /\bIS\s+NULL\b/i.test(existing) && !/\bNOT\b/i.test(existing);
  if (isNull !== / IS NULL$/.test(p.sql)) return false;
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
    const existing = keys.map((k) => ({
      column: k.column ?? '',
      ...(k.column === null ? { expression: normalizeExpression(k.expression ?? '') } : {}),
      ...(k.opclass.endsWith('_pattern_ops') ? { opclass: k.opclass } : {}),
      desc: k.desc,
      nullsFirst: k.nullsFirst,
      ordered: true,
    }));
    const wanted = c.columns.map((x) => ({
      ...x,
      ...(x.expression ? { expression: normalizeExpression(x.expression) } : {}),
    }));
    if (c.method === 'gin' || c.method === 'gist') {
      // The same columns (a multi-column GiST over several range columns: all of them, in order).
      const k = keys[0];
      const same = (i: number) =>
        (existing[i]!.expression ?? existing[i]!.column) === (wanted[i]!.expression ?? wanted[i]!.column);
      if (!k || keys.length !== wanted.length || !wanted.every((_, i) => same(i))) continue;
      const bare = (o: string | undefined) => (o ?? '').replace(/^.*\./, '');
      if (bare(c.opclass) === 'gin_trgm_ops' || k.opclass === 'gin_trgm_ops') {
        if (bare(c.opclass) !== k.opclass) continue;
      } else if (c.opclass === 'jsonb_ops' && k.opclass !== 'jsonb_ops') continue;
      return ix;
    }
    // A covering variant of a key an index already has would be a second index on the same key: the
    // existing one serves it (its INCLUDE columns are not worth the duplicate).
    // A full index whose key starts with the candidate's key serves a partial candidate on a constant seen
    // in a sample as well; not one whose WHERE the statement's text fixes (IS NULL, IS NOT NULL, an IN
    // list): that index holds only the rows the statement reads (a queue's few pending rows, the reported
    // posts), and the planner judges whether that is worth it against the full one.
    if (c.predicate?.fixed && !ix.predicate) continue;
    if (isPrefix(wanted, c.eqPrefix, existing)) return ix;
  }
  return undefined;
}

/**
 * An index expression's text without quotes, spaces, parentheses and the casts the server prints on
 * literals (::text, and ::regconfig of a full-text configuration: `to_tsvector('english'::regconfig, d)`),
 * for comparison.
 */
export function normalizeExpression(sql: string): string {
  // pg_get_indexdef writes `"extract"('year'::text, d)` and `to_tsvector('simple'::regconfig, t)` where a
  // candidate has `pg_catalog.extract('year', "d")` and `to_tsvector('simple', "t")`: the same index.
  return sql
    .replace(/\bpg_catalog\./g, '')
    .replace(/::(text|regconfig)\b/g, '')
    .replace(/["\s()]/g, '')
    .toLowerCase();
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
        (x.columns[0]!.expression ?? x.columns[0]!.column) ===
          (a.columns[0]!.expression ?? a.columns[0]!.column),
    );
    if (b) {
      for (const s of a.statements) b.statements.add(s);
      byKey.delete(a.key);
    }
  }
  for (const { union, variants } of coveringUnions([...byKey.values()])) {
    for (const v of variants) byKey.delete(v.key);
    const same = byKey.get(union.key);
    if (same) for (const s of union.statements) same.statements.add(s);
    else byKey.set(union.key, union);
  }
  // Longest first; among equals, one with a sort order first (it absorbs the unordered same key).
  const ordered = (c: CandidateIndex) => (c.columns.some((x) => x.ordered) ? 1 : 0);
  const remaining = [...byKey.values()].sort(
    (a, b) => b.columns.length - a.columns.length || ordered(b) - ordered(a),
  );
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

/**
 * Covering variants of one key made for different statements, each with the INCLUDE columns its own
 * statement reads: a DBA writes one index with all of them, which gives each statement its index-only scan
 * (two variants would be two indexes on one key, each write paying for both; one alone leaves the other
 * statement its heap visits). The union, where it still makes an INCLUDE list, replaces the variants: left
 * side by side, the greedy choice could take one variant first (its statement alone weighs more than the
 * union's plan for it), then the union for the other statement, and keep both.
 */
function coveringUnions(all: CandidateIndex[]): Array<{ union: CandidateIndex; variants: CandidateIndex[] }> {
  const groups = new Map<string, CandidateIndex[]>();
  for (const c of all) {
    if (c.method !== 'btree' || !c.include?.length) continue;
    const id = candidateKey({ ...c, include: [] });
    groups.set(id, [...(groups.get(id) ?? []), c]);
  }
  const out: Array<{ union: CandidateIndex; variants: CandidateIndex[] }> = [];
  for (const variants of groups.values()) {
    if (variants.length < 2) continue;
    const first = variants[0]!;
    const include = [...new Set(variants.flatMap((v) => v.include!))].sort();
    if (!includable(first.table, include)) continue;
    const base = { ...first, include };
    out.push({
      union: {
        ...base,
        key: candidateKey(base),
        reason: `${first.reason.replace(/; covering .*$/, '')}; covering ${include.join(', ')} (what ${variants.length} statements read)`,
        statements: new Set(variants.flatMap((v) => [...v.statements])),
      },
      variants,
    });
  }
  return out;
}
