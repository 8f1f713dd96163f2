import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { errorMessage } from '../errors.ts';

export type AuditStatus = 'succeeded' | 'failed' | 'skipped' | 'refused';

export interface AuditEntry {
  action: string;
  target?: string | null;
  sql?: string | null;
  status: AuditStatus;
  durationMs?: number | null;
  error?: string | null;
  details?: Record<string, unknown>;
}

/** The audit trail of one run: every mutating action becomes a row in dgm.optimization_audit. */
export class AuditTrail {
  readonly runId = randomUUID();

  private readonly client: pg.Client;
  readonly job: string;
  readonly hash: string;

  constructor(client: pg.Client, job: string, hash: string) {
    this.client = client;
    this.job = job;
    this.hash = hash;
  }

  /** Writes one audit row. */
  async record(entry: AuditEntry): Promise<void> {
    await this.client.query(
      `INSERT INTO dgm.optimization_audit
         (run_id, job, action, target, sql, status, duration_ms, error, constitutional_hash, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        this.runId,
        this.job,
        entry.action,
        entry.target ?? null,
        entry.sql ?? null,
        entry.status,
        entry.durationMs ?? null,
        entry.error ?? null,
        this.hash,
        JSON.stringify(entry.details ?? {}),
      ],
    );
  }

  /** Runs fn, timing it, and audits its outcome; rethrows its error after auditing. */
  async timed<T>(
    action: string,
    target: string | null,
    sql: string | null,
    fn: () => Promise<T>,
  ): Promise<T> {
    const started = performance.now();
    try {
      const value = await fn();
      await this.record({
        action,
        target,
        sql,
        status: 'succeeded',
        durationMs: performance.now() - started,
      });
      return value;
    } catch (err) {
      await this.record({
        action,
        target,
        sql,
        status: 'failed',
        durationMs: performance.now() - started,
        error: errorMessage(err),
      }).catch(() => {});
      throw err;
    }
  }
}
