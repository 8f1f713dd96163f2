import type { CandidateIndex } from './candidates.ts';
import type { Workload } from './workload.ts';

/**
 * What an index costs the workload's writes, in plan-cost units: an entry per inserted row, and per
 * updated row where the UPDATE sets a column the index reads (an index on such a column stops HOT
 * updates, so the table's other indexes get an entry too). Pure.
 */

/** Rows a table's workload writes, by kind (from pg_stat_statements' calls and rows; statements run twice or more). */
export interface TableWrites {
  insertRows: number;
  /** Updated rows, with the columns each UPDATE sets. */
  updates: Array<{ rows: number; setColumns: string[] }>;
  deleteRows: number;
}

/** Rows per call above which a write statement is a bulk load, not the steady write rate. */
export const BULK_ROWS_PER_CALL = 1000;

export function tableWrites(workload: Workload): Map<number, TableWrites> {
  const out = new Map<number, TableWrites>();
  for (const s of workload.statements) {
    const t = s.resolved?.writes;
    // A statement run once (a migration's backfill) or one writing thousands of rows a call (a bulk
    // load, an ETL batch: a DBA schedules those, and may drop and rebuild indexes around them) is not the
    // steady write rate an index would tax.
    if (!t || s.skipped || s.calls < 2) continue;
    const stat =
      s.queryid && workload.snapshot?.available ? workload.snapshot.statements.get(s.queryid) : undefined;
    const rows = Math.max(s.calls, stat?.rows ?? s.calls);
    if (rows / s.calls > BULK_ROWS_PER_CALL) continue;
    const w = out.get(t.oid) ?? { insertRows: 0, updates: [], deleteRows: 0 };
    if (s.resolved!.operation === 'insert') w.insertRows += rows;
    else if (s.resolved!.operation === 'update') w.updates.push({ rows, setColumns: s.resolved!.setColumns });
    else if (s.resolved!.operation === 'delete') w.deleteRows += rows;
    out.set(t.oid, w);
  }
  return out;
}

/**
 * Plan-cost units one index entry costs a write: a btree insertion reads a few cached pages and writes a
 * WAL record, about half a sequential page read (seq_page_cost 1); a GIN entry is several keys per row
 * (jsonb keys, array elements, trigrams); a GiST insertion computes a penalty against every entry of
 * each page it descends through and splits pages more often: taken as three btree insertions.
 */
export const INDEX_ENTRY_COST = { btree: 0.5, gin: 4, gist: 1.5 } as const;

/**
 * The write cost of an index over the observed period, in plan-cost units: every inserted row adds an
 * entry; an updated row adds one only when the UPDATE sets a column the index reads (otherwise the update
 * stays HOT), and then the table's existing indexes get one too (the index stops HOT updates there).
 */
export function writeCostOf(c: CandidateIndex, w: TableWrites | undefined): number {
  if (!w) return 0;
  const entry = INDEX_ENTRY_COST[c.method];
  const reads = new Set([
    ...c.columns.map((x) => x.column),
    // An expression may read more columns than the one it is filed under (a range of two columns,
    // coalesce(closed_at, opened_at)).
    ...c.columns.flatMap((x) =>
      [...(x.expression ?? '').matchAll(/"((?:[^"]|"")+)"/g)].map((m) => m[1]!.replaceAll('""', '"')),
    ),
    ...(c.include ?? []),
    ...(c.predicate ? [c.predicate.column] : []),
  ]);
  const existing = c.table.indexes.filter((i) => i.valid);
  const indexed = new Set(
    existing.flatMap((i) => i.keys.map((k) => k.column).filter((x): x is string => !!x)),
  );
  let cost = w.insertRows * entry;
  for (const u of w.updates) {
    if (!u.setColumns.some((x) => reads.has(x))) continue;
    const wasHot = !u.setColumns.some((x) => indexed.has(x));
    cost += u.rows * (entry + (wasHot ? existing.length * INDEX_ENTRY_COST.btree : 0));
  }
  return cost;
}
