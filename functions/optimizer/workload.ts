import { fingerprintSync } from 'libpg-query';
import type pg from 'pg';
import { quoteIdent } from '../db/identifiers.ts';
import { preparedStatementBody } from '../db/parse-tree.ts';
import { errorMessage } from '../errors.ts';
import {
  type NotWorkloadReason,
  notWorkloadReason,
  OWN_MARKER_PREFIX,
  OWN_TABLES,
  ownComment,
  SAMPLER_COMMENT,
} from '../monitor/own-statements.ts';
import { loadStatementParser, shapeOf } from '../monitor/statement-shape.ts';
import { type ResolvedStatement, resolveStatement } from './access.ts';
import { analyzeStatementSync, loadParser, repairNormalizedText, type StatementAnalysis } from './analyze.ts';
import { type Catalog, loadCatalog } from './catalog.ts';
import { foreignKeyLookups, loadReferencingKeys } from './foreign-keys.ts';
import { heaviestFirst, markVaryingConstants } from './sample-constants.ts';
import { loadViews } from './views.ts';

/**
 * The workload: statements from pg_stat_statements (statistics for all, without text; text only for the
 * top statements), joined with literal examples where known, parsed and bound to the catalog.
 */

/** Cumulative figures of one statement (summed over users), as pg_stat_statements reports them. */
export interface StatementStat {
  queryid: string;
  calls: number;
  totalMs: number;
  rows: number;
  sharedBlksHit: number;
  sharedBlksRead: number;
  tempBlksWritten: number;
}

export type StatsSnapshot =
  | {
      available: true;
      takenAt: Date;
      statsReset: Date | null;
      statements: Map<string, StatementStat>;
    }
  | { available: false; reason: string };

/** The schema pg_stat_statements is installed in, or why it cannot be read. */
async function statementsSchema(client: pg.Client): Promise<{ schema?: string; reason?: string }> {
  const { rows } = await client.query<{ schema: string | null; preloaded: boolean }>(
    `SELECT (SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
              WHERE e.extname = 'pg_stat_statements') AS schema,
            current_setting('shared_preload_libraries') ~ 'pg_stat_statements' AS preloaded`,
  );
  const r = rows[0]!;
  if (!r.schema)
    return { reason: 'pg_stat_statements is not installed (CREATE EXTENSION pg_stat_statements)' };
  if (!r.preloaded)
    return {
      reason: 'pg_stat_statements is not in shared_preload_libraries (on RDS: the parameter group)',
    };
  return { schema: r.schema };
}

/** Reads pg_stat_statements without query text: one row per queryid of this database, top level only. */
export async function readStatementStats(client: pg.Client): Promise<StatsSnapshot> {
  const where = await statementsSchema(client);
  if (!where.schema) return { available: false, reason: where.reason! };
  const ext = quoteIdent(where.schema);
  const { rows: v } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  const version = Number(v[0]?.v);
  const total = version >= 130000 ? 's.total_exec_time' : 's.total_time';
  const toplevel = version >= 140000 ? 'AND s.toplevel' : '';
  try {
    const { rows } = await client.query(
      `SELECT ${ownComment('optimizer')} s.queryid::text AS queryid, sum(s.calls)::float8 AS calls, sum(${total})::float8 AS total_ms,
              sum(s.rows)::float8 AS rows, sum(s.shared_blks_hit)::float8 AS hit,
              sum(s.shared_blks_read)::float8 AS read, sum(s.temp_blks_written)::float8 AS temp,
              ${version >= 140000 ? `(SELECT stats_reset FROM ${ext}.pg_stat_statements_info)` : 'NULL::timestamptz'} AS stats_reset,
              clock_timestamp() AS taken_at
       FROM ${ext}.pg_stat_statements(false) s
       WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND s.queryid IS NOT NULL ${toplevel}
       GROUP BY s.queryid`,
    );
    const statements = new Map<string, StatementStat>();
    for (const r of rows) {
      statements.set(r.queryid, {
        queryid: r.queryid,
        calls: r.calls,
        totalMs: r.total_ms,
        rows: r.rows,
        sharedBlksHit: r.hit,
        sharedBlksRead: r.read,
        tempBlksWritten: r.temp,
      });
    }
    const meta =
      rows[0] ?? (await client.query(`SELECT clock_timestamp() AS taken_at, NULL AS stats_reset`)).rows[0];
    return {
      available: true,
      takenAt: new Date(meta.taken_at),
      statsReset: meta.stats_reset ? new Date(meta.stats_reset) : null,
      statements,
    };
  } catch (err) {
    return { available: false, reason: `pg_stat_statements cannot be read: ${errorMessage(err)}` };
  }
}

/** The normalized text of the given statements only. */
export async function fetchStatementTexts(
  client: pg.Client,
  queryids: string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (queryids.length === 0) return out;
  const where = await statementsSchema(client);
  if (!where.schema) return out;
  const { rows: v } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  // A nested statement (pg_stat_statements.track = all) shares the queryid but may carry its caller's
  // text, e.g. the EXPLAIN around it: the top-level text is the statement's own.
  const toplevel = Number(v[0]?.v) >= 140000 ? 'AND s.toplevel' : '';
  const { rows } = await client.query<{ queryid: string; query: string }>(
    `SELECT ${ownComment('optimizer')} DISTINCT ON (s.queryid) s.queryid::text AS queryid, s.query
     FROM ${quoteIdent(where.schema)}.pg_stat_statements(true) s
     WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND s.queryid = ANY($1::bigint[]) ${toplevel}
     ORDER BY s.queryid, s.calls DESC`,
    [queryids],
  );
  for (const r of rows) out.set(r.queryid, preparedStatementBody(r.query));
  return out;
}

/** A literal instance of a statement (constants as the application wrote them), optionally with binds. */
export interface QueryExample {
  sql: string;
  params?: unknown[];
  /** Where it came from: pg_stat_activity, server_log, the --workload file, the reference mix. */
  source: string;
  /** The statement pg_stat_statements knows it as, when it was matched (stored samples). */
  queryid?: string;
  /** The duration the server logged for this execution (server_log samples). */
  durationMs?: number;
  /** The plan auto_explain logged for this execution (text or JSON as logged). */
  plan?: string;
  /** A name people know the statement by. */
  name?: string;
  /** Executions to assume when the statement is missing from pg_stat_statements. */
  calls?: number;
}

/** Literal samples kept per statement (the most recent distinct texts). */
export const SAMPLES_PER_STATEMENT = 5;
/** Statements samples are kept for (the most recently sampled). */
const SAMPLED_STATEMENTS = 1000;

/** Reads the literal samples stored by captureQuerySamples and the server log reader, newest first. */
export async function storedQuerySamples(client: pg.Client): Promise<QueryExample[]> {
  const { rows } = await client.query<{
    queryid: string;
    query: string;
    source: string;
    duration_ms: number | null;
    plan: string | null;
  }>(
    `SELECT ${ownComment('optimizer')} queryid::text AS queryid, query, source, duration_ms, plan
     FROM dgm.query_samples ORDER BY captured_at DESC, id DESC LIMIT $1`,
    [SAMPLED_STATEMENTS * SAMPLES_PER_STATEMENT],
  );
  return rows.map((r) => ({
    sql: r.query,
    source: r.source,
    queryid: r.queryid,
    ...(r.duration_ms != null ? { durationMs: r.duration_ms } : {}),
    ...(r.plan != null ? { plan: r.plan } : {}),
  }));
}

/**
 * Keeps SAMPLES_PER_STATEMENT samples per statement (the most recent) and those of the
 * SAMPLED_STATEMENTS most recently sampled statements.
 */
export async function pruneQuerySamples(client: pg.Client): Promise<number> {
  const { rowCount } = await client.query(
    `DELETE ${ownComment('optimizer')} FROM dgm.query_samples q
     USING (SELECT id, row_number() OVER (PARTITION BY queryid ORDER BY captured_at DESC, id DESC) AS k,
                   dense_rank() OVER (ORDER BY last DESC, queryid) AS statement_rank
            FROM (SELECT id, queryid, captured_at, max(captured_at) OVER (PARTITION BY queryid) AS last
                  FROM dgm.query_samples) x) r
     WHERE q.id = r.id AND (r.k > $1 OR r.statement_rank > $2)`,
    [SAMPLES_PER_STATEMENT, SAMPLED_STATEMENTS],
  );
  return rowCount ?? 0;
}

/**
 * Stores the literal text of statements running right now (pg_stat_activity, matched to
 * pg_stat_statements by query_id): pg_stat_statements replaces constants by $n, and a partial index
 * needs them. Slow statements are the ones caught, which are the ones that matter. Returns how many
 * were stored.
 */
export async function captureQuerySamples(client: pg.Client): Promise<number> {
  // One round trip: record, and keep SAMPLES_PER_STATEMENT per statement (the rows of this statement
  // are not seen by the pruning, so a statement may hold one more until the next capture).
  // pg_stat_activity.query_id needs 14+.
  try {
    const { rows } = await client.query<{ n: string }>(
      `WITH ${SAMPLER_COMMENT} ins AS (
         INSERT INTO dgm.query_samples (queryid, query, source)
         SELECT DISTINCT ON (a.query_id) a.query_id, a.query, 'pg_stat_activity'
         FROM pg_stat_activity a
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state = 'active'
           AND a.backend_type = 'client backend' AND a.query_id IS NOT NULL AND a.query_id <> 0
           -- A text cut at track_activity_query_size cannot be parsed.
           AND octet_length(a.query) <
               (SELECT setting::int FROM pg_settings WHERE name = 'track_activity_query_size') - 1
           AND a.query !~* '^\\s*(explain|prepare|execute|deallocate|vacuum|analyze|create|alter|drop|copy)\\b'
           AND a.query NOT LIKE '%dgm-db-ops:%'
         ORDER BY a.query_id, a.query_start DESC
         ON CONFLICT (queryid, query_hash) DO UPDATE SET captured_at = clock_timestamp(), source = excluded.source
         RETURNING 1),
       pruned AS (
         DELETE FROM dgm.query_samples q
         USING (SELECT id, row_number() OVER (PARTITION BY queryid ORDER BY captured_at DESC, id DESC) AS k,
                       dense_rank() OVER (ORDER BY last DESC, queryid) AS statement_rank
                FROM (SELECT id, queryid, captured_at, max(captured_at) OVER (PARTITION BY queryid) AS last
                      FROM dgm.query_samples) x) r
         WHERE q.id = r.id AND (r.k > $1 OR r.statement_rank > $2)
         RETURNING 1)
       SELECT (SELECT count(*) FROM ins) AS n`,
      [SAMPLES_PER_STATEMENT, SAMPLED_STATEMENTS],
    );
    return Number(rows[0]?.n ?? 0);
  } catch (err) {
    // 42703: no query_id column before PostgreSQL 14.
    if ((err as { code?: string }).code === '42703') return 0;
    throw err;
  }
}

/** Stores examples supplied by a caller, keyed by the statement pg_stat_statements knows them as. */
export async function storeQuerySamples(
  client: pg.Client,
  samples: Array<{ queryid: string; sql: string; source: string; durationMs?: number; plan?: string }>,
): Promise<void> {
  if (samples.length === 0) return;
  await client.query(
    `INSERT ${ownComment('optimizer')} INTO dgm.query_samples (queryid, query, source, duration_ms, plan)
     SELECT DISTINCT ON (x.queryid, md5(x.query)) x.queryid, x.query, x.source, x.duration_ms, x.plan
     FROM jsonb_to_recordset($1::jsonb)
       AS x(queryid bigint, query text, source text, duration_ms float8, plan text, k int)
     ORDER BY x.queryid, md5(x.query), x.k DESC
     ON CONFLICT (queryid, query_hash) DO UPDATE SET source = excluded.source, captured_at = clock_timestamp(),
       duration_ms = coalesce(excluded.duration_ms, query_samples.duration_ms),
       plan = coalesce(excluded.plan, query_samples.plan)`,
    [
      JSON.stringify(
        samples.map((s, k) => ({
          queryid: s.queryid,
          query: s.sql,
          source: s.source,
          duration_ms: s.durationMs ?? null,
          plan: s.plan ?? null,
          k,
        })),
      ),
    ],
  );
  await pruneQuerySamples(client);
}

/** The tool's own tables (schema dgm): statements on them are not the workload (own-statements.ts). */
export const OPS_TABLES = OWN_TABLES;

/** Statements whose text is read at most, looking for the workload among the top ones by time. */
const MAX_STATEMENTS_READ = 2000;

export interface WorkloadStatement {
  /** queryid, or example:N for an example pg_stat_statements does not know. */
  id: string;
  queryid: string | null;
  /** Normalized text (pg_stat_statements) or the example. */
  text: string;
  name?: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  tempBlksWritten: number;
  /** A literal instance: planned with its constants, and executable for latency measurement. */
  example?: QueryExample;
  /** Every literal sample matched to it: the example first (heaviestFirst), then newest first. */
  samples?: QueryExample[];
  analysis?: StatementAnalysis;
  resolved?: ResolvedStatement;
  /** Why it is not analyzed further. */
  skipped?: string;
}

export interface Workload {
  available: boolean;
  reason?: string;
  snapshot?: StatsSnapshot;
  statements: WorkloadStatement[];
  catalog: Catalog;
  /** Statements in pg_stat_statements for this database, and how many were analyzed. */
  totalStatements: number;
  /**
   * Statements read and left out as not the application's workload (own-statements.ts): the tool's own
   * (marked, its functions or objects), utility statements, system catalogs, no table; by reason.
   */
  leftOut: { total: number; byReason: Partial<Record<NotWorkloadReason, number>> };
}

function fingerprintOf(sql: string): string | undefined {
  try {
    return fingerprintSync(repairNormalizedText(sql));
  } catch {
    return undefined;
  }
}

/** Why a text is not the application's workload (own-statements.ts), or null when it is. */
function notWorkloadOf(text: string): NotWorkloadReason | null {
  return notWorkloadReason(text, shapeOf(text));
}

/**
 * The statements the sampler has already judged not workload (dgm.statement_shapes), by queryid: their
 * text need not be read again. Empty without the sampling tables.
 */
async function judgedNotWorkload(client: pg.Client): Promise<Map<string, NotWorkloadReason>> {
  try {
    const { rows } = await client.query<{ queryid: string; reason: NotWorkloadReason }>(
      `SELECT ${ownComment('optimizer')} queryid::text AS queryid, not_workload AS reason
       FROM dgm.statement_shapes WHERE not_workload IS NOT NULL`,
    );
    return new Map(rows.map((r) => [r.queryid, r.reason]));
  } catch {
    return new Map();
  }
}

/**
 * The application's statements among the given ones (their texts read, the others judged by
 * own-statements.ts), in their order; for lists such as the report's slow statements.
 */
export async function applicationStatements<T extends { queryid: string }>(
  client: pg.Client,
  stats: readonly T[],
): Promise<Array<T & { text: string }>> {
  await loadStatementParser();
  const judged = await judgedNotWorkload(client);
  const unknown = stats.filter((s) => !judged.has(s.queryid));
  const texts = await fetchStatementTexts(
    client,
    unknown.map((s) => s.queryid),
  );
  const out: Array<T & { text: string }> = [];
  for (const s of unknown) {
    const text = texts.get(s.queryid);
    if (text !== undefined && !notWorkloadOf(text)) out.push({ ...s, text });
  }
  return out;
}

export interface WorkloadOptions {
  /** Statements analyzed, by total time. */
  maxStatements: number;
  minCalls: number;
  examples?: QueryExample[];
  /** A snapshot already taken (the run's start snapshot). */
  snapshot?: StatsSnapshot;
}

/**
 * Collects the workload: statistics of every statement, text of the top ones, examples matched to them
 * by fingerprint (constants and $n alike), each parsed and bound to the catalog.
 */
export async function collectWorkload(client: pg.Client, options: WorkloadOptions): Promise<Workload> {
  await loadParser();
  await loadStatementParser();
  const snapshot = options.snapshot ?? (await readStatementStats(client));
  const examples = [...(options.examples ?? [])];
  const byFingerprint = new Map<string, QueryExample[]>();
  for (const e of examples) {
    // A sample of the tool's own statement (same fingerprint as the application's) is no example of it.
    if (e.sql.includes(OWN_MARKER_PREFIX)) continue;
    const fp = fingerprintOf(e.sql);
    // Caller-supplied examples win over captured samples (they come first).
    if (fp) byFingerprint.set(fp, [...(byFingerprint.get(fp) ?? []), e]);
  }
  const statements: WorkloadStatement[] = [];
  const leftOut: Workload['leftOut'] = { total: 0, byReason: {} };
  const leaveOut = (reason: NotWorkloadReason) => {
    leftOut.total++;
    leftOut.byReason[reason] = (leftOut.byReason[reason] ?? 0) + 1;
  };
  let total = 0;
  if (snapshot.available) {
    total = snapshot.statements.size;
    const judged = await judgedNotWorkload(client);
    const ranked = [...snapshot.statements.values()]
      .filter((s) => s.calls >= options.minCalls)
      .filter((s) => {
        const reason = judged.get(s.queryid);
        if (reason) leaveOut(reason);
        return !reason;
      })
      .sort((a, b) => b.totalMs - a.totalMs);
    // Text in batches, by total time, until maxStatements of them are the workload: DDL, EXPLAINs and
    // the tool's own queries rank high too (a build takes seconds) and are only known from their text.
    const batch = Math.max(50, options.maxStatements * 2);
    let workloadCount = 0;
    for (
      let from = 0;
      from < ranked.length && from < MAX_STATEMENTS_READ && workloadCount < options.maxStatements;
      from += batch
    ) {
      const slice = ranked.slice(from, from + batch);
      const texts = await fetchStatementTexts(
        client,
        slice.map((s) => s.queryid),
      );
      for (const s of slice) {
        const text = texts.get(s.queryid);
        if (!text) continue;
        const reason = notWorkloadOf(text);
        if (reason) {
          leaveOut(reason);
          continue;
        }
        const fp = fingerprintOf(text);
        const found = fp ? byFingerprint.get(fp) : undefined;
        const matched = found ? heaviestFirst(found) : undefined;
        if (fp && matched) byFingerprint.delete(fp);
        // Judged on its heaviest logged sample (sample-constants.ts heaviestFirst), not the newest.
        const example = matched?.[0];
        workloadCount++;
        statements.push({
          id: s.queryid,
          queryid: s.queryid,
          text,
          name: example?.name,
          calls: s.calls,
          totalMs: s.totalMs,
          meanMs: s.calls > 0 ? s.totalMs / s.calls : 0,
          tempBlksWritten: s.tempBlksWritten,
          example,
          ...(matched ? { samples: matched } : {}),
        });
      }
    }
  }
  // Supplied examples pg_stat_statements does not know (or no pg_stat_statements at all).
  let n = 0;
  for (const [e] of byFingerprint.values()) {
    if (!e || e.source === 'pg_stat_activity' || e.source === 'server_log') continue;
    const reason = notWorkloadOf(e.sql);
    if (reason) {
      leaveOut(reason);
      continue;
    }
    statements.push({
      id: `example:${++n}`,
      queryid: null,
      text: e.sql,
      name: e.name,
      calls: e.calls ?? 1,
      totalMs: 0,
      meanMs: 0,
      tempBlksWritten: 0,
      example: e,
    });
  }
  for (const s of statements) {
    const parsed = analyzeStatementSync(s.example?.sql ?? s.text);
    if (!parsed.analysis) s.skipped = `cannot be parsed: ${parsed.error}`;
    else s.analysis = parsed.analysis;
  }
  const kept = [
    ...statements.filter((s) => s.queryid).slice(0, options.maxStatements),
    ...statements.filter((s) => !s.queryid),
  ];
  const relationsOf = (ss: typeof kept) =>
    ss.flatMap((s) => s.analysis?.relations.map((r) => ({ schema: r.schema, name: r.name })) ?? []);
  // A statement reading views is read again as reading the tables beneath them (views.ts).
  const viewOf = await loadViews(client, relationsOf(kept));
  for (const s of kept) {
    if (!s.analysis?.relations.some((r) => viewOf(r.schema, r.name))) continue;
    const again = analyzeStatementSync(s.example?.sql ?? s.text, viewOf);
    if (again.analysis) s.analysis = again.analysis;
  }
  const names = relationsOf(kept);
  // The tables the workload's DELETEs and UPDATEs write may be referenced by foreign keys: their children
  // are looked up by every such write (foreign-keys.ts), named in a statement or not.
  const written = kept.flatMap((s) => {
    const a = s.analysis;
    const w = a?.writes === undefined || a.operation === 'insert' ? undefined : a.relations[a.writes];
    return w ? [{ schema: w.schema, name: w.name }] : [];
  });
  const keys = await loadReferencingKeys(client, written);
  const catalog = await loadCatalog(client, [...names, ...keys.map((k) => k.child)]);
  for (const s of kept) {
    if (!s.analysis) continue;
    s.resolved = resolveStatement(s.analysis, catalog);
    // Its other samples: a constant they give differently is one value of many, not the statement's own.
    const views = s.analysis.relations.some((r) => viewOf(r.schema, r.name)) ? viewOf : undefined;
    const others = (s.samples ?? []).slice(1).flatMap((e) => {
      const a = e.params?.length ? undefined : analyzeStatementSync(e.sql, views).analysis;
      return a ? [resolveStatement(a, catalog)] : [];
    });
    if (others.length > 0) markVaryingConstants(s.resolved, others);
    if (s.analysis.operation === 'other') s.skipped = 'not a query (utility statement)';
    else if (s.resolved.tables.length === 0)
      s.skipped = `unknown tables: ${s.resolved.unresolved.join(', ')}`;
  }
  kept.push(...foreignKeyLookups(kept, keys, catalog, snapshot));
  return {
    available: snapshot.available || kept.length > 0,
    reason: snapshot.available ? undefined : snapshot.reason,
    snapshot,
    statements: kept,
    catalog,
    totalStatements: total,
    leftOut,
  };
}

/**
 * Runs fn with pg_stat_statements not tracking this session (where the role may set it: a superuser;
 * on RDS the setting is refused and tracking stays on), so the optimizer's own EXPLAINs, measurements
 * and DDL do not crowd the workload's statistics.
 */
export async function withoutStatementTracking<T>(client: pg.Client, fn: () => Promise<T>): Promise<T> {
  let previous: string | undefined;
  try {
    const { rows } = await client.query<{ v: string | null }>(
      `SELECT current_setting('pg_stat_statements.track', true) AS v`,
    );
    if (rows[0]?.v) {
      await client.query(`SELECT set_config('pg_stat_statements.track', 'none', false)`);
      previous = rows[0].v;
    }
  } catch {
    previous = undefined;
  }
  try {
    return await fn();
  } finally {
    if (previous) {
      await client
        .query(`SELECT set_config('pg_stat_statements.track', $1, false)`, [previous])
        .catch(() => {});
    }
  }
}
