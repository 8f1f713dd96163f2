import type pg from 'pg';

/** Marks the governance events an optimize run answered (same hash), with the run that did. */
export async function completeGovernanceEvents(
  client: pg.Client,
  runId: string,
  hash: string,
  status: string,
): Promise<number> {
  try {
    const { rowCount } = await client.query(
      `UPDATE dgm.governance_events
       SET status = 'completed', completed_at = now(), run_id = $1,
           detail = detail || jsonb_build_object('run_status', $3::text)
       WHERE status IN ('pending', 'launched') AND new_hash = $2`,
      [runId, hash, status],
    );
    return rowCount ?? 0;
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return 0;
    throw err;
  }
}
