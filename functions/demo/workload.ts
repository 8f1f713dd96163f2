import type pg from 'pg';
import { ownComment } from '../monitor/own-statements.ts';
import loadArchive from '../sql/demo/load_archive.sql';
import loadBandit from '../sql/demo/load_bandit_states.sql';
import loadCompliance from '../sql/demo/load_compliance_logs.sql';
import loadMetrics from '../sql/demo/load_performance_metrics.sql';
import loadWorkspaces from '../sql/demo/load_workspaces.sql';

export interface WorkloadOptions {
  /** 1 = about 1.03 million rows; tests use a small fraction. */
  scale?: number;
  /** Months of history for the archive and compliance logs (metrics stay within their 12-month retention). */
  months?: number;
  /** Called after each chunk with the share done (0..1) and what was loaded. */
  onProgress?: (done: number, label: string) => void;
  now?: Date;
}

export interface WorkloadResult {
  rows: Record<string, number>;
  totalRows: number;
  durationMs: number;
}

const BASE = {
  workspaces: 20_000,
  bandit_contexts: 5_000,
  bandit_arms: 10,
  dgm_archive: 210_000,
  performance_metrics: 650_000,
  compliance_logs: 100_000,
};

function addMonths(d: Date, months: number): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, d.getUTCDate(), d.getUTCHours()));
}

/**
 * Loads a synthetic but realistic DGM workload: workspaces, bandit states, and month by month the
 * archive, performance metrics and compliance logs, spread over `months` months up to now. Creates the
 * partitions first (dgm.create_partitions) so no row lands in a default partition, then VACUUMs and
 * ANALYZEs.
 */
export async function loadDemoWorkload(
  client: pg.Client,
  options: WorkloadOptions = {},
): Promise<WorkloadResult> {
  const started = performance.now();
  const scale = options.scale ?? 1;
  const months = options.months ?? 14;
  const now = options.now ?? new Date();
  const n = (x: number) => Math.max(1, Math.round(x * scale));
  const from = addMonths(now, -months);
  const metricsFrom = addMonths(now, -Math.min(months, 12));
  await client.query(`SELECT ${ownComment('demo')} dgm.create_partitions($1)`, [from]);

  const rows: Record<string, number> = {
    workspaces: 0,
    bandit_states: 0,
    dgm_archive: 0,
    performance_metrics: 0,
    compliance_logs: 0,
  };
  const total =
    n(BASE.workspaces) +
    n(BASE.bandit_contexts) * BASE.bandit_arms +
    n(BASE.dgm_archive) +
    n(BASE.performance_metrics) +
    n(BASE.compliance_logs);
  let done = 0;
  const step = async (table: string, sql: string, params: unknown[], count: number, label: string) => {
    const res = await client.query(sql, params);
    rows[table] = (rows[table] ?? 0) + (res.rowCount ?? 0);
    done += count;
    options.onProgress?.(done / total, label);
  };

  await step('workspaces', loadWorkspaces, [n(BASE.workspaces)], n(BASE.workspaces), 'workspaces');
  const contexts = n(BASE.bandit_contexts);
  await step(
    'bandit_states',
    loadBandit,
    [contexts, BASE.bandit_arms],
    contexts * BASE.bandit_arms,
    'bandit states',
  );

  const span = now.getTime() - from.getTime();
  const metricsSpan = now.getTime() - metricsFrom.getTime();
  for (let m = 0; m < months; m++) {
    const a = addMonths(from, m);
    const b = m === months - 1 ? now : addMonths(from, m + 1);
    const share = (b.getTime() - a.getTime()) / span;
    const label = a.toISOString().slice(0, 7);
    await step(
      'dgm_archive',
      loadArchive,
      [n(BASE.dgm_archive * share), a, b],
      n(BASE.dgm_archive * share),
      `archive ${label}`,
    );
    await step(
      'compliance_logs',
      loadCompliance,
      [n(BASE.compliance_logs * share), a, b],
      n(BASE.compliance_logs * share),
      `compliance ${label}`,
    );
    // Metrics only within their retention window, weighted to the same total.
    const ma = new Date(Math.max(a.getTime(), metricsFrom.getTime()));
    if (ma < b) {
      const count = n((BASE.performance_metrics * (b.getTime() - ma.getTime())) / metricsSpan);
      await step('performance_metrics', loadMetrics, [count, ma, b], count, `metrics ${label}`);
    }
  }
  // VACUUM as well, as after any bulk load: with the pages not yet all-visible, the planner's choice
  // for some reference queries (a GIN containment search) flipped between runs of the same random data.
  await client.query(
    'VACUUM (ANALYZE) dgm.workspaces, dgm.bandit_states, dgm.dgm_archive, dgm.performance_metrics, dgm.compliance_logs',
  );
  options.onProgress?.(1, 'analyzed');
  const totalRows = Object.values(rows).reduce((a, b) => a + b, 0);
  return { rows, totalRows, durationMs: Math.round(performance.now() - started) };
}
