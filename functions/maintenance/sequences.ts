import { z } from 'zod';
import type { MaintenanceAction } from './plan.ts';
import type { MaintenanceTaskDefinition } from './task.ts';

/**
 * Sequences running out (daily): a sequence stops at its maximum, and the column it feeds stops earlier
 * when its type is narrower (a bigint sequence behind an integer column fails at 2^31 - 1). Widening takes
 * a table rewrite, so it is a person's decision: a sequence past the configured share of its range is
 * reported as a problem (a failed action, which the maintenance_failed alert carries), never changed.
 */

/** One sequence in the schemas looked after, with the limit its owning column puts on it. */
export interface SequenceRow {
  sequence: string;
  /** The owning column (serial or identity), qualified; null for a free-standing sequence. */
  column: string | null;
  column_type: string | null;
  /** The share of the usable range already used, 0..1 (null: never used, or not readable). */
  used: number | null;
}

const SEQUENCES_SQL = `
SELECT format('%I.%I', s.schemaname, s.sequencename) AS sequence,
       CASE WHEN a.attname IS NOT NULL THEN format('%I.%I.%I', tn.nspname, t.relname, a.attname) END AS column,
       format_type(a.atttypid, NULL) AS column_type,
       CASE WHEN s.last_value IS NULL OR s.cycle THEN NULL
            WHEN s.increment_by > 0 THEN
              (s.last_value::numeric - s.min_value) / nullif(least(s.max_value::numeric, lim.hi) - s.min_value, 0)
            ELSE
              (s.max_value::numeric - s.last_value) / nullif(s.max_value - greatest(s.min_value::numeric, -lim.hi - 1), 0)
       END::float8 AS used
FROM pg_sequences s
JOIN pg_class c ON c.relname = s.sequencename
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class t ON t.oid = d.refobjid
LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
CROSS JOIN LATERAL (SELECT CASE a.atttypid WHEN 'int2'::regtype THEN 32767::numeric
                                           WHEN 'int4'::regtype THEN 2147483647::numeric
                                           ELSE 9223372036854775807::numeric END AS hi) lim
WHERE s.schemaname = ANY($1::text[])
ORDER BY 1`;

/** The sequences task's part of the maintenance config. */
export const SEQUENCES_CONFIG = {
  /** A sequence (or the column it feeds) that has used this share of its range is reported. */
  sequenceUsedRatio: z.number().gt(0).max(1).default(0.75),
};

export interface SequenceFindings {
  checked: number;
  /** The sequence closest to its limit, and the share of its range used. */
  mostUsed?: { sequence: string; used: number };
}

/** Plans the sequences task from the rows; pure. */
export function planSequences(
  rows: SequenceRow[],
  config: { sequenceUsedRatio: number },
): { actions: MaintenanceAction[]; findings: SequenceFindings } {
  const actions: MaintenanceAction[] = [];
  let mostUsed: SequenceFindings['mostUsed'];
  for (const r of rows) {
    if (r.used === null) continue;
    if (!mostUsed || r.used > mostUsed.used) mostUsed = { sequence: r.sequence, used: r.used };
    if (r.used < config.sequenceUsedRatio) continue;
    const pct = `${(r.used * 100).toFixed(1)}%`;
    const feeds = r.column ? ` (it feeds ${r.column}, ${r.column_type})` : '';
    actions.push({
      task: 'sequences',
      kind: 'sequence_running_out',
      target: r.sequence,
      reason: `${pct} of its range used${feeds}`,
      statements: [],
      mode: 'transaction',
      problem: `${r.sequence} has used ${pct} of its range${feeds}: widen it to bigint (ALTER TABLE ... ALTER COLUMN ... TYPE bigint, ALTER SEQUENCE ... AS bigint) before it runs out`,
      details: { used: r.used, ...(r.column ? { column: r.column, column_type: r.column_type } : {}) },
    });
  }
  return { actions, findings: { checked: rows.length, ...(mostUsed ? { mostUsed } : {}) } };
}

export const sequencesTask: MaintenanceTaskDefinition<
  'sequences',
  typeof SEQUENCES_CONFIG,
  SequenceFindings
> = {
  name: 'sequences',
  description: 'report sequences (and the integer columns they feed) close to running out',
  schedule: { kind: 'daily', expression: 'cron(45 0 * * ? *)' },
  config: SEQUENCES_CONFIG,
  async plan({ client, settings }) {
    const { rows } = await client.query<SequenceRow>(SEQUENCES_SQL, [settings.schemas]);
    return planSequences(rows, settings);
  },
  describeFindings: (f) => [
    `sequences: ${f.checked} checked${f.mostUsed ? `; the most used, ${f.mostUsed.sequence}, at ${(f.mostUsed.used * 100).toFixed(2)}% of its range` : ''}`,
  ],
};
