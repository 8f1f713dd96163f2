/**
 * The costly figures (database size, bloat estimate, archive scores, pruning): measured on the costly
 * samples (one more round trip, plus one per pruning statement), carried from their last collection in
 * between (dgm.stat_snapshots kind 'slow').
 */
import type pg from 'pg';
import type { MonitoringConfig } from '../../config.ts';
import { errorMessage } from '../../errors.ts';
import costlySql from '../../sql/queries/monitor-costly.sql';
import { COUNTERS_VERSION } from '../deltas.ts';
import { measurePruning, type PruningCandidate, type PruningSet } from '../pruning.ts';
import type { BloatStats, PruningStats, Unavailable } from '../snapshot.ts';
import { renderSqlTemplate } from '../sql-template.ts';
import type { SummaryWork } from './statements.ts';
import { avgOrNull, type Json, list, maxOrNull, num, numOrNull, round4, str } from './values.ts';

const PRUNING_STATEMENTS = 10;

/** Rows of dgm.stat_snapshots kind 'slow': the costly figures, carried between their collections. */
export interface SlowCounters {
  v: typeof COUNTERS_VERSION;
  collectedAt: string;
  bloat: BloatStats | Unavailable;
  pruning: PruningStats | Unavailable;
  /** Absent from rows stored before the database size moved here; carried when a collection failed. */
  databaseBytes?: number;
  databaseBytesAt?: string;
  archive?: ArchiveFigures;
  /** The costly round trip's own queryid, left out of the workload until the next costly sample. */
  ownQueryIds?: string[];
}

/** The archive's compliance scores (DGM schema), from one pass over its last 30 days. */
export interface ArchiveFigures {
  score24h: number | null;
  rows24h: number;
  score30d: number | null;
  at: string;
}

export interface CostlyFigures {
  bloat: BloatStats | Unavailable;
  pruning: PruningStats | Unavailable;
  databaseBytes: { bytes: number; at: string } | null;
  archive: ArchiveFigures | null;
  /** What round trip 3 stores as kind 'slow' (measured now), null when carried. */
  toStore: SlowCounters | null;
  /** The costly round trip's own queryid, when it ran. */
  ownQueryIds: string[];
  roundTrips: number;
}

export interface CostlyInput {
  due: boolean;
  /** round trip 2's last_slow: the last stored costly figures. */
  lastSlow: SlowCounters | null;
  takenAt: string;
  dgm: boolean;
  /** Why there are no statements (then no pruning); null when there are. */
  statementsReason: string | null;
  /** The statements listed, pruning's candidates. */
  rows: readonly SummaryWork[];
  pruneSets: PruningSet[];
  cfg: MonitoringConfig;
  warnings: string[];
}

const databaseOf = (c: SlowCounters | null) =>
  c?.databaseBytes != null ? { bytes: c.databaseBytes, at: c.databaseBytesAt ?? c.collectedAt } : null;

/** Measures the costly figures when due; else carries the last ones (or says when they come). */
export async function costlyFigures(client: pg.Client, input: CostlyInput): Promise<CostlyFigures> {
  const carried = input.lastSlow && input.lastSlow.v === COUNTERS_VERSION ? input.lastSlow : null;
  if (input.due) return measureCostly(client, input, carried);
  const none = { toStore: null, ownQueryIds: [], roundTrips: 0 };
  if (carried) {
    return {
      bloat: carried.bloat,
      pruning: carried.pruning,
      databaseBytes: databaseOf(carried),
      archive: carried.archive ?? null,
      ...none,
    };
  }
  const reason = `not collected yet: the costly figures come every ${input.cfg.slowCollectionEvery} samples`;
  return {
    bloat: { available: false, reason },
    pruning: { available: false, reason },
    databaseBytes: null,
    archive: null,
    ...none,
  };
}

async function measureCostly(
  client: pg.Client,
  input: CostlyInput,
  carried: SlowCounters | null,
): Promise<CostlyFigures> {
  const { takenAt } = input;
  // Should the round trip fail (a timeout on a huge archive), the regular figures stand, the last
  // measured ones stay carried, and the next try is the next costly sample, not the next sample.
  let costly: Json | null = null;
  let costlyError = '';
  let roundTrips = 1;
  try {
    costly = (
      await client.query<Json>(renderSqlTemplate(costlySql, { dgm: input.dgm }), [input.cfg.topStatements])
    ).rows[0]!;
  } catch (err) {
    costlyError = errorMessage(err);
    input.warnings.push(`costly figures not collected: ${costlyError}`);
  }
  const ownQueryIds = costly?.own_query_id == null ? [] : [str(costly.own_query_id)];
  let bloat: BloatStats | Unavailable;
  let databaseBytes: { bytes: number; at: string } | null;
  let archive: ArchiveFigures | null;
  if (costly) {
    databaseBytes = { bytes: num(costly.database_bytes), at: takenAt };
    const a = costly.archive as Json | undefined;
    archive = a
      ? {
          score24h: numOrNull(a.score24h),
          rows24h: num(a.rows24h),
          score30d: numOrNull(a.score30d),
          at: takenAt,
        }
      : null;
    bloat = bloatOf(costly.bloat as Json, takenAt);
  } else {
    bloat = { available: false, reason: `not collected: ${costlyError}` };
    databaseBytes = databaseOf(carried);
    archive = carried?.archive ?? null;
  }
  let pruning: PruningStats | Unavailable;
  if (input.statementsReason !== null) {
    pruning = { available: false, reason: input.statementsReason };
  } else {
    const measured = await measurePruningOf(client, input);
    roundTrips += measured.roundTrips;
    pruning = measured.pruning;
  }
  const toStore: SlowCounters = {
    v: COUNTERS_VERSION,
    collectedAt: takenAt,
    bloat,
    pruning,
    ...(databaseBytes ? { databaseBytes: databaseBytes.bytes, databaseBytesAt: databaseBytes.at } : {}),
    ...(archive ? { archive } : {}),
    ownQueryIds,
  };
  return { bloat, pruning, databaseBytes, archive, toStore, ownQueryIds, roundTrips };
}

function bloatOf(b: Json, takenAt: string): BloatStats {
  const tables = list(b.tables).map((t) => ({
    table: { schema: str(t.schema), name: str(t.name) },
    bytes: num(t.bytes),
    estimatedBloatBytes: num(t.bloatBytes),
    bloatRatio: round4(num(t.ratio)),
  }));
  return {
    available: true,
    collectedAt: takenAt,
    tables,
    estimatedBloatBytesTotal: num(b.total),
    maxBloatRatio: maxOrNull(tables.map((t) => t.bloatRatio)),
  };
}

/** Partitions scanned by the costliest listed statements' generic plans. */
async function measurePruningOf(
  client: pg.Client,
  input: CostlyInput,
): Promise<{ pruning: PruningStats; roundTrips: number }> {
  const candidates: PruningCandidate[] = input.rows
    .filter((s) => s.normalizedFull)
    .sort((a, b) => (b.intervalTotalMs ?? b.totalMs) - (a.intervalTotalMs ?? a.totalMs))
    .map((s) => ({ queryId: s.queryId, text: s.normalizedFull!, summary: s }));
  const measured = await measurePruning(client, candidates, input.pruneSets, PRUNING_STATEMENTS);
  const shares = measured.statements.map((s) => s.scannedShare);
  return {
    roundTrips: measured.roundTrips,
    pruning: {
      available: true,
      collectedAt: input.takenAt,
      method: 'prepared_generic_plan',
      statements: measured.statements,
      avgScannedShare: avgOrNull(shares),
      worstScannedShare: maxOrNull(shares),
      skipped: measured.skipped,
    },
  };
}
