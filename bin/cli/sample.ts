import type pg from 'pg';
import { ConsoleMetricSink } from '../../functions/adapters/local/console-metric-sink.ts';
import { REFERENCE_QUERIES } from '../../functions/demo/reference-queries.ts';
import { createInlineOptimizeLauncher } from '../../functions/jobs/governance.ts';
import { runSample, type SampleResult } from '../../functions/jobs/sample.ts';
import { runSampleCycle, type SampleCycleResult } from '../../functions/jobs/sample-cycle.ts';
import { tableLabel } from '../../functions/monitor/metrics.ts';
import type { Snapshot } from '../../functions/monitor/snapshot.ts';
import { databaseIdentity, localAlertDeps, renderAlertStep } from './alerts.ts';
import { withSamplerConnection } from './context.ts';
import { table } from './format.ts';
import type { Command, CommandContext, DemoContext } from './types.ts';

/**
 * Takes one sample on its own connection (opened with the sampler's statement and lock timeouts):
 * the sampler Lambda's cycle (functions/jobs/sample-cycle.ts) with local adapters, the metrics kept
 * instead of sent. With alerts, the rules run after the sample (file state, notifications on stderr),
 * then the governance check (a constitution change runs optimize inline; the Lambda invokes the
 * maintainer). --dry-run stores nothing (no baseline), so it evaluates no alerts and starts nothing;
 * --full collects the costly figures now.
 */
export async function sampleFromCli(
  ctx: CommandContext,
  options: { alerts?: boolean } = {},
): Promise<SampleCycleResult> {
  const cycle = options.alerts === true && !ctx.flags.dryRun;
  return withSamplerConnection(ctx, (client) =>
    runSampleCycle(
      { client },
      ctx.config,
      {
        sink: new ConsoleMetricSink(null),
        logger: ctx.logger,
        alerts: cycle ? localAlertDeps({ database: databaseIdentity(ctx.flags.databaseUrl) }) : undefined,
        launcher: cycle ? (c) => createInlineOptimizeLauncher(c, ctx.config, ctx.logger) : undefined,
      },
      { timeoutsPreset: true, full: ctx.values.full ? true : 'auto', persist: !ctx.flags.dryRun },
    ),
  );
}

export const sampleCommand: Command = {
  name: 'sample',
  summary: 'Take one database sample: KPIs, rates since the previous sample, metrics',
  usage: 'sample [--full] [--json] [--dry-run]',
  options: { full: { type: 'boolean', default: false } },
  flags: {
    full: { text: 'also collect the costly figures now (database size, bloat, archive scores, pruning)' },
  },
  examples: [
    'dgm-db-ops sample --database-url postgres://monitor@db.example.com/app',
    'dgm-db-ops sample --full --json',
  ],
  async run(ctx) {
    const result = await sampleFromCli(ctx, { alerts: true });
    const text = `${renderSample(result)}\n${renderAlertStep(result.alerts)}`;
    return { result, text, exitCode: result.status === 'failed' ? 1 : 0 };
  },
};

const fmtMs = (v: number | null | undefined) => (v == null ? '-' : `${v.toFixed(v < 10 ? 2 : 0)} ms`);
const fmtPct = (v: number | null | undefined) => (v == null ? '-' : `${(v * 100).toFixed(2)}%`);
const fmtNum = (v: number | null | undefined) =>
  v == null ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(2);

export function fmtBytes(v: number | null | undefined): string {
  if (v == null) return '-';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let x = v;
  let i = 0;
  while (Math.abs(x) >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`;
}

/** The headline KPIs of a snapshot as aligned key/value rows. */
export function renderKpis(s: Snapshot): string {
  const st = s.statements;
  const rows: string[][] = [];
  const add = (area: string, kpi: string, value: string) => rows.push([area, kpi, value]);
  if (st.available) {
    add('queries', 'average query time (interval)', fmtMs(st.avgQueryMs));
    add('queries', 'average query time (since reset)', fmtMs(st.avgQueryMsTotal));
    add('queries', 'queries per second', fmtNum(st.callsPerSecond));
    add('queries', `slow statements (mean > ${st.slowThresholdMs} ms)`, String(st.slowStatements));
    add('queries', 'statements tracked', `${st.entries}${st.max ? ` of ${st.max}` : ''}`);
  } else {
    add('queries', 'statements', st.reason);
  }
  const c = s.connections;
  add(
    'connections',
    'utilization',
    `${fmtPct(c.utilization)} (${c.total} of ${c.maxConnections - c.reservedConnections})`,
  );
  add(
    'connections',
    'active / idle / idle in transaction',
    `${c.byState.active} / ${c.byState.idle} / ${c.idleInTransaction}`,
  );
  add('connections', 'longest transaction', `${fmtNum(c.longestTransactionSeconds)} s`);
  add(
    'cache',
    'hit ratio (interval / since reset)',
    `${fmtPct(s.cache.hitRatio)} / ${fmtPct(s.cache.hitRatioTotal)}`,
  );
  add(
    'cache',
    'index hit ratio (interval / since reset)',
    `${fmtPct(s.cache.indexHitRatio)} / ${fmtPct(s.cache.indexHitRatioTotal)}`,
  );
  add(
    'locks',
    'waiting / deadlocks (interval)',
    `${s.locks.waiting} / ${fmtNum(s.locks.deadlocksInInterval)}`,
  );
  add(
    'temp',
    'files / bytes (interval)',
    `${fmtNum(s.temp.filesInInterval)} / ${fmtBytes(s.temp.bytesInInterval)}`,
  );
  add(
    'checkpoints',
    'requested / timed (interval)',
    `${fmtNum(s.checkpoints.requestedInInterval)} / ${fmtNum(s.checkpoints.timedInInterval)}`,
  );
  if (s.wal.available) add('wal', 'bytes per second', fmtBytes(s.wal.bytesPerSecond));
  add(
    'indexes',
    'total / unused / invalid',
    `${s.indexes.total} / ${s.indexes.unusedCount} (${fmtBytes(s.indexes.unusedBytes)}${s.indexes.unusedTrusted ? '' : `, stats only ${s.indexes.statsAgeDays.toFixed(1)} days old`}) / ${s.indexes.invalidCount}`,
  );
  if (s.partitions.available) {
    add(
      'partitions',
      'sets / rows in default partitions',
      `${s.partitions.sets.length} / ${s.partitions.defaultRowsTotal}`,
    );
    add('partitions', 'days ahead (least)', fmtNum(s.partitions.minAheadDays));
  }
  if (s.pruning.available) {
    add(
      'partitions',
      'pruning: worst / mean scanned share',
      `${fmtPct(s.pruning.worstScannedShare)} / ${fmtPct(s.pruning.avgScannedShare)} over ${s.pruning.statements.length} statement(s)`,
    );
  } else add('partitions', 'pruning', s.pruning.reason);
  add(
    'storage',
    'database size / dead tuples',
    `${fmtBytes(s.storage.databaseBytes)} / ${s.storage.deadTuplesTotal}`,
  );
  if (s.bloat.available)
    add(
      'storage',
      'estimated bloat (max ratio)',
      `${fmtBytes(s.bloat.estimatedBloatBytesTotal)} (${fmtPct(s.bloat.maxBloatRatio)})`,
    );
  add(
    'storage',
    'transaction ID age (of 2^31)',
    `${s.wraparound.maxXidAge} (${fmtPct(s.wraparound.wraparoundRatio)})`,
  );
  add(
    'replication',
    'role / replicas / max lag',
    `${s.replication.role} / ${s.replication.replicas.length} / ${s.replication.maxReplicaLagSeconds ?? '-'} s`,
  );
  if (s.compliance.available) {
    add(
      'compliance',
      'archive score (24 h) / critical violations',
      `${fmtNum(s.compliance.recentArchiveScore)} / ${s.compliance.criticalViolations24h}`,
    );
  } else add('compliance', 'compliance', s.compliance.reason);
  return table(['area', 'KPI', 'value'], rows);
}

/** The readable rendering of a sample result. */
export function renderSample(result: SampleResult): string {
  const s = result.snapshot;
  if (!s) return `sample ${result.status}: ${result.message ?? ''}`;
  const lines = [
    `sample of ${s.server.database} on PostgreSQL ${s.server.version} (target ${s.target}): ${result.message}`,
    s.intervalSeconds == null
      ? `rates: none in this sample (${s.baseline.reason ?? 'no baseline'})`
      : `rates over the last ${s.intervalSeconds.toFixed(1)} s`,
    '',
    renderKpis(s),
  ];
  if (s.statements.available && s.statements.byOperationTable.length > 0) {
    lines.push('', 'Duration by operation and table (top statements):');
    lines.push(
      table(
        ['operation', 'table', 'calls', 'mean'],
        s.statements.byOperationTable
          .slice(0, 8)
          .map((d) => [
            d.operation,
            tableLabel({ schema: d.schema, name: d.table }),
            String(d.calls),
            d.meanSeconds == null ? '-' : fmtMs(d.meanSeconds * 1000),
          ]),
      ),
    );
  }
  if (s.statements.available && s.statements.slowPatterns.length > 0) {
    lines.push('', `Slow statements (mean above ${s.statements.slowThresholdMs} ms):`);
    for (const p of s.statements.slowPatterns.slice(0, 5)) {
      lines.push(
        `  ${fmtMs(p.intervalMeanMs ?? p.meanMs).padStart(10)}  ${p.operation} ${tableLabel(p.mainTable)}: ${p.normalized.replace(/\s+/g, ' ').slice(0, 90)}`,
      );
    }
  }
  if (s.partitions.available && s.partitions.sets.length > 0) {
    lines.push('', 'Partition sets:');
    lines.push(
      table(
        ['set', 'partitions', 'size', 'median', 'default rows', 'days ahead'],
        s.partitions.sets.map((p) => [
          tableLabel(p.parent),
          String(p.partitions),
          fmtBytes(p.totalBytes),
          fmtBytes(p.medianBytes),
          p.defaultRows == null ? 'locked' : String(p.defaultRows),
          fmtNum(p.aheadDays),
        ]),
      ),
    );
  }
  if (s.warnings.length > 0) lines.push('', ...s.warnings.map((w) => `warning: ${w}`));
  lines.push(
    '',
    `${result.metrics.length} metrics (${result.droppedMetrics.length} over the budget of ${result.metrics.length + result.droppedMetrics.length > 0 ? 'monitoring.maxMetrics' : ''}); ${s.roundTrips} round trips, ${s.collectMs} ms.`,
  );
  return lines.join('\n');
}

/**
 * The demo's sampling step: a sample, the application's reference queries for a moment, then a second
 * sample with everything (its rates, top statements and partition pruning are about that workload).
 */
export async function demoSample(client: pg.Client, ctx: DemoContext): Promise<string> {
  const deps = { sink: new ConsoleMetricSink(null), logger: ctx.logger };
  await runSample(client, ctx.config, deps, { full: true });
  const until = Date.now() + 1_000;
  do {
    for (const q of REFERENCE_QUERIES) await client.query(q.sql, q.params());
  } while (Date.now() < until);
  const result = await runSample(client, ctx.config, deps, { full: true });
  return renderSample(result);
}
