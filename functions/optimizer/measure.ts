import type pg from 'pg';
import { quoteIdent, quoteQualified } from '../db/identifiers.ts';
import { walkNodes } from '../db/parse-tree.ts';
import { errorMessage } from '../errors.ts';
import { loadStatementParser, parseStatements } from '../monitor/statement-shape.ts';
import type { ParamContext } from './access.ts';
import { repairNormalizedText } from './analyze.ts';
import writeSafetySql from './sql/write-safety.sql';
import { loadViews } from './views.ts';
import type { WorkloadStatement } from './workload.ts';

/**
 * Measured latency: statements executed (under EXPLAIN ANALYZE, so the measurement stays out of the
 * workload's top-level statistics) with their literal example, or with parameter values sampled from
 * the table's own rows where the role of each $n is known.
 *
 * Only what cannot write is executed: one plain SELECT (no data-modifying CTE, no INTO, no FOR
 * UPDATE/SHARE), over tables and materialized views only (a view's body is not checked), whose
 * functions and operators' functions are all immutable or stable in the catalog (pg_proc.provolatile,
 * every overload the name could resolve to). It runs in a READ ONLY transaction that is rolled back,
 * under a statement timeout. Anything else is judged by its plan alone.
 */

export interface ExecutableInstance {
  sql: string;
  params: unknown[];
  /** example | sampled */
  source: string;
}

/** Share of rows a sampled range bound leaves: `col >= $1` gets the value 5% from the top. */
const RANGE_SHARE = 0.05;

async function sampleValue(
  client: pg.Client,
  ctx: Extract<ParamContext, { role: 'value' }>,
  paired: boolean,
): Promise<unknown> {
  const table = quoteQualified(ctx.table.schema, ctx.table.name);
  const col = quoteIdent(ctx.column);
  // A small random sample of the rows: TABLESAMPLE is cheap on big tables, the fallback covers tiny ones.
  const source = `(SELECT ${col} AS v FROM ${table} TABLESAMPLE SYSTEM (1) WHERE ${col} IS NOT NULL
                   UNION ALL (SELECT ${col} FROM ${table} WHERE ${col} IS NOT NULL LIMIT 1000)) s`;
  switch (ctx.kind) {
    case 'eq':
    case 'in': {
      const { rows } = await client.query(`SELECT v::text AS v FROM ${source} ORDER BY random() LIMIT 1`);
      return rows[0]?.v;
    }
    case 'range': {
      const upper = ctx.operator === '<' || ctx.operator === '<=';
      // A lower bound near the top (recent rows, high scores); an upper bound paired with a lower one
      // takes the maximum, so the pair selects the top slice.
      const q = upper ? (paired ? 1 : RANGE_SHARE) : 1 - RANGE_SHARE;
      const { rows } = await client.query(
        `SELECT (percentile_disc($1::float8) WITHIN GROUP (ORDER BY v))::text AS v FROM ${source}`,
        [q],
      );
      return rows[0]?.v;
    }
    case 'jsonb_contains': {
      const { rows } = await client.query(
        `SELECT CASE jsonb_typeof(v)
                  WHEN 'object' THEN (SELECT jsonb_build_object(e.key, e.value) FROM jsonb_each(v) e ORDER BY random() LIMIT 1)
                  WHEN 'array' THEN jsonb_build_array(v -> 0)
                END::text AS v
         FROM ${source} WHERE jsonb_typeof(v) IN ('object', 'array') AND v NOT IN ('{}', '[]') ORDER BY random() LIMIT 1`,
      );
      return rows[0]?.v;
    }
    case 'jsonb_exists': {
      const { rows } = await client.query(
        `SELECT CASE jsonb_typeof(v)
                  WHEN 'object' THEN (SELECT k FROM jsonb_object_keys(v) k ORDER BY random() LIMIT 1)
                  WHEN 'array' THEN v ->> 0
                END AS v
         FROM ${source} WHERE jsonb_typeof(v) IN ('object', 'array') AND v NOT IN ('{}', '[]') ORDER BY random() LIMIT 1`,
      );
      return rows[0]?.v;
    }
    default:
      return undefined;
  }
}

/**
 * An executable instance of a statement: its literal example, or its normalized text with sampled
 * values. Undefined when some $n has no known role (it cannot be measured, only planned).
 */
export async function executableInstance(
  client: pg.Client,
  s: WorkloadStatement,
): Promise<ExecutableInstance | undefined> {
  // Only reads are executed: an UPDATE or DELETE is planned, never run, to measure it.
  if (s.resolved?.operation !== 'select' || s.analysis?.notes.includes('data-modifying CTE'))
    return undefined;
  if (s.example) {
    const maxParam = s.analysis?.maxParam ?? 0;
    if (maxParam === 0 || (s.example.params && s.example.params.length >= maxParam)) {
      const sql = s.example.sql;
      if (!(await cannotWrite(client, sql)).safe) return undefined;
      return { sql, params: s.example.params ?? [], source: 'example' };
    }
  }
  if (!(await cannotWrite(client, repairNormalizedText(s.text))).safe) return undefined;
  const resolved = s.resolved;
  const params: unknown[] = [];
  try {
    for (let n = 1; n <= resolved.maxParam; n++) {
      const ctx = resolved.params[n];
      if (!ctx) return undefined;
      if (ctx.role !== 'value') params.push(ctx.role === 'limit' ? 20 : 0);
      else {
        const lowerOnSameColumn = Object.values(resolved.params).some(
          (p) =>
            p.role === 'value' &&
            p.column === ctx.column &&
            p.table.oid === ctx.table.oid &&
            (p.operator === '>' || p.operator === '>='),
        );
        const v = await sampleValue(client, ctx, lowerOnSameColumn);
        if (v === undefined || v === null) return undefined;
        params.push(v);
      }
    }
  } catch {
    return undefined;
  }
  return { sql: repairNormalizedText(s.text), params, source: 'sampled' };
}

type AstNode = Record<string, unknown>;

const names = (list: unknown): string[] =>
  Array.isArray(list)
    ? list.map((n) => ((n as { String?: { sval?: string } }).String?.sval ?? '') as string)
    : [];

/** A_Expr kinds whose name is an operator (BETWEEN is <= and >=). */
const OPERATOR_KINDS = new Set([
  'AEXPR_OP',
  'AEXPR_OP_ANY',
  'AEXPR_OP_ALL',
  'AEXPR_DISTINCT',
  'AEXPR_NOT_DISTINCT',
  'AEXPR_NULLIF',
  'AEXPR_IN',
  'AEXPR_LIKE',
  'AEXPR_ILIKE',
  'AEXPR_SIMILAR',
]);

interface SafetyRow {
  kind: string;
  schema: string | null;
  name: string;
  ok: boolean | null;
  relkind: string | null;
}

export type WriteVerdict = { safe: true } | { safe: false; reason: string };

/** The names a parsed statement uses, and the first thing in it that can write. */
interface NamesUsed {
  problem?: string;
  functions: Array<[string | null, string]>;
  operators: Array<[string | null, string]>;
  /** Relations, CTE names excluded. */
  relations: Array<[string | null, string]>;
}

function namesUsed(node: unknown): NamesUsed {
  const out: NamesUsed = { functions: [], operators: [], relations: [] };
  const relations: Array<[string | null, string]> = [];
  const ctes = new Set<string>();
  walkNodes(node, (type, body) => {
    if (['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt'].includes(type))
      out.problem ??= 'a data-modifying statement inside';
    else if (type === 'SelectStmt') {
      if (body.intoClause) out.problem ??= 'SELECT INTO';
      if (Array.isArray(body.lockingClause) && body.lockingClause.length > 0)
        out.problem ??= 'FOR UPDATE/SHARE';
    } else if (type === 'CommonTableExpr' && typeof body.ctename === 'string') ctes.add(body.ctename);
    else if (type === 'FuncCall') {
      const n = names(body.funcname);
      out.functions.push(n.length > 1 ? [n[n.length - 2]!, n[n.length - 1]!] : [null, n[0] ?? '']);
    } else if (type === 'A_Expr') {
      const kind = String(body.kind ?? 'AEXPR_OP');
      const n = names(body.name);
      const op: [string | null, string] = n.length > 1 ? [n[0]!, n[1]!] : [null, n[0] ?? ''];
      if (OPERATOR_KINDS.has(kind)) out.operators.push(op);
      else if (kind.startsWith('AEXPR_BETWEEN') || kind.startsWith('AEXPR_NOT_BETWEEN'))
        out.operators.push([null, '>='], [null, '<=']);
    } else if (type === 'RangeVar' && typeof body.relname === 'string') {
      relations.push([typeof body.schemaname === 'string' ? body.schemaname : null, body.relname]);
    }
  });
  out.relations = relations.filter((r) => r[0] !== null || !ctes.has(r[1]));
  return out;
}

/**
 * Whether executing sql can change anything, read from its parse tree and the catalog: a single plain
 * SELECT over tables, materialized views and views, every function and operator it uses (and the
 * definitions of the views it reads use, to any depth) resolving only to immutable or stable functions.
 * A view is read from its definition (pg_get_viewdef): pg_depend does not record what a view calls among
 * the built-in functions (nextval, pg_notify, set_config are volatile and pinned).
 */
export async function cannotWrite(client: pg.Client, sql: string): Promise<WriteVerdict> {
  await loadStatementParser();
  let tree: { stmts: Array<{ stmt?: AstNode }> };
  try {
    tree = parseStatements(sql) as unknown as typeof tree;
  } catch (err) {
    return { safe: false, reason: `does not parse: ${errorMessage(err)}` };
  }
  if (tree.stmts.length !== 1 || !tree.stmts[0]?.stmt?.SelectStmt)
    return { safe: false, reason: 'not a single SELECT' };
  const used = namesUsed(tree.stmts[0].stmt);
  if (used.problem) return { safe: false, reason: used.problem };
  // One catalog query says what each name is. The views among the relations (and the views those read)
  // are then read from their definitions, whose names join the statement's, and the query runs again:
  // a statement without views costs one round trip.
  const expanded = new Set<string>();
  const tried = new Set<string>();
  const idOf = (schema: string | null, name: string) => JSON.stringify([schema, name]);
  let rows: SafetyRow[];
  for (;;) {
    rows = (
      await client.query<SafetyRow>(writeSafetySql, [
        used.functions.map((f) => f[0]),
        used.functions.map((f) => f[1]),
        used.operators.map((o) => o[0]),
        used.operators.map((o) => o[1]),
        used.relations.map((r) => r[0]),
        used.relations.map((r) => r[1]),
      ])
    ).rows;
    const views = rows.filter(
      (r) => r.kind === 'relation' && r.relkind === 'v' && !tried.has(idOf(r.schema, r.name)),
    );
    if (views.length === 0) break;
    for (const r of views) tried.add(idOf(r.schema, r.name));
    const lookup = await loadViews(
      client,
      views.map((r) => (r.schema === null ? { name: r.name } : { schema: r.schema, name: r.name })),
    );
    const pending: Array<[string | null, string]> = views.map((r) => [r.schema, r.name]);
    while (pending.length > 0) {
      const [schema, name] = pending.pop()!;
      const view = lookup(schema ?? undefined, name);
      const id = idOf(schema, name);
      if (!view || expanded.has(id)) continue;
      expanded.add(id);
      tried.add(id);
      const inner = namesUsed(view.select);
      if (inner.problem)
        return { safe: false, reason: `the view ${view.schema}.${view.name}: ${inner.problem}` };
      used.functions.push(...inner.functions);
      used.operators.push(...inner.operators);
      used.relations.push(...inner.relations);
      pending.push(...inner.relations);
    }
  }
  const bad = rows.find(
    (r) => !r.ok && !(r.kind === 'relation' && r.relkind === 'v' && expanded.has(idOf(r.schema, r.name))),
  );
  if (bad) {
    const name = `${bad.schema ? `${bad.schema}.` : ''}${bad.name}`;
    return {
      safe: false,
      reason:
        bad.kind === 'relation' && bad.relkind === 'policies'
          ? `reads ${name}, whose row-level security policies apply to this role`
          : bad.kind === 'relation'
            ? `reads ${name}, which is not a table, materialized view or a view it could read`
            : `${bad.kind} ${name} is volatile or unknown`,
    };
  }
  return { safe: true };
}

export interface LatencyMeasurement {
  /** Median of the runs, planning plus execution, in ms. */
  medianMs: number;
  runs: number[];
  /**
   * Median of the buffers the execution touched (shared hit and read, local, temp): the work the plan
   * does, which unlike time does not change with the machine's load.
   */
  medianBlocks: number;
  error?: string;
}

interface ExplainedRun {
  'Planning Time'?: number;
  'Execution Time'?: number;
  Plan?: Record<string, number | undefined>;
}

const BLOCK_FIELDS = [
  'Shared Hit Blocks',
  'Shared Read Blocks',
  'Local Hit Blocks',
  'Local Read Blocks',
  'Temp Read Blocks',
  'Temp Written Blocks',
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Runs a SELECT `runs` times after one warm-up under EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) and takes
 * the median of planning plus execution time as the server reports it (no network, no result
 * transfer), and the median of the buffers its execution touched.
 */
export async function measureLatency(
  client: pg.Client,
  instance: ExecutableInstance,
  runs = 5,
  options: { statementTimeoutMs?: number } = {},
): Promise<LatencyMeasurement> {
  const times: number[] = [];
  const blocks: number[] = [];
  // Read only and rolled back, whatever the statement turns out to do; and never for long.
  await client.query('BEGIN TRANSACTION READ ONLY');
  try {
    // Never longer than the session allows (in a Lambda it is set below the remaining time).
    await client.query(
      `SELECT set_config('statement_timeout',
                         (CASE WHEN s.setting::bigint > 0 AND s.setting::bigint < $1::bigint THEN s.setting::bigint
                               ELSE $1::bigint END)::text, true)
       FROM pg_settings s WHERE s.name = 'statement_timeout'`,
      [Math.trunc(options.statementTimeoutMs ?? 30_000)],
    );
    for (let i = 0; i <= runs; i++) {
      const { rows } = await client.query(
        `EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON, FORMAT JSON) ${instance.sql}`,
        instance.params,
      );
      const doc = rows[0]?.['QUERY PLAN'] as ExplainedRun[];
      const t = (doc[0]?.['Planning Time'] ?? 0) + (doc[0]?.['Execution Time'] ?? 0);
      if (i > 0) {
        times.push(t);
        blocks.push(BLOCK_FIELDS.reduce((sum, f) => sum + (doc[0]?.Plan?.[f] ?? 0), 0));
      }
    }
  } catch (err) {
    return { medianMs: Number.NaN, runs: times, medianBlocks: Number.NaN, error: errorMessage(err) };
  } finally {
    await client.query('ROLLBACK').catch(() => {});
  }
  return { medianMs: Math.round(median(times) * 1000) / 1000, runs: times, medianBlocks: median(blocks) };
}
