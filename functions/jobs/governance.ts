import type pg from 'pg';
import { AuditTrail } from '../compliance/audit.ts';
import { mismatchMessage } from '../compliance/constitution.ts';
import type { RuntimeConfig } from '../config.ts';
import { errorMessage } from '../errors.ts';
import { SAMPLER_COMMENT } from '../monitor/own-statements.ts';
import { captureQuerySamples } from '../optimizer/workload.ts';
import type { JobLauncher, Logger } from '../ports.ts';
import { optimizeDatabase } from './optimize.ts';

export { completeGovernanceEvents } from '../optimizer/governance-events.ts';

/**
 * The design's "automatic optimization on constitutional changes". A change of dgm.constitution's hash
 * (by a DBA or a deploy) is recorded by a trigger as a governance event; the sampler's run calls
 * checkGovernance, which starts an optimize run for the newest pending event through a JobLauncher
 * (an async invoke of the maintainer in AWS, the job inline in the CLI). The launched run is validated
 * against the new hash like any mutating job: while the deployed configuration does not carry the new
 * hash, nothing is launched, and the refusal is audited once.
 */

export interface GovernanceEventOutcome {
  id: number;
  old_hash: string | null;
  new_hash: string;
  changed_by: string;
  changed_at: string;
  action: 'launched' | 'refused' | 'superseded' | 'relaunched' | 'launch_failed';
  detail?: string;
}

export interface GovernanceCheckResult {
  events: GovernanceEventOutcome[];
  launched: number;
  refused: number;
}

interface EventRow {
  id: string;
  old_hash: string | null;
  new_hash: string;
  changed_by: string;
  changed_at: Date;
  status: string;
  attempts: number;
  refused_at: Date | null;
  launched_at: Date | null;
}

/** A launched run that never reported back is launched again after this long. */
const RELAUNCH_AFTER_MS = 60 * 60 * 1000;
const MAX_ATTEMPTS = 5;

/** Sees pending governance events and launches an optimize run for the newest one. */
export async function checkGovernance(
  client: pg.Client,
  config: RuntimeConfig,
  launcher: JobLauncher,
  logger?: Logger,
): Promise<GovernanceCheckResult> {
  const result: GovernanceCheckResult = { events: [], launched: 0, refused: 0 };
  const outcome = (e: EventRow, action: GovernanceEventOutcome['action'], detail?: string) =>
    result.events.push({
      id: Number(e.id),
      old_hash: e.old_hash,
      new_hash: e.new_hash,
      changed_by: e.changed_by,
      changed_at: new Date(e.changed_at).toISOString(),
      action,
      detail,
    });

  // The quiet case, every minute: one round trip.
  try {
    const { rows } = await client.query<{ any: boolean }>(
      `SELECT ${SAMPLER_COMMENT} EXISTS (SELECT 1 FROM dgm.governance_events WHERE status IN ('pending', 'launched')) AS any`,
    );
    if (!rows[0]?.any) return result;
  } catch (err) {
    // Before migration 007 there are no governance events to see.
    if ((err as { code?: string }).code === '42P01') return result;
    throw err;
  }
  // Claim in a short transaction (SKIP LOCKED: two sampler runs never launch the same event), launch
  // after the commit: an inline launcher runs a whole optimize job, which opens its own transactions.
  let claimed: EventRow | undefined;
  await client.query('BEGIN');
  try {
    let rows: EventRow[];
    try {
      ({ rows } = await client.query<EventRow>(
        `SELECT id, old_hash, new_hash, changed_by, changed_at, status, attempts, refused_at, launched_at
         FROM dgm.governance_events WHERE status IN ('pending', 'launched')
         ORDER BY id FOR UPDATE SKIP LOCKED`,
      ));
    } catch (err) {
      // Before migration 007 there are no governance events to see.
      if ((err as { code?: string }).code === '42P01') {
        await client.query('ROLLBACK');
        return result;
      }
      throw err;
    }
    const newest = rows[rows.length - 1];
    for (const e of rows.slice(0, -1)) {
      // Only the newest change counts: the hash it set is the one in force.
      await client.query(
        `UPDATE dgm.governance_events SET status = 'ignored', detail = detail || jsonb_build_object('superseded_by', $2::bigint) WHERE id = $1`,
        [e.id, newest!.id],
      );
      outcome(e, 'superseded', `superseded by event ${newest!.id}`);
    }
    if (newest) {
      const stale =
        newest.status === 'launched' &&
        newest.launched_at !== null &&
        Date.now() - new Date(newest.launched_at).getTime() > RELAUNCH_AFTER_MS;
      if (newest.status === 'launched' && !stale) {
        // Launched and still within its time: nothing to do.
      } else if (newest.new_hash !== config.constitutionalHash) {
        const message = mismatchMessage(config.constitutionalHash, newest.new_hash);
        if (!newest.refused_at) {
          await new AuditTrail(client, 'governance', config.constitutionalHash).record({
            action: 'governance_check',
            target: `dgm.governance_events/${newest.id}`,
            status: 'refused',
            error: message,
            details: { event: Number(newest.id), old_hash: newest.old_hash, new_hash: newest.new_hash },
          });
          await client.query(`UPDATE dgm.governance_events SET refused_at = now() WHERE id = $1`, [
            newest.id,
          ]);
        }
        outcome(newest, 'refused', message);
        result.refused++;
      } else if (newest.attempts >= MAX_ATTEMPTS) {
        await client.query(
          `UPDATE dgm.governance_events SET status = 'failed', detail = detail || '{"error": "too many launch attempts"}' WHERE id = $1`,
          [newest.id],
        );
      } else {
        await client.query(
          `UPDATE dgm.governance_events SET status = 'launched', launched_at = now(), attempts = attempts + 1 WHERE id = $1`,
          [newest.id],
        );
        claimed = newest;
      }
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  if (!claimed) return result;

  const wasStale = claimed.status === 'launched';
  try {
    const launch = await launcher.launch({
      task: 'optimize',
      target: config.target,
      reason: `governance:${claimed.id}`,
    });
    if (!launch.launched) throw new Error('the launcher did not start the run');
    await new AuditTrail(client, 'governance', config.constitutionalHash).record({
      action: 'launch_optimize',
      target: `dgm.governance_events/${claimed.id}`,
      status: 'succeeded',
      details: { event: Number(claimed.id), new_hash: claimed.new_hash, relaunch: wasStale },
    });
    logger?.info(`governance: constitutional hash changed to ${claimed.new_hash}; optimize launched`);
    outcome(claimed, wasStale ? 'relaunched' : 'launched');
    result.launched++;
  } catch (err) {
    const message = errorMessage(err);
    await client.query(
      `UPDATE dgm.governance_events SET status = 'pending', detail = detail || jsonb_build_object('last_error', $2::text) WHERE id = $1`,
      [claimed.id, message],
    );
    await new AuditTrail(client, 'governance', config.constitutionalHash)
      .record({
        action: 'launch_optimize',
        target: `dgm.governance_events/${claimed.id}`,
        status: 'failed',
        error: message,
      })
      .catch(() => {});
    logger?.warn(`governance: could not launch optimize: ${message}`);
    outcome(claimed, 'launch_failed', message);
  }
  return result;
}

/**
 * The CLI's launcher: runs the optimize job inline, on the same connection, with the maintenance
 * statement timeout for its duration (the sampler's connection has a short one).
 */
export function createInlineOptimizeLauncher(
  client: pg.Client,
  config: RuntimeConfig,
  logger?: Logger,
): JobLauncher {
  return {
    async launch(event) {
      if (event.task !== 'optimize') {
        return { launched: false, detail: `inline launcher runs optimize only, not ${event.task}` };
      }
      const { rows } = await client.query<{ st: string }>(
        `SELECT setting AS st FROM pg_settings WHERE name = 'statement_timeout'`,
      );
      await client.query(`SELECT set_config('statement_timeout', $1, false)`, [
        String(config.maintenance.statementTimeoutMs),
      ]);
      try {
        const result = await optimizeDatabase(client, config, {
          reason: event.reason,
          dryRun: event.dryRun,
          logger,
        });
        return {
          launched: true,
          detail: { status: result.status, message: result.message, runId: result.runId },
        };
      } finally {
        await client
          .query(`SELECT set_config('statement_timeout', $1, false)`, [rows[0]?.st ?? '0'])
          .catch(() => {});
      }
    },
  };
}

export interface GovernanceAfterSample extends GovernanceCheckResult {
  /** Literal statement samples recorded from pg_stat_activity. */
  samples: number;
  error?: string;
}

/**
 * The sampler's step after alerting: record literal samples of running statements (for partial-index
 * advice), then the governance check. Never throws: a sample must not fail because of it.
 */
export async function governanceAfterSample(
  client: pg.Client,
  config: RuntimeConfig,
  launcher: JobLauncher,
  logger?: Logger,
): Promise<GovernanceAfterSample> {
  let samples = 0;
  try {
    if (config.optimization.captureQuerySamples) samples = await captureQuerySamples(client);
  } catch (err) {
    logger?.warn(`query samples not recorded: ${errorMessage(err)}`);
  }
  try {
    return { ...(await checkGovernance(client, config, launcher, logger)), samples };
  } catch (err) {
    const error = errorMessage(err);
    logger?.warn(`governance check failed: ${error}`);
    return { events: [], launched: 0, refused: 0, samples, error };
  }
}
