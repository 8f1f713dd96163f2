/**
 * What round trip 1 says about the server (version, recovery, pg_stat_statements, the DGM schema), and
 * round trip 2's SQL rendered for it: the sections that depend on version, extensions and the schema.
 */
import { quoteQualified } from '../../db/identifiers.ts';
import sampleSql from '../../sql/queries/monitor-sample.sql';
import { renderSqlTemplate } from '../sql-template.ts';
import { type Json, num, str } from './values.ts';

export interface ServerFacts {
  /** Round trip 1's `server` object. */
  raw: Json;
  versionNum: number;
  inRecovery: boolean;
  /** The DGM schema is installed. */
  dgm: boolean;
  /** Its sampling tables (dgm.stat_snapshots) are there. */
  dgmSampling: boolean;
  /** Schema of pg_stat_statements in this database, null when the extension is not created. */
  pgssSchema: string | null;
  /** Why there are no statement figures; null when there are. */
  statementsReason: string | null;
  /** The sample can be stored as the next one's baseline. */
  canPersist: boolean;
  /** Why this sample has no stored history to compare with; null when it may have. */
  historyReason: string | null;
}

export function serverFacts(cat: Json, persist: boolean): ServerFacts {
  const raw = cat.server as Json;
  const versionNum = num(raw.versionNum);
  const inRecovery = Boolean(raw.inRecovery);
  const dgm = Boolean(raw.dgmSchema);
  const dgmSampling = Boolean(raw.dgmSampling);
  const pgssSchema = raw.pgssSchema == null ? null : String(raw.pgssSchema);
  const preloaded = str(raw.sharedPreload)
    .split(',')
    .map((s) => s.trim().replace(/^"|"$/g, ''))
    .includes('pg_stat_statements');
  const statementsReason = !pgssSchema
    ? 'statements unavailable: the pg_stat_statements extension is not created in this database (CREATE EXTENSION pg_stat_statements)'
    : !preloaded
      ? 'statements unavailable: pg_stat_statements is not in shared_preload_libraries (on RDS: the parameter group), restart needed'
      : null;
  const historyReason = !dgm
    ? 'no history: the DGM schema is not installed (dgm-db-ops migrate)'
    : !dgmSampling
      ? 'no history: the sampling tables are missing (dgm-db-ops migrate)'
      : inRecovery
        ? 'no history: a replica cannot store samples'
        : null;
  return {
    raw,
    versionNum,
    inRecovery,
    dgm,
    dgmSampling,
    pgssSchema,
    statementsReason,
    canPersist: persist && dgm && dgmSampling && !inRecovery,
    historyReason,
  };
}

/** Round trip 2's SQL for this server: its sections switched by version, extensions and schema. */
export function sampleSqlFor(s: ServerFacts): string {
  const statements = s.statementsReason === null;
  const flags = {
    statements,
    baseline: statements && s.canPersist,
    pgss_info: statements && s.versionNum >= 140000,
    checkpointer: s.versionNum >= 170000,
    wal_stats: s.versionNum >= 140000,
    query_id: s.versionNum >= 140000,
    dgm: s.dgm,
  };
  const tokens: Record<string, string> = {};
  if (s.pgssSchema) {
    tokens.PGSS = quoteQualified(s.pgssSchema, 'pg_stat_statements');
    tokens.PGSS_INFO = quoteQualified(s.pgssSchema, 'pg_stat_statements_info');
    tokens.TOTAL = s.versionNum >= 130000 ? 'total_exec_time' : 'total_time';
    tokens.TOPLEVEL = s.versionNum >= 140000 ? 's.toplevel' : 'true';
    tokens.BLKREAD = s.versionNum >= 170000 ? 'shared_blk_read_time' : 'blk_read_time';
  }
  return renderSqlTemplate(sampleSql, flags, tokens);
}
