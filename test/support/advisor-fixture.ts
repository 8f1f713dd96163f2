import type pg from 'pg';
import { dropDesignIndexes } from '../../functions/demo/design-indexes.ts';
import { REFERENCE_QUERIES } from '../../functions/demo/reference-queries.ts';
import { type AdvisorOptions, adviseIndexes } from '../../functions/optimizer/advisor.ts';
import { collectWorkload, type QueryExample } from '../../functions/optimizer/workload.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

// The index advisor's tests (integration/optimizer-advisor*.test.ts): the design's schema and reference
// query mix with the design's secondary indexes removed. Two files, so that their real builds (PostgreSQL
// 18 has no HypoPG) run on both of the pool's workers.

export const examples: QueryExample[] = REFERENCE_QUERIES.map((q) => ({
  sql: q.sql,
  params: q.params(),
  name: q.name,
  source: 'reference mix',
}));

export const options = (o: Partial<AdvisorOptions> = {}): AdvisorOptions => ({
  minCostReduction: 0.5,
  hypopg: 'auto',
  realBuildMaxBytes: 512 * 1024 * 1024,
  createExtension: true,
  statementTimeoutMs: 120_000,
  lockTimeoutMs: 2_000,
  ...o,
});

export async function runMix(client: pg.Client, times = 3): Promise<void> {
  for (let i = 0; i < times; i++) for (const q of REFERENCE_QUERIES) await client.query(q.sql, q.params());
}

export async function advise(
  client: pg.Client,
  o: Partial<AdvisorOptions> = {},
  ex: QueryExample[] = examples,
) {
  const workload = await collectWorkload(client, { maxStatements: 50, minCalls: 1, examples: ex });
  return { workload, advice: await adviseIndexes(client, workload, options(o)) };
}

export const defs = (a: Awaited<ReturnType<typeof advise>>['advice']) =>
  a.recommendations.map((r) => r.definition.replace(/"dgm_auto_[^"]+"/, 'NAME')).sort();

/** A copy of the demo at scale 0.5 without the design's indexes (returned), analyzed, the mix run 3 times. */
export async function advisorDatabase(): Promise<{
  db: TestDatabase;
  design: Array<{ name: string; definition: string }>;
}> {
  const db = await createTestDatabase({ demoScale: 0.5 });
  const design = await dropDesignIndexes(db.client);
  await db.client.query('VACUUM ANALYZE');
  await runMix(db.client);
  return { db, design };
}
