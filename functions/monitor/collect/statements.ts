/**
 * The statement section from round trip 2's statements document: each statement's shape (stored ones, or
 * parsed now from its text), the application's workload only (own-statements.ts), the top and slow lists,
 * and the durations per operation and table. Round trip 3 stores the new shapes and resolves their
 * unqualified table names (resolveTableNames).
 */
import type { MonitoringConfig } from '../../config.ts';
import { perSecond } from '../deltas.ts';
import { type NotWorkloadReason, notWorkloadReason } from '../own-statements.ts';
import type {
  OperationTableDuration,
  RelationName,
  StatementStats,
  StatementSummary,
  Unavailable,
} from '../snapshot.ts';
import { loadStatementParser, type StatementShape, shapeOf, type TableRef } from '../statement-shape.ts';
import { type Json, num, numOrNull, round3, round6, str } from './values.ts';

const NORMALIZED_DISPLAY_CHARS = 1_000;
const STORED_TEXT_CHARS = 100_000;

interface ShapeView {
  normalized: string;
  operation: StatementShape['operation'];
  mainTable: RelationName | null;
  tables: RelationName[];
}

/** A statement summary with the full normalized text kept until pruning has used it. */
export type SummaryWork = StatementSummary & { normalizedFull?: string };

/** A statement parsed in this sample, stored by round trip 3. */
export interface NewShape {
  queryId: string;
  shape: StatementShape;
  notWorkload: NotWorkloadReason | null;
}

export interface StatementReading {
  statements: StatementStats | Unavailable;
  /** The statements listed (top and slow, once each): pruning's candidates, renamed by round trip 3. */
  rows: SummaryWork[];
  newShapes: NewShape[];
}

/** Reads the statements document; unavailable (with its reason) when pg_stat_statements is not usable. */
export async function readStatements(
  rt2: Json,
  server: Json,
  unavailableReason: string | null,
  cfg: MonitoringConfig,
  slowThresholdMs: number,
): Promise<StatementReading> {
  if (unavailableReason !== null) {
    return { statements: { available: false, reason: unavailableReason }, rows: [], newShapes: [] };
  }
  const doc = rt2.statements as Json;
  const texts = (doc.texts as Record<string, string> | null) ?? {};
  const { shapes, newShapes } = await shapesOf(doc, texts);
  // Statements that are not the application's workload (own-statements.ts) are left out: once their
  // judgement is stored with the shape, round trip 2 leaves them out; the first time, here.
  const notWorkload = new Set(newShapes.filter((s) => s.notWorkload).map((s) => s.queryId));
  const listed = ((doc.rows as Json[]) ?? []).filter((r) => !notWorkload.has(str(r.queryId)));
  const byId = new Map(listed.map((r) => [str(r.queryId), summaryOf(r, shapes.get(str(r.queryId)))]));
  // Round trip 2 picks topStatements judged workload and the unjudged ranking above them; the first
  // topStatements of each list that are workload are kept.
  const pick = (ids: unknown) =>
    ((ids as string[]) ?? [])
      .map((id) => byId.get(id))
      .filter((s): s is SummaryWork => !!s)
      .slice(0, cfg.topStatements);
  const top = pick(doc.top);
  const slowPatterns = pick(doc.slow);
  const rows = [...new Set([...top, ...slowPatterns])];
  const pgssInfo = (rt2.pgss_info as Json | undefined) ?? null;
  const callsInInterval = numOrNull(doc.callsInInterval);
  const execMsInInterval = numOrNull(doc.execMsInInterval);
  const callsTotal = num(doc.callsTotal);
  const totalExecMsTotal = num(doc.totalExecMsTotal);
  const statements: StatementStats = {
    available: true,
    entries: num(doc.entries),
    max: numOrNull(server.pgssMax),
    deallocations: pgssInfo ? num(pgssInfo.dealloc) : null,
    callsTotal,
    totalExecMsTotal,
    callsInInterval,
    callsPerSecond: perSecond(callsInInterval, numOrNull(doc.intervalSeconds)),
    avgQueryMs:
      callsInInterval != null && callsInInterval > 0 && execMsInInterval != null
        ? execMsInInterval / callsInInterval
        : null,
    avgQueryMsTotal: callsTotal > 0 ? totalExecMsTotal / callsTotal : null,
    slowThresholdMs,
    slowStatements: num(doc.slowStatements),
    slowStatementsInInterval: numOrNull(doc.slowStatementsInInterval),
    slowCallsInInterval: numOrNull(doc.slowCallsInInterval),
    top,
    slowPatterns,
    byOperationTable: durationsByOperationTable(rows),
    textsFetched: Object.keys(texts).length,
  };
  return { statements, rows, newShapes };
}

/** The shapes stored before (round trip 2's doc.shapes) and those of the texts fetched, parsed now. */
async function shapesOf(
  doc: Json,
  texts: Record<string, string>,
): Promise<{ shapes: Map<string, ShapeView>; newShapes: NewShape[] }> {
  const known = (doc.shapes as Record<string, Json> | undefined) ?? {};
  if (Object.keys(texts).length > 0) await loadStatementParser();
  const shapes = new Map<string, ShapeView>();
  for (const [id, s] of Object.entries(known)) {
    shapes.set(id, {
      normalized: str(s.normalized),
      operation: str(s.operation) as StatementShape['operation'],
      mainTable: (s.mainTable as RelationName | null) ?? null,
      tables: ((s.tables as Array<{ schema: string | null; name: string }>) ?? []).map(relationOf),
    });
  }
  const newShapes: NewShape[] = [];
  for (const [id, text] of Object.entries(texts)) {
    // Unparseable texts are PL/pgSQL expressions (track = all) or hidden from this role: 'other'.
    const shape = shapeOf(text);
    newShapes.push({ queryId: id, shape, notWorkload: notWorkloadReason(text, shape) });
    shapes.set(id, {
      normalized: shape.normalized,
      operation: shape.operation,
      mainTable: shape.mainTable ? relationOf(shape.mainTable) : null,
      tables: shape.tables.map(relationOf),
    });
  }
  return { shapes, newShapes };
}

/** The new shapes as round trip 3 stores them (dgm.statement_shapes). */
export function storedShapes(newShapes: readonly NewShape[]) {
  return newShapes.map(({ queryId, shape, notWorkload }) => ({
    queryId,
    notWorkload,
    normalized: shape.normalized.slice(0, STORED_TEXT_CHARS),
    operation: shape.operation,
    mainTable: shape.mainTable,
    tables: shape.tables,
  }));
}

/** Whether a new shape names a table without its schema: round trip 3 resolves it on the search_path. */
export function needsNameResolution(newShapes: readonly NewShape[]): boolean {
  return newShapes.some(
    ({ shape }) => shape.tables.some((t) => t.schema === null) || shape.mainTable?.schema === null,
  );
}

/** Puts round trip 3's schemas into the unqualified names (schema '') and regroups the durations. */
export function resolveTableNames(reading: StatementReading, resolved: Record<string, string | null>): void {
  const fix = (r: RelationName): RelationName =>
    r.schema === '' ? { schema: resolved[r.name] ?? '', name: r.name } : r;
  for (const s of reading.rows) {
    s.mainTable = s.mainTable ? fix(s.mainTable) : null;
    s.tables = s.tables.map(fix);
  }
  if (reading.statements.available)
    reading.statements.byOperationTable = durationsByOperationTable(reading.rows);
}

// Unqualified names get schema '' until round trip 3 resolves them.
function relationOf(t: TableRef | RelationName): RelationName {
  return { schema: t.schema ?? '', name: t.name };
}

function summaryOf(r: Json, shape: ShapeView | undefined): SummaryWork {
  const normalized = shape?.normalized ?? '';
  return {
    queryId: str(r.queryId),
    calls: num(r.calls),
    totalMs: round3(num(r.totalMs)),
    meanMs: round3(num(r.meanMs)),
    rows: num(r.rows),
    sharedBlksHit: num(r.sharedBlksHit),
    sharedBlksRead: num(r.sharedBlksRead),
    blkReadTimeMs: round3(num(r.blkReadTimeMs)),
    intervalCalls: numOrNull(r.intervalCalls),
    intervalTotalMs: r.intervalTotalMs == null ? null : round3(num(r.intervalTotalMs)),
    intervalMeanMs: r.intervalMeanMs == null ? null : round3(num(r.intervalMeanMs)),
    slow: Boolean(r.slow),
    normalized:
      normalized.length > NORMALIZED_DISPLAY_CHARS
        ? `${normalized.slice(0, NORMALIZED_DISPLAY_CHARS - 1)}…`
        : normalized,
    normalizedFull: normalized,
    operation: shape?.operation ?? 'other',
    mainTable: shape?.mainTable ?? null,
    tables: shape?.tables ?? [],
  };
}

/** Duration per operation and main table over the classified statements (interval figures when there are). */
export function durationsByOperationTable(rows: readonly StatementSummary[]): OperationTableDuration[] {
  const groups = new Map<string, OperationTableDuration>();
  const interval = rows.some((r) => r.intervalCalls != null);
  for (const r of rows) {
    const calls = interval ? (r.intervalCalls ?? 0) : r.calls;
    const totalMs = interval ? (r.intervalTotalMs ?? 0) : r.totalMs;
    const key = `${r.operation}\u0000${r.mainTable?.schema ?? ''}\u0000${r.mainTable?.name ?? ''}`;
    const g = groups.get(key) ?? {
      operation: r.operation,
      table: r.mainTable?.name ?? '',
      schema: r.mainTable?.schema ?? '',
      calls: 0,
      totalMs: 0,
      meanSeconds: null,
      interval,
    };
    g.calls += calls;
    g.totalMs += totalMs;
    groups.set(key, g);
  }
  return [...groups.values()]
    .filter((g) => g.calls > 0)
    .map((g) => ({
      ...g,
      totalMs: round3(g.totalMs),
      meanSeconds: g.calls > 0 ? round6(g.totalMs / g.calls / 1000) : null,
    }))
    .sort((a, b) => b.totalMs - a.totalMs || a.table.localeCompare(b.table));
}
