import type pg from 'pg';
import { indexesUsed } from '../../functions/db/explain.ts';
import { designIndexes } from '../../functions/demo/design-indexes.ts';
import { REFERENCE_QUERIES } from '../../functions/demo/reference-queries.ts';
import { loadDemoWorkload } from '../../functions/demo/workload.ts';
import { BadInputError } from '../../functions/errors.ts';
import * as alertsCli from './alerts.ts';
import { table } from './format.ts';
import * as maintainCli from './maintain.ts';
import * as optimizeCli from './optimize.ts';
import { progressBar, stepLogger } from './progress.ts';
import * as sampleCli from './sample.ts';
import type { Command, CommandContext } from './types.ts';

type DemoStep = (
  client: pg.Client,
  ctx: { config: CommandContext['config']; logger: CommandContext['logger'] },
) => Promise<string>;

/** A later issue's demo step, when its command file exports one. */
function step(module: Record<string, unknown>, name: string): DemoStep | undefined {
  const fn = module[name];
  return typeof fn === 'function' ? (fn as DemoStep) : undefined;
}

async function schemaSummary(client: pg.Client): Promise<string> {
  const { rows: sets } = await client.query<{
    parent: string;
    partitions: string;
    leaves: string;
    rows: string;
    size: string;
    in_default: string;
  }>(
    `SELECT c.parent_table AS parent,
            count(*) FILTER (WHERE s.level = 1 AND NOT s.is_default) AS partitions,
            count(*) FILTER (WHERE s.is_leaf) AS leaves,
            sum(s.estimated_rows) FILTER (WHERE s.is_leaf) AS rows,
            pg_size_pretty(sum(s.total_bytes) FILTER (WHERE s.is_leaf)) AS size,
            sum(s.estimated_rows) FILTER (WHERE s.is_default) AS in_default
     FROM dgm.partition_config c
     JOIN dgm.partition_sizes s ON format('%I.%I', s.parent_schema, s.parent_table) = c.parent_table
     GROUP BY 1 ORDER BY 1`,
  );
  const { rows: plain } = await client.query<{ name: string; rows: string; size: string }>(
    `SELECT format('%I.%I', schemaname, relname) AS name, n_live_tup AS rows,
            pg_size_pretty(pg_total_relation_size(relid)) AS size
     FROM pg_stat_user_tables WHERE schemaname = 'dgm' AND relname IN ('workspaces', 'bandit_states') ORDER BY 1`,
  );
  const design = await designIndexes(client);
  return [
    'Schema summary (schema dgm)',
    table(
      ['partition set', 'partitions', 'leaf tables', 'rows', 'size', 'rows in default'],
      sets.map((s) => [s.parent, s.partitions, s.leaves, s.rows ?? 0, s.size ?? '0', s.in_default ?? 0]),
      { alignNumbers: true },
    ),
    table(
      ['table', 'rows', 'size'],
      plain.map((p) => [p.name, p.rows, p.size]),
      { alignNumbers: true },
    ),
    `design indexes: ${design.length} (3 composite, 3 partial, 3 GIN)`,
  ].join('\n\n');
}

async function timeReferenceQueries(client: pg.Client, runs = 5): Promise<string> {
  const rows: Array<Array<string | number>> = [];
  for (const q of REFERENCE_QUERIES) {
    const times: number[] = [];
    let count = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const res = await client.query(q.sql, q.params());
      times.push(performance.now() - t0);
      count = res.rowCount ?? 0;
    }
    times.sort((a, b) => a - b);
    const used = await indexesUsed(client, q.sql, q.params());
    rows.push([q.name, count, times[Math.floor(times.length / 2)]!.toFixed(2), used.join(', ') || '(none)']);
  }
  return [
    'Reference queries (median of 5 runs)',
    table(['query', 'rows', 'ms', 'index used'], rows, { alignNumbers: true }),
  ].join('\n\n');
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'The whole system on an embedded database: schema, 1M-row workload, reference queries, every job',
  options: { scale: { type: 'string' }, verbose: { type: 'boolean', default: false } },
  flags: {
    scale: { value: 'N', text: 'workload size, 1 = one million rows (0 < N <= 10; default 1)' },
    verbose: { text: 'print every maintenance and DDL statement (default: one line per step)' },
  },
  examples: [
    'dgm-db-ops demo',
    'dgm-db-ops demo --scale 0.1 --verbose',
    'dgm-db-ops demo --json > demo.json',
  ],
  validate(input) {
    const scale = input.values.scale === undefined ? 1 : Number(input.values.scale);
    if (!Number.isFinite(scale) || scale <= 0 || scale > 10)
      throw new BadInputError('demo: --scale must be a number in (0, 10]');
  },
  async run(ctx) {
    const scale = ctx.values.scale === undefined ? 1 : Number(ctx.values.scale);
    const started = performance.now();
    return ctx.withDatabase(async (client) => {
      const sections: string[] = [];
      // Two statements: a query naming dgm.dgm_archive fails to plan where the schema is not installed yet.
      const { rows: installed } = await client.query<{ yes: boolean }>(
        `SELECT to_regclass('dgm.dgm_archive') IS NOT NULL AS yes`,
      );
      const { rows: existing } = installed[0]?.yes
        ? await client.query<{ yes: boolean }>('SELECT EXISTS (SELECT 1 FROM dgm.dgm_archive) AS yes')
        : { rows: [{ yes: false }] };
      if (existing[0]?.yes) {
        throw new BadInputError(
          'demo: the database already holds DGM rows; run the demo on an empty database',
        );
      }
      if (ctx.flags.databaseUrl) {
        const { migrate } = await import('../../functions/jobs/migrate.ts');
        await migrate(client, ctx.config, { logger: ctx.logger });
      }
      ctx.logger.info('loading the demo workload');
      const bar = progressBar('loading');
      const load = await loadDemoWorkload(client, { scale, onProgress: bar.update }).finally(() =>
        bar.stop(),
      );
      sections.push(
        `Loaded ${load.totalRows.toLocaleString('en-US')} rows in ${(load.durationMs / 1000).toFixed(1)} s: ` +
          Object.entries(load.rows)
            .map(([t, n]) => `${t} ${n.toLocaleString('en-US')}`)
            .join(', '),
      );
      sections.push(await schemaSummary(client));
      sections.push(await timeReferenceQueries(client));
      // One line per step; each statement and action only with --verbose.
      const logger = stepLogger(ctx.logger, Boolean(ctx.values.verbose));
      const demoCtx = { config: ctx.config, logger };
      const later: Array<[string, DemoStep | undefined]> = [
        ['Sample', step(sampleCli, 'demoSample')],
        ['Maintenance', step(maintainCli, 'demoMaintain')],
        ['Alerts', step(alertsCli, 'demoAlerts')],
        ['Optimizer', step(optimizeCli, 'demoOptimize')],
      ];
      for (const [title, fn] of later) {
        if (!fn) continue;
        ctx.logger.info(`demo: ${title.toLowerCase()}`);
        sections.push(`${title}\n\n${await fn(client, demoCtx)}`);
      }
      if (logger.hidden > 0) {
        ctx.logger.info(`demo: ${logger.hidden} statement and action lines not shown (--verbose shows them)`);
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      sections.push(`Demo finished in ${seconds} s.`);
      return {
        result: {
          job: 'demo',
          status: 'succeeded',
          rows: load.rows,
          durationMs: Math.round(performance.now() - started),
        },
        text: sections.join('\n\n'),
      };
    });
  },
};
