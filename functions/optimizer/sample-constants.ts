import type { AccessPredicate, ResolvedStatement, TableAccess } from './access.ts';

/**
 * Constants that differ between a statement's literal samples (pure). pg_stat_statements shows a sampled
 * constant as $n: one sample cannot tell `project_id = 1` written into the application's SQL from one value
 * of many the statement runs with. Where another sample of the same statement has another value for the
 * column, the constant varies: a partial index on the first sample's value would serve only the executions
 * with that value (and the planner, judging on that sample, prefers it to the full index every execution
 * can use).
 */

/** The constants an equality or IN list on the bare column compares with, as one signature. */
function constantsOf(access: TableAccess, column: string): string | undefined {
  const preds = access.predicates.filter(
    (p: AccessPredicate) =>
      !p.expression && p.column === column && (p.kind === 'eq' || p.kind === 'in') && p.literals?.length,
  );
  if (preds.length === 0) return undefined;
  return preds
    .flatMap((p) => p.literals!.map((l) => l.sql))
    .sort()
    .join('\u0000');
}

/**
 * Marks on each access of `statement` (resolved from its first sample) the columns whose constant another
 * sample gives differently. Samples are compared access by access: the same statement (one fingerprint)
 * reads the same tables in the same order; one whose accesses do not line up is left out.
 */
export function markVaryingConstants(statement: ResolvedStatement, others: ResolvedStatement[]): void {
  statement.accesses.forEach((access, i) => {
    const columns = new Set(
      access.predicates
        .filter((p) => !p.expression && (p.kind === 'eq' || p.kind === 'in'))
        .map((p) => p.column),
    );
    for (const column of columns) {
      const mine = constantsOf(access, column);
      if (mine === undefined) continue;
      for (const other of others) {
        const o = other.accesses[i];
        if (other.accesses.length !== statement.accesses.length || o?.table.oid !== access.table.oid)
          continue;
        const theirs = constantsOf(o, column);
        if (theirs !== undefined && theirs !== mine) {
          access.varying ??= new Set();
          access.varying.add(column);
          break;
        }
      }
    }
  });
}
