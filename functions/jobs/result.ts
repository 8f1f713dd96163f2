import type { ConstitutionalCompliance } from '../compliance/constitution.ts';

export type JobStatus = 'succeeded' | 'failed' | 'skipped' | 'refused' | 'planned';

/** What every job returns: the same JSON the CLI prints with --json and a Lambda returns. */
export interface JobResult {
  job: string;
  status: JobStatus;
  target: string;
  durationMs: number;
  constitutional_compliance: ConstitutionalCompliance;
  /** One line for people, e.g. "skipped: another run holds the lock". */
  message?: string;
}

/** Milliseconds since `started` (a performance.now() value), rounded to 0.1 ms. */
export function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}
