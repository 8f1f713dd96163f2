import type pg from 'pg';
import designIndexesSql from '../sql/demo/design_indexes.sql';

export interface DesignIndex {
  /** Qualified, quoted name (dgm."idx_..."), ready for DROP INDEX. */
  name: string;
  definition: string;
}

/** The design's secondary indexes present in the database. */
export async function designIndexes(client: pg.Client): Promise<DesignIndex[]> {
  return (await client.query<DesignIndex>(designIndexesSql)).rows;
}

/**
 * Drops the design's secondary indexes, so the optimizer has to find them from the workload (the demo's
 * optimizer step, its benchmark and tests). Returns what was dropped, definitions included.
 */
export async function dropDesignIndexes(client: pg.Client): Promise<DesignIndex[]> {
  const indexes = await designIndexes(client);
  for (const d of indexes) await client.query(`DROP INDEX ${d.name}`);
  return indexes;
}
