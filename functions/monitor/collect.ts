/**
 * One sample of a database: its round trips in order, each read by its own module in collect/ (server
 * facts, counters and interval, statements, partitions, costly figures, the sections), then stored as the
 * next sample's baseline.
 */
import type pg from 'pg';
import { DEFAULT_SLOW_QUERY_THRESHOLD_MS, type MonitoringConfig } from '../config.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../ports.ts';
import catalogSql from '../sql/queries/monitor-catalog.sql';
import persistSql from '../sql/queries/monitor-persist.sql';
import { type CostlyFigures, costlyFigures, type SlowCounters } from './collect/costly.ts';
import { type CounterReading, type Interval, intervalSince, readCounters } from './collect/counters.ts';
import { readPartitions } from './collect/partitions.ts';
import {
  cacheOf,
  checkpointsOf,
  complianceOf,
  connectionsOf,
  indexesOf,
  locksOf,
  replicationOf,
  sampleHistory,
  statsAgeDaysOf,
  storageOf,
  transactionsOf,
  walOf,
  wraparoundOf,
} from './collect/sections.ts';
import { type ServerFacts, sampleSqlFor, serverFacts } from './collect/server.ts';
import {
  needsNameResolution,
  readStatements,
  resolveTableNames,
  type StatementReading,
  storedShapes,
} from './collect/statements.ts';
import { iso, type Json, round3, str } from './collect/values.ts';
import { SAMPLER_COMMENT } from './own-statements.ts';
import { type PartitionStats, SNAPSHOT_SCHEMA_VERSION, type Snapshot } from './snapshot.ts';
import { renderSqlTemplate } from './sql-template.ts';

export { durationsByOperationTable } from './collect/statements.ts';

export interface CollectOptions {
  /** The target's name: the key of its stored samples and the DBInstance of its metrics. */
  target: string;
  monitoring: MonitoringConfig;
  /** Mean time at which a statement counts as slow (config slowQueryThresholdMs; default 200). */
  slowQueryThresholdMs?: number;
  /**
   * The costlier figures (database size, bloat, archive scores, pruning): 'auto' every
   * monitoring.slowCollectionEvery samples and on the first (the sampler Lambda, the CLI), true now
   * (--full), false never (the last ones are carried).
   */
  full?: 'auto' | boolean;
  /** Store the sample as the next one's baseline (default true; needs the DGM schema on a primary). */
  persist?: boolean;
  /**
   * Whether the connection was opened with statement_timeout and lock_timeout already (connect()
   * options). When not, collect sets them for its own statements and restores them after: two more
   * round trips.
   */
  timeoutsPreset?: boolean;
  logger?: Logger;
}

/** A lock wait never holds the sampler longer than this (a fraction of the statement timeout). */
const LOCK_TIMEOUT_CAP_MS = 1_000;
const INDEX_LIST_LIMIT = 20;

/**
 * Takes one snapshot of the database: three round trips (catalog and statistics; version-specific views
 * with the statement deltas computed in the server; storing the baseline), plus, when the costly figures
 * are due, one for the database size and bloat estimate and one per pruning statement. Every statement
 * runs under monitoring.statementTimeoutMs.
 */
export async function collect(client: pg.Client, options: CollectOptions): Promise<Snapshot> {
  const started = performance.now();
  const cfg = options.monitoring;
  let restore: { statementTimeout: string; lockTimeout: string } | undefined;
  if (!options.timeoutsPreset) {
    const { rows } = await client.query<{ st: string; lt: string }>(
      `SELECT ${SAMPLER_COMMENT} current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt,
              set_config('statement_timeout', $1, false), set_config('lock_timeout', $2, false)`,
      [String(cfg.statementTimeoutMs), String(Math.min(LOCK_TIMEOUT_CAP_MS, cfg.statementTimeoutMs))],
    );
    restore = { statementTimeout: rows[0]!.st, lockTimeout: rows[0]!.lt };
  }
  try {
    const snapshot = await sample(client, options);
    // Setting the timeouts and restoring them are one round trip each.
    if (restore) snapshot.roundTrips += 2;
    snapshot.collectMs = Math.round((performance.now() - started) * 10) / 10;
    return snapshot;
  } finally {
    if (restore) {
      await client
        .query(
          `SELECT ${SAMPLER_COMMENT} set_config('statement_timeout', $1, false), set_config('lock_timeout', $2, false)`,
          [restore.statementTimeout, restore.lockTimeout],
        )
        .catch((err) => options.logger?.warn(`could not restore session timeouts: ${errorMessage(err)}`));
    }
  }
}

/** What the sections of a snapshot are computed from. */
interface SampleParts {
  cat: Json;
  rt2: Json;
  server: ServerFacts;
  reading: CounterReading;
  interval: Interval;
  statements: StatementReading;
  costly: CostlyFigures;
  partitions: PartitionStats;
  fullDue: boolean;
  stored: boolean;
  warnings: string[];
  roundTrips: number;
}

/** The round trips of one sample, in order; the session's timeouts are set. */
async function sample(client: pg.Client, options: CollectOptions): Promise<Snapshot> {
  const cfg = options.monitoring;
  const slowMs = options.slowQueryThresholdMs ?? DEFAULT_SLOW_QUERY_THRESHOLD_MS;
  const warnings: string[] = [];
  // Round trip 1: catalog and cumulative statistics, the same SQL on every version.
  const cat = (await client.query<Json>(catalogSql, [cfg.topTables, INDEX_LIST_LIMIT])).rows[0]!;
  const server = serverFacts(cat, options.persist ?? true);
  // Round trip 2: what depends on version, extensions and the DGM schema.
  const full = options.full ?? 'auto';
  const rt2 = (
    await client.query<Json>(sampleSqlFor(server), [
      options.target,
      slowMs,
      cfg.topStatements,
      full === true,
      full === 'auto',
      cfg.slowCollectionEvery,
      cat.own_query_id == null ? [] : [str(cat.own_query_id)],
    ])
  ).rows[0]!;
  const fullDue = Boolean(rt2.full_due);
  const reading = readCounters(cat, rt2, server);
  const { counters } = reading;
  const interval = intervalSince(counters, rt2, server, warnings);
  // Statements: rows and, for statements not parsed before, their texts.
  const statements = await readStatements(rt2, server.raw, server.statementsReason, cfg, slowMs);
  const { partitions, pruneSets } = readPartitions(cat, rt2);
  // The costly figures: measured now when due, else carried from their last collection.
  const costly = await costlyFigures(client, {
    due: fullDue,
    lastSlow: (rt2.last_slow as { counters: SlowCounters } | null | undefined)?.counters ?? null,
    takenAt: counters.takenAt,
    dgm: server.dgm,
    statementsReason: server.statementsReason,
    rows: statements.rows,
    pruneSets,
    cfg,
    warnings,
  });
  if (fullDue) counters.ownQueryIds = [...(counters.ownQueryIds ?? []), ...costly.ownQueryIds];
  // The sample's headline figures ride along with its counters: the report's history (query time,
  // calls, connections, cache hit, size over the last day and week) and its top statements' sparklines.
  counters.history = sampleHistory(
    statements.statements,
    cat.connections as Json,
    interval.dbDelta,
    interval.verdict.seconds,
    costly.databaseBytes?.bytes ?? null,
  );
  const persisted = await persist(client, options, server, reading, statements, costly.toStore);
  for (const s of statements.rows) delete s.normalizedFull;
  return assemble(
    {
      ...{ cat, rt2, server, reading, interval, statements, costly, partitions, fullDue, warnings },
      stored: persisted.stored,
      // Round trips 1 and 2, the costly ones, and round trip 3 when it ran.
      roundTrips: 2 + costly.roundTrips + (persisted.roundTrip ? 1 : 0),
    },
    options,
  );
}

/**
 * Round trip 3: stores the baseline and the new shapes, and resolves unqualified table names; skipped when
 * there is neither to do.
 */
async function persist(
  client: pg.Client,
  options: CollectOptions,
  server: ServerFacts,
  reading: CounterReading,
  statements: StatementReading,
  slowToStore: SlowCounters | null,
): Promise<{ stored: boolean; roundTrip: boolean }> {
  if (!server.canPersist && !needsNameResolution(statements.newShapes))
    return { stored: false, roundTrip: false };
  const sql = renderSqlTemplate(persistSql, { persist: server.canPersist });
  const { rows } = await client.query<{ resolved: Record<string, string | null> }>(sql, [
    options.target,
    JSON.stringify(reading.counters),
    slowToStore ? JSON.stringify(slowToStore) : null,
    options.monitoring.snapshotRetentionHours,
    JSON.stringify(storedShapes(statements.newShapes)),
  ]);
  resolveTableNames(statements, rows[0]?.resolved ?? {});
  return { stored: server.canPersist, roundTrip: true };
}

/** The snapshot from its parts: one function per section (collect/sections.ts). */
function assemble(p: SampleParts, options: CollectOptions): Snapshot {
  const cfg = options.monitoring;
  const { cat, server, reading, interval, costly } = p;
  const { counters } = reading;
  const { prev, verdict, dbDelta } = interval;
  const seconds = verdict.seconds;
  return {
    schemaVersion: SNAPSHOT_SCHEMA_VERSION,
    target: options.target,
    takenAt: counters.takenAt,
    collectMs: 0,
    roundTrips: p.roundTrips,
    intervalSeconds: seconds == null ? null : round3(seconds),
    baseline: {
      previousTakenAt: prev?.takenAt ?? null,
      resetDetected: verdict.resetDetected,
      ...(verdict.reason ? { reason: verdict.reason } : {}),
      stored: p.stored,
    },
    fullCollection: p.fullDue,
    server: {
      versionNum: server.versionNum,
      version: str(server.raw.version),
      database: str(server.raw.database),
      inRecovery: server.inRecovery,
      startedAt: iso(server.raw.startedAt)!,
      statsResetAt: counters.statsReset,
      statsAgeDays: statsAgeDaysOf(cat),
      dgmSchema: server.dgm,
    },
    statements: p.statements.statements,
    connections: connectionsOf(cat),
    transactions: transactionsOf(counters, interval),
    cache: cacheOf(cat, counters, interval, cfg),
    temp: {
      filesTotal: counters.db.tempFiles,
      bytesTotal: counters.db.tempBytes,
      filesInInterval: dbDelta.tempFiles,
      bytesInInterval: dbDelta.tempBytes,
    },
    locks: locksOf(cat, counters, interval),
    checkpoints: checkpointsOf(reading, interval),
    wal: walOf(counters, interval),
    indexes: indexesOf(cat, interval),
    partitions: p.partitions,
    pruning: costly.pruning,
    storage: storageOf(cat, costly.databaseBytes, cfg),
    bloat: costly.bloat,
    wraparound: wraparoundOf(cat),
    replication: replicationOf(cat, server.inRecovery),
    compliance: complianceOf(p.rt2, server.dgm, costly.archive),
    warnings: p.warnings,
  };
}
