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
 * The expressions an index could be keyed on, in the order the statement writes them: its conditions'
 * (OR arms' too), then its order's. Samples of one statement (one fingerprint) line up position by position.
 */
function expressionsOf(access: TableAccess): Array<string | undefined> {
  return [
    ...access.predicates.map((p) => p.expression?.sql),
    ...access.orGroups.flat(2).map((p) => p.expression?.sql),
    ...(access.order?.items ?? []).map((i) => i.expression?.sql),
  ];
}

/**
 * Marks on each access of `statement` (resolved from its first sample) the columns whose constant another
 * sample gives differently, and the expressions another sample writes with other constants (an order by
 * `ts_rank(search, websearch_to_tsquery('english', 'the user''s words'))`: an index on it serves only the
 * executions that search for those words, and the planner, judging on that sample, takes it). Samples are
 * compared access by access: the same statement (one fingerprint) reads the same tables in the same order;
 * one whose accesses do not line up is left out.
 */
export function markVaryingConstants(statement: ResolvedStatement, others: ResolvedStatement[]): void {
  statement.accesses.forEach((access, i) => {
    const mine = expressionsOf(access);
    for (const other of others) {
      const o = other.accesses[i];
      if (other.accesses.length !== statement.accesses.length || o?.table.oid !== access.table.oid) continue;
      const theirs = expressionsOf(o);
      if (theirs.length !== mine.length) continue;
      mine.forEach((sql, k) => {
        if (sql === undefined || theirs[k] === undefined || theirs[k] === sql) return;
        access.varyingExpressions ??= new Set();
        access.varyingExpressions.add(sql);
      });
    }
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

/** Where a sample was captured from the running application (not supplied by the caller). */
const CAPTURED = new Set(['pg_stat_activity', 'server_log']);

/**
 * A statement's samples in the order the advisor reads them: the first is the one its plans are judged
 * on. Caller-supplied examples stay first (they win); among captured samples, the one the server logged
 * as slowest leads. The samples are the newest distinct texts, and the newest may be a light instance: a
 * `WHERE program_id = $1 ORDER BY lower(name) LIMIT 50` judged on a program of 400 rows sorts them cheaply,
 * and an index on program_id alone looks as good as the ordered one, which the program of 12,000 rows
 * needs (found by the `lms` holdout). An index that serves the heaviest instance serves the light ones.
 */
export function heaviestFirst<T extends { source: string; durationMs?: number }>(samples: T[]): T[] {
  if (samples.length < 2 || !CAPTURED.has(samples[0]!.source)) return samples;
  let heaviest = 0;
  samples.forEach((s, i) => {
    if (CAPTURED.has(s.source) && (s.durationMs ?? -1) > (samples[heaviest]!.durationMs ?? -1)) heaviest = i;
  });
  return heaviest === 0 ? samples : [samples[heaviest]!, ...samples.filter((_, i) => i !== heaviest)];
}
