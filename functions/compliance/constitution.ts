import type pg from 'pg';
import { JobFailedError } from '../errors.ts';
import { ownComment } from '../monitor/own-statements.ts';

/** What every job result carries. */
export interface ConstitutionalCompliance {
  hash: string;
  validated: boolean;
  compliance_score: number;
}

export interface ConstitutionState {
  /** The hash stored in dgm.constitution, or null where the schema is not installed yet. */
  storedHash: string | null;
  /** Mean constitutional_compliance_score of the archive's last 30 days; null with no rows. */
  archiveScore: number | null;
}

/**
 * Reads the stored hash and the archive's recent compliance score in one round trip. Call it outside a
 * transaction: before `migrate` the tables do not exist and the query fails (taken as "not installed").
 */
export async function readConstitution(client: pg.Client): Promise<ConstitutionState> {
  try {
    const { rows } = await client.query<{ hash: string | null; score: number | null }>(
      `SELECT ${ownComment('compliance')} (SELECT hash FROM dgm.constitution) AS hash,
              (SELECT avg(constitutional_compliance_score) FROM dgm.dgm_archive
                WHERE created_at > now() - interval '30 days') AS score`,
    );
    return { storedHash: rows[0]?.hash ?? null, archiveScore: rows[0]?.score ?? null };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '42P01' || code === '3F000') return { storedHash: null, archiveScore: null };
    throw err;
  }
}

/**
 * The compliance of a run: validated when the configured hash equals the stored one; the score is the
 * archive's recent mean compliance (1 with no recent rows), and 0 when not validated.
 */
export function complianceOf(configuredHash: string, state: ConstitutionState): ConstitutionalCompliance {
  const validated = state.storedHash !== null && state.storedHash === configuredHash;
  const score = validated ? (state.archiveScore ?? 1) : 0;
  return { hash: configuredHash, validated, compliance_score: Math.round(score * 10_000) / 10_000 };
}

/** Raised when a mutating job meets a hash that does not match its configuration. */
export class ConstitutionMismatchError extends JobFailedError {
  override name = 'ConstitutionMismatchError';
}

/** One line explaining a mismatch. */
export function mismatchMessage(configuredHash: string, storedHash: string | null): string {
  return storedHash === null
    ? 'constitutional hash check failed: dgm.constitution is missing (run `dgm-db-ops migrate` first)'
    : `constitutional hash mismatch: configured ${configuredHash}, database has ${storedHash}; refusing to change anything`;
}
