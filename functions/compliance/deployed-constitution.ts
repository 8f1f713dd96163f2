import type pg from 'pg';
import { inTransaction } from '../db/connection.ts';
import adoptSql from '../sql/queries/adopt-deployed-constitution.sql';
import { AuditTrail } from './audit.ts';

export type DeployedConstitutionChange =
  | 'adopted'
  | 'already current'
  | 'not installed'
  | 'changed outside the deployment';

/**
 * A deploy that changes the configured constitutional hash changes the constitution: when the database
 * still holds the hash of the previous deploy, it takes the new one (the trigger of migration 007
 * records the governance event, and the next sample starts an optimize run for it) and the change is
 * audited. A database holding any other hash was changed outside the deployment: nothing is touched,
 * and migrate refuses as for any mismatch.
 */
export async function adoptDeployedConstitution(
  client: pg.Client,
  previousHash: string,
  newHash: string,
): Promise<DeployedConstitutionChange> {
  return inTransaction(client, async () => {
    const installed = await client.query<{ t: string | null }>(
      `SELECT to_regclass('dgm.constitution')::text AS t`,
    );
    if (installed.rows[0]?.t == null) return 'not installed';
    const { rows } = await client.query<{ stored_hash: string | null; adopted: boolean }>(adoptSql, [
      newHash,
      previousHash,
    ]);
    const stored = rows[0]?.stored_hash;
    if (stored === newHash) return 'already current';
    if (!rows[0]?.adopted) return 'changed outside the deployment';
    await new AuditTrail(client, 'migrate', newHash).record({
      action: 'constitution_change',
      target: 'dgm.constitution',
      status: 'succeeded',
      details: { old_hash: previousHash, new_hash: newHash, source: 'deploy' },
    });
    return 'adopted';
  });
}
