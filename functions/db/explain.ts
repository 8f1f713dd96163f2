import type pg from 'pg';

interface PlanNode {
  'Index Name'?: string;
  Plans?: PlanNode[];
  [key: string]: unknown;
}

function collectIndexNames(node: PlanNode, out: Set<string>): void {
  if (node['Index Name']) out.add(node['Index Name']);
  for (const child of node.Plans ?? []) collectIndexNames(child, out);
}

/**
 * The indexes a statement's plan uses, named by their root: a partition's index is reported as the
 * partitioned index it belongs to (e.g. idx_dgm_archive_metadata_gin, not dgm_archive_y2025m10_..._idx).
 */
export async function indexesUsed(client: pg.Client, sql: string, params: unknown[] = []): Promise<string[]> {
  const { rows } = await client.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
    `EXPLAIN (FORMAT JSON) ${sql}`,
    params,
  );
  const leaves = new Set<string>();
  const plan = rows[0]?.['QUERY PLAN'][0]?.Plan;
  if (plan) collectIndexNames(plan, leaves);
  if (leaves.size === 0) return [];
  const { rows: roots } = await client.query<{ root: string }>(
    `SELECT DISTINCT r.relname AS root
     FROM pg_class c JOIN pg_class r ON r.oid = coalesce(pg_partition_root(c.oid), c.oid)
     WHERE c.relkind IN ('i', 'I') AND c.relname = ANY($1)
     ORDER BY 1`,
    [[...leaves]],
  );
  return roots.map((r) => r.root);
}
