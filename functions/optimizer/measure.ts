import type pg from 'pg';
import { quoteIdent, quoteQualified } from '../db/identifiers.ts';
import { errorMessage } from '../errors.ts';
import type { ParamContext } from './access.ts';
import { repairNormalizedText } from './analyze.ts';
import type { WorkloadStatement } from './workload.ts';

/**
 * Measured latency: statements executed (under EXPLAIN ANALYZE, so the measurement stays out of the
 * workload's top-level statistics) with their literal example, or with parameter values sampled from
 * the table's own rows where the role of each $n is known.
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
      return { sql: s.example.sql, params: s.example.params ?? [], source: 'example' };
    }
  }
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
): Promise<LatencyMeasurement> {
  const times: number[] = [];
  const blocks: number[] = [];
  try {
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
  }
  return { medianMs: Math.round(median(times) * 1000) / 1000, runs: times, medianBlocks: median(blocks) };
}
