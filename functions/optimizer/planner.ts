import type pg from 'pg';
import { quoteIdent, quoteQualified } from '../db/identifiers.ts';
import { errorMessage } from '../errors.ts';
import { columnStatisticsSql, createIndexSql, statisticsSql } from './candidate-sql.ts';
import type { CandidateIndex } from './candidates.ts';

/**
 * Asking the planner: the cost of a statement's plan and the indexes it uses, with generic plans for
 * $n parameters (EXPLAIN (GENERIC_PLAN) on 16+, a prepared statement under force_generic_plan before);
 * and "what if" sessions that add candidate indexes hypothetically (HypoPG) or for real inside a
 * transaction that is rolled back.
 */

export interface ExplainTarget {
  sql: string;
  /** Bind values: a custom plan for these. Without them, $n get a generic plan. */
  params?: unknown[];
  /** Highest $n in sql (0: none). */
  maxParam: number;
}

export interface PlanResult {
  cost: number;
  /** Index names the plan scans, as the plan prints them. */
  indexes: string[];
  /** Scan nodes, e.g. "Seq Scan on workspaces". */
  scans: string[];
  error?: string;
}

interface PlanNode {
  'Node Type'?: string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Total Cost'?: number;
  Plans?: PlanNode[];
}

function walkPlan(node: PlanNode, indexes: Set<string>, scans: string[]): void {
  if (node['Index Name']) indexes.add(node['Index Name']);
  if (node['Relation Name'] && node['Node Type'])
    scans.push(`${node['Node Type']} on ${node['Relation Name']}`);
  for (const child of node.Plans ?? []) walkPlan(child, indexes, scans);
}

/** Reads EXPLAIN (FORMAT JSON) output. */
export function readPlan(json: unknown): Omit<PlanResult, 'error'> {
  const doc = (typeof json === 'string' ? JSON.parse(json) : json) as Array<{ Plan: PlanNode }>;
  const plan = doc[0]?.Plan;
  if (!plan) return { cost: Number.NaN, indexes: [], scans: [] };
  const indexes = new Set<string>();
  const scans: string[] = [];
  walkPlan(plan, indexes, scans);
  return { cost: plan['Total Cost'] ?? Number.NaN, indexes: [...indexes], scans };
}

let sequence = 0;

/** SQLSTATE 42P18: could not determine data type of parameter $n. */
const INDETERMINATE_DATATYPE = '42P18';

/**
 * Explains statements inside an open transaction (which the caller rolls back): each EXPLAIN in its own
 * savepoint, so one statement that cannot be planned does not abort the rest.
 */
export class Explainer {
  private readonly client: pg.Client;
  readonly versionNum: number;

  constructor(client: pg.Client, versionNum: number) {
    this.client = client;
    this.versionNum = versionNum;
  }

  async explain(target: ExplainTarget): Promise<PlanResult> {
    const name = `dgm_opt_${process.pid}_${++sequence}`;
    let prepared = false;
    try {
      await this.client.query('SAVEPOINT dgm_explain');
      let json: unknown;
      if (target.params && target.params.length > 0) {
        const { rows } = await this.client.query(`EXPLAIN (FORMAT JSON) ${target.sql}`, target.params);
        json = rows[0]?.['QUERY PLAN'];
      } else if (target.maxParam === 0) {
        const { rows } = await this.client.query(`EXPLAIN (FORMAT JSON) ${target.sql}`);
        json = rows[0]?.['QUERY PLAN'];
      } else {
        let generic: unknown;
        if (this.versionNum >= 160000) {
          try {
            await this.client.query('SAVEPOINT dgm_generic');
            const { rows } = await this.client.query(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${target.sql}`);
            generic = rows[0]?.['QUERY PLAN'];
            await this.client.query('RELEASE SAVEPOINT dgm_generic');
          } catch (err) {
            await this.client.query('ROLLBACK TO SAVEPOINT dgm_generic');
            await this.client.query('RELEASE SAVEPOINT dgm_generic');
            // A $n whose type nothing determines: the prepared statement below, with its type inferred.
            if ((err as { code?: string }).code !== INDETERMINATE_DATATYPE) throw err;
          }
        }
        if (generic !== undefined) {
          json = generic;
        } else {
          // Before 16: a prepared statement, planned generically (plan_cache_mode is set by the session).
          // Its NULL arguments would let executor-start pruning remove every partition from the plan we
          // read, so pruning is off for this EXPLAIN: a generic plan cannot prune by $n at plan time anyway.
          await this.prepare(name, target);
          prepared = true;
          const args = Array.from({ length: target.maxParam }, () => 'NULL').join(', ');
          await this.client.query(`SELECT set_config('enable_partition_pruning', 'off', true)`);
          const { rows } = await this.client.query(`EXPLAIN (FORMAT JSON) EXECUTE ${name}(${args})`);
          await this.client.query(`SELECT set_config('enable_partition_pruning', 'on', true)`);
          json = rows[0]?.['QUERY PLAN'];
        }
      }
      await this.client.query('RELEASE SAVEPOINT dgm_explain');
      return readPlan(json);
    } catch (err) {
      await this.client.query('ROLLBACK TO SAVEPOINT dgm_explain').catch(() => {});
      await this.client.query('RELEASE SAVEPOINT dgm_explain').catch(() => {});
      return { cost: Number.NaN, indexes: [], scans: [], error: errorMessage(err) };
    } finally {
      // Prepared statements outlive savepoints.
      if (prepared) await this.client.query(`DEALLOCATE ${name}`).catch(() => {});
    }
  }

  /**
   * Runs a literal statement under EXPLAIN (ANALYZE, TIMING OFF) in a savepoint that is rolled back, with
   * a statement timeout: its execution time and the indexes it used. For what-if checks of a SELECT whose
   * estimate the planner cannot make well (a jsonb containment, a pattern) while a candidate is built.
   */
  async measure(
    target: ExplainTarget,
    timeoutMs: number,
  ): Promise<{ ms: number; indexes: string[] } | undefined> {
    try {
      await this.client.query('SAVEPOINT dgm_measure');
      await this.client.query(`SELECT set_config('statement_timeout', $1, true)`, [
        String(Math.max(1, Math.round(timeoutMs))),
      ]);
      // The fastest of a few runs: one run on a busy machine can take several times its usual time.
      let best: { ms: number; indexes: string[] } | undefined;
      for (let run = 0; run < MEASURE_RUNS; run++) {
        const { rows } = await this.client.query(
          `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ${target.sql}`,
          target.params && target.params.length > 0 ? target.params : undefined,
        );
        const doc = rows[0]?.['QUERY PLAN'] as Array<{ 'Execution Time'?: number }>;
        const ms = doc[0]?.['Execution Time'];
        if (typeof ms === 'number' && (!best || ms < best.ms)) best = { ms, indexes: readPlan(doc).indexes };
      }
      await this.client.query('ROLLBACK TO SAVEPOINT dgm_measure');
      await this.client.query('RELEASE SAVEPOINT dgm_measure');
      return best;
    } catch {
      await this.client.query('ROLLBACK TO SAVEPOINT dgm_measure').catch(() => {});
      await this.client.query('RELEASE SAVEPOINT dgm_measure').catch(() => {});
      return undefined;
    }
  }

  /**
   * PREPARE with the parameter types PostgreSQL infers; a $n it cannot type (`$1 IS NULL`, a bare select
   * list item) is declared text and the statement prepared again, once per such parameter.
   */
  private async prepare(name: string, target: ExplainTarget): Promise<void> {
    const types: string[] = Array.from({ length: target.maxParam }, () => 'unknown');
    for (let attempt = 0; ; attempt++) {
      const list = types.some((t) => t !== 'unknown') ? `(${types.join(', ')})` : '';
      try {
        await this.client.query('SAVEPOINT dgm_prepare');
        await this.client.query(`PREPARE ${name}${list} AS ${target.sql}`);
        await this.client.query('RELEASE SAVEPOINT dgm_prepare');
        return;
      } catch (err) {
        await this.client.query('ROLLBACK TO SAVEPOINT dgm_prepare');
        await this.client.query('RELEASE SAVEPOINT dgm_prepare');
        const m = /parameter \$(\d+)/.exec(errorMessage(err));
        const n = m ? Number(m[1]) : 0;
        const code = (err as { code?: string }).code;
        if (code !== INDETERMINATE_DATATYPE || n < 1 || n > types.length || types[n - 1] !== 'unknown')
          throw err;
        types[n - 1] = 'text';
        if (attempt > types.length) throw err;
      }
    }
  }
}

export interface ExplainSessionOptions {
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
}

/** Runs fn with an Explainer inside a transaction that is always rolled back. */
export async function withExplainer<T>(
  client: pg.Client,
  options: ExplainSessionOptions,
  fn: (explainer: Explainer) => Promise<T>,
): Promise<T> {
  const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  const explainer = new Explainer(client, Number(rows[0]?.v));
  await client.query('BEGIN');
  try {
    await sessionSettings(client, options);
    return await fn(explainer);
  } finally {
    await client.query('ROLLBACK').catch(() => {});
  }
}

/** A timeout no longer than the session's own (a Lambda sets it below its remaining time). */
export function capTimeout(sessionMs: number, wantedMs: number): number {
  return sessionMs > 0 ? Math.min(sessionMs, wantedMs) : wantedMs;
}

async function sessionSettings(client: pg.Client, options: ExplainSessionOptions): Promise<void> {
  // Settings in ms; current_setting shows units ('5s'), so read them from pg_settings.
  const { rows } = await client.query<{ st: string }>(
    `SELECT setting AS st FROM pg_settings WHERE name = 'statement_timeout'`,
  );
  const statementTimeout = capTimeout(Number(rows[0]?.st ?? 0), options.statementTimeoutMs ?? 60_000);
  await client.query(
    `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
            set_config('statement_timeout', $1, true),
            set_config('lock_timeout', $2, true)`,
    [String(statementTimeout), String(options.lockTimeoutMs ?? 2_000)],
  );
}

/** Runs of a statement a measurement takes the fastest of (measure()). */
export const MEASURE_RUNS = 3;

export type WhatIfMethod = 'hypopg' | 'real_build';

export interface AddedCandidate {
  candidate: CandidateIndex;
  method: WhatIfMethod;
  /** Names under which plans show it (a partitioned table's real index appears per partition). */
  names: string[];
  bytes: number | null;
  error?: string;
  /** How to take this one candidate back out (remove()): its HypoPG oids, or the real index's name. */
  hypoOids?: number[];
  realName?: string;
}

export interface WhatIfOptions extends ExplainSessionOptions {
  /** 'auto' uses HypoPG when the server offers it; 'off' always builds for real. */
  hypopg: 'auto' | 'off';
  /** Without HypoPG, a candidate is built for real only on tables up to this size. */
  realBuildMaxBytes: number;
  /** May create the hypopg extension inside the rolled-back transaction. */
  createExtension: boolean;
}

/** How hypothetical indexes are available on this server. */
export interface HypopgState {
  installed: boolean;
  available: boolean;
  schema: string | null;
}

export async function hypopgState(client: pg.Client): Promise<HypopgState> {
  const { rows } = await client.query<HypopgState>(
    `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'hypopg') AS installed,
            EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg') AS available,
            (SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
              WHERE e.extname = 'hypopg') AS schema`,
  );
  return rows[0]!;
}

/**
 * A transaction in which candidate indexes can be added and statements explained, then all of it
 * removed. Btree candidates go through HypoPG when available; GIN (which HypoPG does not support) and
 * every candidate on a server without HypoPG are built for real in a savepoint, which is rolled back.
 */
export class WhatIfSession {
  private hypoUsed = false;
  private realSavepoint = false;
  private realCount = 0;
  private readonly analyzedExpressions = new Set<string>();

  private readonly client: pg.Client;
  readonly explainer: Explainer;
  private readonly hypoSchema: string | null;
  private readonly options: WhatIfOptions;

  constructor(client: pg.Client, explainer: Explainer, hypoSchema: string | null, options: WhatIfOptions) {
    this.client = client;
    this.explainer = explainer;
    this.hypoSchema = hypoSchema;
    this.options = options;
  }

  /** Whether HypoPG serves this session. */
  get hypopg(): boolean {
    return this.hypoSchema !== null;
  }

  explain(target: ExplainTarget): Promise<PlanResult> {
    return this.explainer.explain(target);
  }

  measure(target: ExplainTarget, timeoutMs: number): Promise<{ ms: number; indexes: string[] } | undefined> {
    return this.explainer.measure(target, timeoutMs);
  }

  async add(candidate: CandidateIndex): Promise<AddedCandidate> {
    // HypoPG handles btree, but its partial indexes are not matched on partitions (1.3): those are
    // built for real, as GIN and GiST are (HypoPG supports neither).
    // An expression index is built for real where the table allows: ANALYZE then gives the planner the
    // expression's statistics and its correlation with the heap, which a hypothetical one cannot have
    // (a day's contiguous rows through `ts::date` otherwise look like scattered heap fetches).
    const expressionBuild =
      candidate.columns.some((c) => c.expression) &&
      candidate.table.totalBytes <= this.options.realBuildMaxBytes;
    const hypoFits =
      candidate.method === 'btree' &&
      !(candidate.predicate && candidate.table.relkind === 'p') &&
      !expressionBuild;
    if (this.hypoSchema && hypoFits) {
      try {
        const sql = createIndexSql(candidate, { name: 'hypothetical' });
        await this.client.query('SAVEPOINT dgm_hypo');
        const { rows } = await this.client.query<{ indexrelid: number; indexname: string; bytes: string }>(
          `SELECT h.indexrelid, h.indexname, ${quoteIdent(this.hypoSchema)}.hypopg_relation_size(h.indexrelid) AS bytes
           FROM ${quoteIdent(this.hypoSchema)}.hypopg_create_index($1) h`,
          [sql],
        );
        await this.client.query('RELEASE SAVEPOINT dgm_hypo');
        this.hypoUsed = true;
        await this.expressionStatistics(candidate, false);
        return {
          candidate,
          method: 'hypopg',
          names: rows.map((r) => r.indexname),
          bytes: rows.reduce((s, r) => s + Number(r.bytes), 0),
          hypoOids: rows.map((r) => Number(r.indexrelid)),
        };
      } catch (err) {
        await this.client.query('ROLLBACK TO SAVEPOINT dgm_hypo').catch(() => {});
        return { candidate, method: 'hypopg', names: [], bytes: null, error: errorMessage(err) };
      }
    }
    if (candidate.table.totalBytes > this.options.realBuildMaxBytes) {
      return {
        candidate,
        method: 'real_build',
        names: [],
        bytes: null,
        error: `table is ${candidate.table.totalBytes} bytes, above realBuildMaxBytes (${this.options.realBuildMaxBytes}); not built without HypoPG`,
      };
    }
    const name = `dgm_whatif_${process.pid}_${++this.realCount}`;
    try {
      if (!this.realSavepoint) {
        await this.client.query('SAVEPOINT dgm_whatif_real');
        this.realSavepoint = true;
      }
      await this.client.query('SAVEPOINT dgm_whatif_one');
      await this.client.query(createIndexSql(candidate, { name }));
      const { rows } = await this.client.query<{ name: string; bytes: string }>(
        `SELECT c.relname::text AS name, pg_relation_size(c.oid) AS bytes
         FROM pg_class c
         WHERE c.oid IN (SELECT t.relid FROM pg_partition_tree(to_regclass($1)) t UNION SELECT to_regclass($1))`,
        [`${quoteIdent(candidate.table.schema)}.${quoteIdent(name)}`],
      );
      await this.client.query('RELEASE SAVEPOINT dgm_whatif_one');
      await this.expressionStatistics(candidate, true, name);
      return {
        candidate,
        method: 'real_build',
        names: rows.map((r) => r.name),
        bytes: rows.reduce((s, r) => s + Number(r.bytes), 0),
        realName: name,
      };
    } catch (err) {
      await this.client.query('ROLLBACK TO SAVEPOINT dgm_whatif_one').catch(() => {});
      return { candidate, method: 'real_build', names: [], bytes: null, error: errorMessage(err) };
    }
  }

  /**
   * Statistics on a candidate's expressions, so the planner estimates `lower(email) = 'x'` from the data
   * instead of a default 0.5% of the rows: ANALYZE collects them for a real expression index, and for a
   * hypothetical one from CREATE STATISTICS on the expression (14+). Both inside the rolled-back
   * transaction; once per expression; best effort (an estimate is still an estimate without them).
   */
  private async expressionStatistics(
    candidate: CandidateIndex,
    realIndex: boolean,
    realName?: string,
  ): Promise<void> {
    const exprs = candidate.columns.filter((c) => c.expression).map((c) => c.expression!);
    const table = `${quoteIdent(candidate.table.schema)}.${quoteIdent(candidate.table.name)}`;
    // Statistics objects stay for the whole session; a real index's statistics go with its rollback.
    const fresh = realIndex ? exprs : exprs.filter((e) => !this.analyzedExpressions.has(`${table} ${e}`));
    // A trigram index's plain columns: the target apply gives them (rolled back with the rest).
    const columnTargets = realIndex ? columnStatisticsSql(candidate) : [];
    if (fresh.length === 0 && columnTargets.length === 0) return;
    if (!realIndex) for (const e of fresh) this.analyzedExpressions.add(`${table} ${e}`);
    try {
      await this.client.query('SAVEPOINT dgm_whatif_stats');
      if (!realIndex) {
        if (this.explainer.versionNum < 140000) {
          await this.client.query('RELEASE SAVEPOINT dgm_whatif_stats');
          return;
        }
        for (const e of fresh) {
          await this.client.query(
            `CREATE STATISTICS ${quoteIdent(`dgm_whatif_stat_${process.pid}_${++this.realCount}`)} ON (${e}) FROM ${table}`,
          );
        }
      }
      // The statistics target apply gives the built index (a trigram index's expression), so the
      // evaluation sees the estimate the application will.
      if (realName && candidate.table.relkind !== 'p')
        for (const sql of statisticsSql(candidate, quoteQualified(candidate.table.schema, realName)))
          await this.client.query(sql);
      for (const sql of columnTargets) await this.client.query(sql);
      await this.client.query(`ANALYZE ${table}`);
      await this.client.query('RELEASE SAVEPOINT dgm_whatif_stats');
    } catch {
      await this.client.query('ROLLBACK TO SAVEPOINT dgm_whatif_stats').catch(() => {});
      await this.client.query('RELEASE SAVEPOINT dgm_whatif_stats').catch(() => {});
    }
  }

  /** Takes one added candidate back out, keeping the others (a real build is dropped in the transaction). */
  async remove(added: AddedCandidate): Promise<void> {
    if (added.hypoOids && this.hypoSchema) {
      for (const oid of added.hypoOids) {
        await this.client.query(`SELECT ${quoteIdent(this.hypoSchema)}.hypopg_drop_index($1)`, [oid]);
      }
    }
    if (added.realName) {
      await this.client.query(
        `DROP INDEX ${quoteIdent(added.candidate.table.schema)}.${quoteIdent(added.realName)}`,
      );
    }
  }

  /** Removes every candidate added so far. */
  async reset(): Promise<void> {
    if (this.hypoUsed && this.hypoSchema) {
      await this.client.query(`SELECT ${quoteIdent(this.hypoSchema)}.hypopg_reset()`);
      this.hypoUsed = false;
    }
    if (this.realSavepoint) {
      await this.client.query('ROLLBACK TO SAVEPOINT dgm_whatif_real');
      await this.client.query('RELEASE SAVEPOINT dgm_whatif_real');
      this.realSavepoint = false;
    }
  }
}

/**
 * Runs fn in a what-if session: one transaction, rolled back at the end, with HypoPG when it is usable
 * (created inside the transaction when available but not installed, and options allow it).
 */
export async function withWhatIf<T>(
  client: pg.Client,
  options: WhatIfOptions,
  fn: (session: WhatIfSession) => Promise<T>,
): Promise<T> {
  const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  const explainer = new Explainer(client, Number(rows[0]?.v));
  const state = options.hypopg === 'off' ? undefined : await hypopgState(client);
  await client.query('BEGIN');
  let schema: string | null = null;
  let session: WhatIfSession | undefined;
  try {
    await sessionSettings(client, options);
    if (state?.installed) {
      schema = state.schema;
    } else if (state?.available && options.createExtension) {
      try {
        await client.query('SAVEPOINT dgm_hypopg_ext');
        await client.query('CREATE EXTENSION IF NOT EXISTS hypopg');
        schema = (await hypopgState(client)).schema;
        await client.query('RELEASE SAVEPOINT dgm_hypopg_ext');
      } catch {
        await client.query('ROLLBACK TO SAVEPOINT dgm_hypopg_ext').catch(() => {});
        schema = null;
      }
    }
    await client.query('SAVEPOINT dgm_whatif_base');
    session = new WhatIfSession(client, explainer, schema, options);
    return await fn(session);
  } finally {
    await client.query('ROLLBACK TO SAVEPOINT dgm_whatif_base').catch(() => {});
    // Hypothetical indexes live in the backend's memory, not in the transaction.
    if (schema) await client.query(`SELECT ${quoteIdent(schema)}.hypopg_reset()`).catch(() => {});
    await client.query('ROLLBACK').catch(() => {});
  }
}
