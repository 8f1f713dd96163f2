import type pg from 'pg';
import { quoteIdent } from '../db/identifiers.ts';
import { errorMessage } from '../errors.ts';
import { SAMPLER_COMMENT } from './own-statements.ts';
import type { PrunedStatement, RelationName, StatementSummary } from './snapshot.ts';
import { loadStatementParser, repairNormalizedText, shapeOf } from './statement-shape.ts';

/**
 * Partition pruning effectiveness, the design's KPI no common exporter measures: for the top
 * statements that touch a partition set, the share of the set's partitions their generic plan scans.
 *
 * pg_stat_statements keeps statements with their constants as $n, so the plan a statement gets with
 * unknown values is its generic plan. It is built the same way on every version: PREPARE under
 * plan_cache_mode = force_generic_plan, then EXPLAIN EXECUTE with every parameter NULL. EXPLAIN does
 * not run the statement, but it does the executor-startup pruning: partitions excluded by stable
 * expressions (now() - interval '30 days') are removed, and where the partition key is compared with a
 * parameter every partition is removed (nothing equals NULL), which shows that run-time pruning narrows
 * the scan to the partitions the values select (counted as one). EXPLAIN (GENERIC_PLAN) of 16+ was
 * tried and not used: it skips executor-startup pruning, so it lists every partition of
 * `created_at > $1`, whether the statement prunes or not.
 */

export interface PruningSet {
  parent: RelationName;
  /** Leaf partitions as [schema, name]. */
  leaves: Array<[string, string]> | string[];
  partitions: number;
}

export interface PruningCandidate {
  queryId: string;
  /** The full normalized text. */
  text: string;
  summary: StatementSummary;
}

export interface PruningMeasurement {
  statements: PrunedStatement[];
  skipped: Array<{ queryId: string; reason: string }>;
  roundTrips: number;
}

const EXPLAINABLE = new Set(['select', 'update', 'delete', 'merge']);
const STATEMENT_NAME = 'dgm_sampler_pruning';

/**
 * Explains the first `limit` candidates that touch a set (one round trip each) and counts the
 * partitions their plans scan.
 */
export async function measurePruning(
  client: pg.Client,
  candidates: readonly PruningCandidate[],
  sets: readonly PruningSet[],
  limit = 10,
): Promise<PruningMeasurement> {
  const out: PruningMeasurement = { statements: [], skipped: [], roundTrips: 0 };
  const relevant = candidates
    .filter((c) => EXPLAINABLE.has(c.summary.operation))
    .map((c) => ({ c, touched: sets.filter((s) => c.summary.tables.some((t) => sameTable(t, s.parent))) }))
    .filter((x) => x.touched.length > 0)
    .slice(0, limit);
  if (relevant.length === 0) return out;
  await loadStatementParser();
  for (const { c, touched } of relevant) {
    // pg_stat_statements writes `interval '1 day'` as `interval $1`, which the server does not parse.
    const text = repairNormalizedText(c.text);
    const shape = shapeOf(text);
    if (shape.error || shape.statementCount !== 1 || !EXPLAINABLE.has(shape.operation)) {
      out.skipped.push({
        queryId: c.queryId,
        reason: shape.error ?? 'not a single SELECT/UPDATE/DELETE/MERGE',
      });
      continue;
    }
    const name = quoteIdent(STATEMENT_NAME);
    const args =
      shape.paramCount > 0 ? `(${Array.from({ length: shape.paramCount }, () => 'NULL').join(', ')})` : '';
    // One simple-protocol round trip; the text was checked above to be exactly one statement.
    // The marker comment keeps these statements out of the sampler's own workload figures. It goes
    // inside each statement: pg_stat_statements keeps a statement's text from its first token on (18).
    const sql = [
      `SET LOCAL ${SAMPLER_COMMENT} plan_cache_mode = force_generic_plan`,
      `PREPARE ${SAMPLER_COMMENT} ${name} AS ${text}`,
      `EXPLAIN ${SAMPLER_COMMENT} (FORMAT JSON, VERBOSE) EXECUTE ${name}${args}`,
      `DEALLOCATE ${SAMPLER_COMMENT} ${name}`,
    ].join(';\n');
    let plan: unknown;
    try {
      out.roundTrips++;
      const results = (await client.query(sql)) as unknown as pg.QueryResult[];
      const explain = results.find((r) => r.fields?.some((f) => f.name === 'QUERY PLAN'));
      plan = explain?.rows[0]?.['QUERY PLAN'];
      if (typeof plan === 'string') plan = JSON.parse(plan);
    } catch (err) {
      out.roundTrips++;
      await client.query(`DEALLOCATE ${SAMPLER_COMMENT} ${name}`).catch(() => {});
      out.skipped.push({ queryId: c.queryId, reason: errorMessage(err) });
      continue;
    }
    const root = (Array.isArray(plan) ? plan[0] : plan) as { Plan?: PlanNode } | undefined;
    if (!root?.Plan) {
      out.skipped.push({ queryId: c.queryId, reason: 'EXPLAIN gave no plan' });
      continue;
    }
    for (const counted of countPartitions(root.Plan, touched)) {
      out.statements.push({
        queryId: c.queryId,
        parent: counted.set.parent,
        normalized: c.summary.normalized,
        partitionsScanned: counted.scanned,
        partitionsTotal: counted.set.partitions,
        subplansRemoved: counted.removed,
        parameterPruning: counted.scanned === 0 && counted.removed > 0,
        scannedShare: shareOf(counted.scanned, counted.removed, counted.set.partitions),
      });
    }
  }
  return out;
}

export interface PlanNode {
  'Node Type'?: string;
  'Relation Name'?: string;
  Schema?: string;
  'Subplans Removed'?: number;
  Plans?: PlanNode[];
}

/**
 * Per touched set: distinct leaf partitions the plan scans and the subplans executor-startup pruning
 * removed. A removal is attributed to the set whose leaves the Append still holds, else (nothing left)
 * to the only set the statement touches.
 */
export function countPartitions(
  plan: PlanNode,
  touched: readonly PruningSet[],
): Array<{ set: PruningSet; scanned: number; removed: number }> {
  const leafOwner = new Map<string, number>();
  touched.forEach((s, i) => {
    for (const leaf of s.leaves) {
      const [schema, name] = Array.isArray(leaf) ? leaf : splitQualified(leaf);
      leafOwner.set(`${schema}\u0000${name}`, i);
    }
  });
  const scanned = touched.map(() => new Set<string>());
  const removed = touched.map(() => 0);
  const visit = (node: PlanNode): Set<number> => {
    const owners = new Set<number>();
    if (node['Relation Name'] !== undefined) {
      const key = `${node.Schema ?? ''}\u0000${node['Relation Name']}`;
      const owner = leafOwner.get(key);
      if (owner !== undefined) {
        scanned[owner]!.add(key);
        owners.add(owner);
      }
    }
    for (const child of node.Plans ?? []) for (const o of visit(child)) owners.add(o);
    const gone = node['Subplans Removed'] ?? 0;
    if (gone > 0) {
      const target =
        owners.size === 1 ? [...owners][0] : owners.size === 0 && touched.length === 1 ? 0 : undefined;
      if (target !== undefined) removed[target]! += gone;
    }
    return owners;
  };
  visit(plan);
  return touched.map((set, i) => ({ set, scanned: scanned[i]!.size, removed: removed[i]! }));
}

/** Scanned partitions over all; a set pruned entirely by parameters counts as one partition scanned. */
export function shareOf(scanned: number, removed: number, total: number): number {
  if (total <= 0) return 0;
  const effective = scanned === 0 && removed > 0 ? 1 : scanned;
  return Math.round((Math.min(effective, total) / total) * 10_000) / 10_000;
}

function sameTable(t: RelationName, parent: RelationName): boolean {
  return t.name === parent.name && (t.schema === '' || t.schema === parent.schema);
}

function splitQualified(q: string): [string, string] {
  const i = q.indexOf('.');
  return i < 0 ? ['', q] : [q.slice(0, i), q.slice(i + 1)];
}
