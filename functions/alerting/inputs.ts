import type pg from 'pg';
import { errorMessage } from '../errors.ts';
import type { Unavailable } from '../monitor/snapshot.ts';
import maintenanceRunsSql from '../sql/queries/alert-maintenance-runs.sql';

/**
 * Figures the alert rules need beyond the sampler's Snapshot: the outcome of the latest maintenance and
 * optimizer runs, read from the audit trail (dgm.optimization_audit). One round trip.
 */

export interface MaintenanceRunSummary {
  job: string;
  runId: string;
  startedAt: string;
  endedAt: string;
  actions: number;
  failed: number;
  refused: number;
  failures: Array<{ action: string; target: string | null; status: string; error: string | null }>;
}

export interface AlertInputs {
  maintenance: { available: true; runs: MaintenanceRunSummary[] } | Unavailable;
}

/** Runs older than this are not judged: a job that has not run for a week is not "failing". */
export const MAINTENANCE_LOOKBACK_DAYS = 7;

/** Reads the latest run of each audited job; never throws (a failure makes the figure unavailable). */
export async function collectAlertInputs(client: pg.Client): Promise<AlertInputs> {
  try {
    const { rows } = await client.query<{
      job: string;
      run_id: string;
      started_at: Date;
      ended_at: Date;
      actions: number;
      failed: number;
      refused: number;
      failures: MaintenanceRunSummary['failures'];
    }>(maintenanceRunsSql, [MAINTENANCE_LOOKBACK_DAYS]);
    return {
      maintenance: {
        available: true,
        runs: rows.map((r) => ({
          job: r.job,
          runId: r.run_id,
          startedAt: r.started_at.toISOString(),
          endedAt: r.ended_at.toISOString(),
          actions: r.actions,
          failed: r.failed,
          refused: r.refused,
          failures: r.failures,
        })),
      },
    };
  } catch (err) {
    const code = (err as { code?: string }).code;
    const reason =
      code === '42P01' || code === '3F000'
        ? 'the DGM schema is not installed (run `dgm-db-ops migrate`)'
        : `audit trail unreadable: ${errorMessage(err)}`;
    return { maintenance: { available: false, reason } };
  }
}
