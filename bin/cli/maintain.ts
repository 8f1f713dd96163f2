import type pg from 'pg';
import { BadInputError } from '../../functions/errors.ts';
import { showValue } from '../../functions/format/redact.ts';
import {
  MAINTAIN_TASKS,
  type MaintainResult,
  type MaintainTask,
  maintain,
} from '../../functions/jobs/maintain.ts';
import type { ActionResult } from '../../functions/maintenance/plan.ts';
import { MAINTENANCE_TASK_REGISTRY } from '../../functions/maintenance/registry.ts';
import type { MaintenanceTaskDefinition } from '../../functions/maintenance/task.ts';
import { ownComment } from '../../functions/monitor/own-statements.ts';
import { table } from './format.ts';
import type { Command, DemoContext } from './types.ts';

function parseTask(value: unknown): MaintainTask {
  const task = value === undefined ? 'all' : String(value);
  if (!(MAINTAIN_TASKS as readonly string[]).includes(task)) {
    throw new BadInputError(
      `maintain: --task must be one of ${MAINTAIN_TASKS.join(', ')}, got '${showValue(task)}'`,
    );
  }
  return task as MaintainTask;
}

function actionRow(a: ActionResult): string[] {
  return [
    a.status,
    a.task,
    a.kind,
    a.target,
    a.status === 'planned' ? '' : a.durationMs.toFixed(1),
    a.error ? `${a.reason}: ${a.error}` : a.reason,
  ];
}

/** The readable rendering of a maintenance result: the actions, then the findings. */
export function renderMaintainResult(result: MaintainResult, options: { showSql?: boolean } = {}): string {
  const lines = [`maintain ${result.task}${result.dryRun ? ' (dry run)' : ''}: ${result.message}`];
  if (result.actions.length > 0) {
    lines.push(
      '',
      table(['status', 'task', 'action', 'target', 'ms', 'reason'], result.actions.map(actionRow)),
    );
  }
  if (options.showSql) {
    for (const [i, a] of result.actions.entries()) {
      if (!a.sql) continue;
      lines.push('', `-- ${i + 1}. ${a.task} ${a.kind} ${a.target}`, `${a.sql};`);
    }
  }
  for (const task of MAINTENANCE_TASK_REGISTRY as readonly MaintenanceTaskDefinition[]) {
    const found = (result.findings as Record<string, unknown>)[task.name];
    if (found !== undefined && task.describeFindings) lines.push('', ...task.describeFindings(found));
  }
  return lines.join('\n');
}

const TASK_CHOICES = MAINTAIN_TASKS.join('|');

export const maintainCommand: Command = {
  name: 'maintain',
  summary: `Run maintenance: ${MAINTENANCE_TASK_REGISTRY.map((t) => `${t.name} (${t.schedule.kind})`).join(', ')}, or all`,
  usage: `maintain [--task ${TASK_CHOICES}] [--dry-run] [--json]`,
  options: { task: { type: 'string' } },
  flags: {
    task: { value: TASK_CHOICES, text: 'what to maintain (default all, in the order listed below)' },
  },
  helpDetails: () => [
    'Tasks:',
    ...MAINTENANCE_TASK_REGISTRY.map(
      (t) => `  ${t.name.padEnd(12)} ${t.schedule.kind.padEnd(8)} ${t.description}`,
    ),
  ],
  examples: [
    'dgm-db-ops maintain --dry-run',
    'dgm-db-ops maintain --task partitions',
    'dgm-db-ops maintain --task vacuum --json',
  ],
  validate(input) {
    parseTask(input.values.task);
  },
  async run(ctx) {
    const task = parseTask(ctx.values.task);
    const result = await ctx.withDatabase((client) =>
      maintain(client, ctx.config, { task, dryRun: ctx.flags.dryRun, logger: ctx.logger, reason: 'cli' }),
    );
    return {
      result,
      text: renderMaintainResult(result, { showSql: ctx.flags.dryRun }),
      exitCode: result.status === 'failed' ? 1 : 0,
    };
  },
};

/**
 * Why a run did other actions than its dry run planned, by task and kind ('' when they agree): a dry
 * run cannot see what the run's earlier steps change (the statistics of a partition it creates).
 */
export function planDifference(planned: readonly ActionResult[], done: readonly ActionResult[]): string {
  const count = (list: readonly ActionResult[]) => {
    const m = new Map<string, number>();
    for (const a of list) m.set(`${a.task} ${a.kind}`, (m.get(`${a.task} ${a.kind}`) ?? 0) + 1);
    return m;
  };
  const p = count(planned);
  const d = count(done);
  const diffs = [...new Set([...p.keys(), ...d.keys()])]
    .sort()
    .map((k) => [k, (d.get(k) ?? 0) - (p.get(k) ?? 0)] as const)
    .filter(([, n]) => n !== 0)
    .map(([k, n]) => `${k} ${n > 0 ? '+' : ''}${n}`);
  if (diffs.length === 0) return '';
  return `The run's actions differ from the dry run's plan (${diffs.join(', ')}): the dry run cannot see what the run's earlier steps change, such as the partitions it creates.`;
}

/** The demo's maintenance step: a plan, then the run, on the loaded demo database. */
export async function demoMaintain(client: pg.Client, ctx: DemoContext): Promise<string> {
  // A few late-arriving future rows land in the default partition, to show them moved without loss.
  await client.query(
    `INSERT ${ownComment('demo')} INTO dgm.performance_metrics (metric_name, metric_value, "timestamp", labels)
     SELECT 'demo.future_reading', g, date_trunc('month', now()) + interval '7 months' + g * interval '1 hour', '{"demo": true}'
     FROM generate_series(1, 240) g`,
  );
  const plan = await maintain(client, ctx.config, { task: 'all', dryRun: true, logger: ctx.logger });
  const run = await maintain(client, ctx.config, { task: 'all', logger: ctx.logger, reason: 'demo' });
  const byKind = new Map<string, { n: number; ms: number; status: Set<string> }>();
  for (const a of run.actions) {
    const k = `${a.task} ${a.kind}`;
    const e = byKind.get(k) ?? { n: 0, ms: 0, status: new Set<string>() };
    e.n++;
    e.ms += a.durationMs;
    e.status.add(a.status);
    byKind.set(k, e);
  }
  const rows = [...byKind.entries()].map(([k, e]) => [
    k,
    String(e.n),
    e.ms.toFixed(0),
    [...e.status].join(','),
  ]);
  const ix = run.findings.indexes;
  return [
    `Dry run first: ${plan.message} (nothing changed).`,
    `Then the run: ${run.message} in ${(run.durationMs / 1000).toFixed(1)} s (status ${run.status}).`,
    planDifference(plan.actions, run.actions),
    '',
    table(['action', 'count', 'ms', 'status'], rows),
    '',
    `240 readings 7 months ahead waited in the default partition; moved into their new partition: ${run.summary.rowsMoved} row(s).`,
    ix
      ? `Index health: ${ix.bloated.filter((b) => b.action === 'reindex').length} rebuilt for bloat, ${ix.unused.length} unused and ${ix.duplicates.length} duplicate index(es) reported, ${ix.invalid.length} invalid.`
      : '',
    `Every action is in dgm.optimization_audit under run ${run.runId ?? '(none)'}.`,
  ]
    .filter((l) => l !== '')
    .join('\n');
}
