import type { AccessPredicate, TableAccess } from './access.ts';
import { type CandidateEnvironment, type CandidateIndex, candidatesForAccess } from './candidates.ts';
import type { TableInfo } from './catalog.ts';

/**
 * Index bundles for OR conditions (pure). `contact_email = $1 OR phone = $2` is served by no single
 * index: the planner answers it with a BitmapOr over one index scan per arm, and only when every arm has
 * an index. Each index alone changes nothing, so the advisor would reject both if it weighed them one at
 * a time. A bundle is the set of indexes, one per arm, that is evaluated, chosen, built and verified as
 * one unit (advisor.ts, build-plan.ts).
 */

export interface CandidateBundle {
  /** Identity: the table and its members' keys. */
  key: string;
  table: TableInfo;
  /** One index per arm (arms an identical index serves share it). */
  members: CandidateIndex[];
  reason: string;
  /** Statements (by id) whose OR condition proposed it. */
  statements: Set<string>;
}

/** The index a DBA writes for one arm: its equality / IN / range btree, else its GIN or trigram index. */
function armIndex(candidates: CandidateIndex[]): CandidateIndex | undefined {
  const full = candidates.filter((c) => !c.predicate && !c.include);
  return full.find((c) => c.method === 'btree') ?? full[0];
}

/**
 * The partial index a DBA writes for one arm when the statement also fixes a constant beside the OR
 * (`status = 'active' AND (city = $1 OR postcode = $2)`): the arm's key, the constant as its WHERE.
 */
function partialArmIndex(candidates: CandidateIndex[], arm: AccessPredicate[]): CandidateIndex | undefined {
  const armColumns = new Set(arm.map((p) => p.column));
  const partial = candidates.filter((c) => c.predicate && !c.include && !armColumns.has(c.predicate.column));
  return partial.find((c) => c.method === 'btree') ?? partial[0];
}

/** Bundles for the OR conditions of one table access (one per condition whose every arm has an index). */
export function bundlesForAccess(
  access: TableAccess,
  statementId: string,
  env: CandidateEnvironment = {},
): CandidateBundle[] {
  const out: CandidateBundle[] = [];
  // Constants ANDed with the OR: the candidates keep those on a low-cardinality column as a partial WHERE.
  const constants = access.predicates.filter(
    (p) => (p.kind === 'eq' || p.kind === 'in') && !p.expression && p.literals?.length,
  );
  for (const group of access.orGroups) {
    const members: CandidateIndex[] = [];
    let partials: CandidateIndex[] | undefined = constants.length > 0 ? [] : undefined;
    for (const [i, arm] of group.entries()) {
      // The arm as if it were the whole condition: no order, join or covering columns of its own.
      const own = candidatesForAccess(
        { ...access, predicates: arm, orGroups: [], order: undefined, joinColumns: [], allColumns: true },
        statementId,
        env,
      );
      const pick = armIndex(own);
      if (!pick) {
        members.length = 0;
        break;
      }
      const reason = `OR arm ${i + 1} of ${group.length}`;
      if (!members.some((m) => m.key === pick.key))
        members.push({ ...pick, reason: `${reason}: ${pick.reason}` });
      if (!partials) continue;
      const withConstants = candidatesForAccess(
        {
          ...access,
          predicates: [...arm, ...constants],
          orGroups: [],
          order: undefined,
          joinColumns: [],
          allColumns: true,
        },
        statementId,
        env,
      );
      const partial = partialArmIndex(withConstants, arm);
      if (!partial || (partials[0] && partials[0].predicate!.sql !== partial.predicate!.sql))
        partials = undefined;
      else if (!partials.some((m) => m.key === partial.key))
        partials.push({ ...partial, reason: `${reason}: ${partial.reason}` });
    }
    if (members.length === 0) continue;
    out.push({
      key: bundleKey(access.table, members),
      table: access.table,
      members,
      reason: `OR condition: ${members.length} indexes used together (BitmapOr)`,
      statements: new Set([statementId]),
    });
    if (partials && partials.length > 0)
      out.push({
        key: bundleKey(access.table, partials),
        table: access.table,
        members: partials,
        reason: `OR condition: ${partials.length} partial indexes used together (BitmapOr)`,
        statements: new Set([statementId]),
      });
  }
  return out;
}

function bundleKey(table: TableInfo, members: CandidateIndex[]): string {
  return `${table.oid}|or|${members
    .map((m) => m.key)
    .sort()
    .join('&')}`;
}

/** Bundles proposed by several statements, once each (statements united). */
export function mergeBundles(all: CandidateBundle[]): CandidateBundle[] {
  const byKey = new Map<string, CandidateBundle>();
  for (const b of all) {
    const seen = byKey.get(b.key);
    if (!seen) {
      byKey.set(b.key, {
        ...b,
        members: b.members.map((m) => ({ ...m, statements: new Set(m.statements) })),
        statements: new Set(b.statements),
      });
      continue;
    }
    for (const id of b.statements) seen.statements.add(id);
    for (const m of seen.members) for (const id of b.statements) m.statements.add(id);
  }
  return [...byKey.values()];
}

/** The bundle without the members an existing index already serves (keyed by `covered`). */
export function withoutCovered(
  b: CandidateBundle,
  covered: (c: CandidateIndex) => boolean,
): CandidateBundle | undefined {
  const members = b.members.filter((m) => !covered(m));
  if (members.length === 0) return undefined;
  return { ...b, members, key: bundleKey(b.table, members) };
}
