import type pg from 'pg';
import { AuditTrail } from './audit.ts';
import {
  type ConstitutionalCompliance,
  ConstitutionMismatchError,
  complianceOf,
  mismatchMessage,
  readConstitution,
} from './constitution.ts';

export interface MutatingRun {
  audit: AuditTrail;
  compliance: ConstitutionalCompliance;
}

/**
 * The gate before any mutating job: checks the configured hash against dgm.constitution. On a mismatch
 * it writes one 'refused' audit row (when the audit table exists) and throws; nothing else changes.
 */
export async function beginMutatingRun(
  client: pg.Client,
  job: string,
  configuredHash: string,
): Promise<MutatingRun> {
  const state = await readConstitution(client);
  const compliance = complianceOf(configuredHash, state);
  const audit = new AuditTrail(client, job, configuredHash);
  if (!compliance.validated) {
    const message = mismatchMessage(configuredHash, state.storedHash);
    if (state.storedHash !== null) {
      await audit.record({
        action: 'constitution_check',
        target: 'dgm.constitution',
        status: 'refused',
        error: message,
        details: { configured_hash: configuredHash, stored_hash: state.storedHash },
      });
    }
    throw new ConstitutionMismatchError(message, {
      status: 'refused',
      constitutional_compliance: compliance,
    });
  }
  return { audit, compliance };
}

/** The compliance figure for read-only jobs (sample, report): never refuses, reports validated=false. */
export async function readOnlyCompliance(
  client: pg.Client,
  configuredHash: string,
): Promise<ConstitutionalCompliance> {
  return complianceOf(configuredHash, await readConstitution(client));
}
