import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import { ConsoleMetricSink } from '../../functions/adapters/local/console-metric-sink.ts';
import { ConsoleNotifier } from '../../functions/adapters/local/console-notifier.ts';
import { FileAlertStateStore } from '../../functions/adapters/local/file-alert-store.ts';
import { renderPrometheus } from '../../functions/adapters/local/prometheus.ts';
import { alertDocumentKey, readAlertDocument } from '../../functions/alerting/claim-loop.ts';
import {
  type AlertEvaluation,
  type AlertView,
  activeAlerts,
  alertViews,
} from '../../functions/alerting/evaluation.ts';
import { ALERT_METRIC_SPECS, alertMetricPoints } from '../../functions/alerting/metrics.ts';
import { formatTime, formatValue } from '../../functions/alerting/render.ts';
import { resolveRules } from '../../functions/alerting/rules.ts';
import { beginMutatingRun } from '../../functions/compliance/guard.ts';
import { parseConfig, type RuntimeConfig } from '../../functions/config.ts';
import { quoteQualified } from '../../functions/db/identifiers.ts';
import { BadInputError } from '../../functions/errors.ts';
import { showValue } from '../../functions/format/redact.ts';
import { alertAfterSample, type SampleAlertOutcome } from '../../functions/jobs/alert.ts';
import { indexChanges, optimizeDatabase } from '../../functions/jobs/optimize.ts';
import { runSample, type SampleResult } from '../../functions/jobs/sample.ts';
import type { AlertStateStore, Logger, Severity } from '../../functions/ports.ts';
import { withSamplerConnection } from './context.ts';
import { table } from './format.ts';
import type { Command, CommandContext, DemoContext } from './types.ts';

/**
 * `dgm-db-ops alerts`: the alerts of the target and their state, from the file-backed state store the
 * CLI's samples write (.dgm-db-ops/alerts). `sample` evaluates alerts after each sample; notifications
 * go to stderr as the email and the Slack message would read.
 */

/** Where the CLI keeps alert state, relative to the working directory. */
export const DEFAULT_STATE_DIR = join('.dgm-db-ops', 'alerts');

/**
 * Whose alert state it is: the database's host, port and name (never the user or password), or
 * `embedded` for the CLI's throwaway server. The target name alone is `local` for every URL.
 */
export function databaseIdentity(url: string | undefined): string {
  if (!url) return 'embedded';
  const u = new URL(url);
  // libpq's defaults; a unix socket directory may come as ?host=.
  const host = (u.hostname || u.searchParams.get('host') || 'localhost').toLowerCase();
  const port = u.port || u.searchParams.get('port') || '5432';
  const database =
    decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres';
  return `${host}:${port}/${database}`;
}

/**
 * The CLI's alert adapters: the file store (its state kept per database) and the console notifier
 * (stderr unless told otherwise).
 */
export function localAlertDeps(options: {
  database: string;
  stateDir?: string;
  write?: (text: string) => void;
}) {
  return {
    store: new FileAlertStateStore(
      resolve(options.stateDir ?? DEFAULT_STATE_DIR),
      Date.now,
      options.database,
    ),
    notifier: new ConsoleNotifier(options.write),
  };
}

/**
 * The alert step of a CLI sample (the Lambda's twin): rules over the sample, state in the file store,
 * notifications on stderr. --dry-run changes nothing, so it evaluates no alerts.
 */
export async function alertsForCliSample(
  ctx: Pick<CommandContext, 'config' | 'logger' | 'flags'>,
  client: pg.Client,
  result: SampleResult,
  stateDir?: string,
): Promise<SampleAlertOutcome | undefined> {
  if (ctx.flags.dryRun) return undefined;
  return alertAfterSample(
    {
      ...localAlertDeps({ stateDir, database: databaseIdentity(ctx.flags.databaseUrl) }),
      logger: ctx.logger,
    },
    { config: ctx.config, client, snapshot: result.snapshot, error: result.message },
  );
}

export interface AlertListing {
  target: string;
  lastSampleAt: string | null;
  alerts: AlertView[];
  /** The design's get_monitoring_report()['active_alerts']. */
  active_alerts: AlertView[];
  /** Alerts notified since the state was created, per severity and alert type (dgm_db_alerts_total). */
  totals: Array<{ severity: Severity; alertType: string; count: number }>;
}

/** Reads a target's alerts from the store (the `alerts` command). */
export async function listAlerts(
  store: AlertStateStore,
  config: RuntimeConfig,
  logger?: Logger,
): Promise<AlertListing> {
  const doc = await readAlertDocument(store, config.target, logger);
  const alerts = alertViews(doc, resolveRules(config));
  return {
    target: config.target,
    lastSampleAt: doc.lastSampleAt ?? null,
    alerts,
    active_alerts: activeAlerts(alerts),
    totals: Object.entries(doc.totals ?? {})
      .map(([k, count]) => {
        const [severity, alertType] = k.split('|') as [Severity, string];
        return { severity, alertType, count };
      })
      .sort((x, y) => x.alertType.localeCompare(y.alertType) || x.severity.localeCompare(y.severity)),
  };
}

const STATE_LABEL: Record<AlertView['state'], string> = {
  firing: 'FIRING',
  flapping: 'FLAPPING',
  pending: 'PENDING',
  resolved: 'RESOLVED',
  ok: 'OK',
};

const shortTime = (iso: string | null | undefined) => (iso ? formatTime(iso).slice(5) : '-');

/** The alerts as a table, each with its message underneath. */
export function renderAlertList(alerts: readonly AlertView[]): string {
  const rows: string[][] = [];
  const messages: string[] = [];
  for (const a of alerts) {
    rows.push([
      `${STATE_LABEL[a.state]}${a.unknown ? ' (UNKNOWN)' : ''}`,
      a.severity,
      a.name,
      a.resource,
      formatValue(a.value, a.unit),
      formatValue(a.threshold, a.unit),
      shortTime(a.state === 'resolved' ? a.resolvedAt : a.since),
      a.lastNotified
        ? `${a.lastNotified.transition} ${shortTime(a.lastNotified.at)}`
        : a.sending
          ? 'sending'
          : '-',
    ]);
    messages.push(
      a.unknown ? `${a.message} [no figures: ${a.unknownReason ?? 'collection failed'}]` : a.message,
    );
  }
  const lines = table(
    ['state', 'severity', 'alert', 'resource', 'value', 'threshold', 'since', 'notified'],
    rows,
  ).split('\n');
  const out = lines.slice(0, 2);
  lines.slice(2).forEach((l, i) => {
    out.push(l, `    ${messages[i]}`);
  });
  return out.join('\n');
}

/** One paragraph on what the alert step of a sample did. */
export function renderAlertStep(outcome: SampleAlertOutcome | undefined): string {
  if (!outcome) return 'alerts: not evaluated (--dry-run)';
  if ('error' in outcome) return `alerts: evaluation failed: ${outcome.error}`;
  const active = outcome.alerts.filter((a) => a.state !== 'resolved' && a.state !== 'ok');
  const head =
    active.length === 0
      ? 'alerts: none active'
      : `alerts: ${active.map((a) => `${a.name} ${a.state}${a.resource === 'database' ? '' : ` (${a.resource})`}`).join(', ')}`;
  const n = outcome.notification;
  const note = n
    ? n.published
      ? `; notified: ${n.items.map((i) => `${i.transition} ${i.name}`).join(', ')} (shown on stderr)`
      : `; notification failed (${n.error}), retried on the next sample`
    : '';
  const store = outcome.stateStore === 'unavailable' ? ' [state store unavailable: failed open]' : '';
  return `${head}${note}${store}`;
}

function renderRules(config: RuntimeConfig): string {
  const rules = resolveRules(config);
  const policy = config.alerting;
  const rows = [...rules.values()].map((s) => [
    s.rule,
    s.direction === 'above' ? '>=' : '<=',
    formatValue(s.warning ?? null, s.unit),
    formatValue(s.critical ?? null, s.unit),
    formatValue(s.clear, s.unit),
    String(s.pendingSamples),
    String(s.clearSamples),
    `${s.cooldownMinutes ?? policy.alertCooldownMinutes} min`,
  ]);
  return [
    `Alert rules for target ${config.target} (max ${policy.maxAlertsPerHour} alerts per hour):`,
    table(['rule', 'fires', 'warning', 'critical', 'clear', 'pending', 'clear samples', 'cooldown'], rows),
  ].join('\n');
}

export const alertsCommand: Command = {
  name: 'alerts',
  summary: 'List active alerts and their state (sample evaluates them); --evaluate samples now',
  usage: 'alerts [--evaluate] [--all] [--rules] [--format text|prometheus] [--state-dir DIR] [--json]',
  options: {
    evaluate: { type: 'boolean', default: false },
    all: { type: 'boolean', default: false },
    rules: { type: 'boolean', default: false },
    'state-dir': { type: 'string' },
    format: { type: 'string' },
  },
  flags: {
    evaluate: { text: 'take a sample now and evaluate the rules (notifications on stderr)' },
    all: { text: 'list resolved alerts too, not only pending and firing ones' },
    rules: { text: 'list the alert rules with their thresholds' },
    'state-dir': {
      value: 'DIR',
      text: 'folder of the local alert state (default: .dgm-db-ops/alerts in the working folder)',
    },
    format: { value: 'text|prometheus', text: 'a table (default) or the alert metrics as Prometheus text' },
  },
  examples: [
    'dgm-db-ops alerts',
    'dgm-db-ops alerts --evaluate',
    'dgm-db-ops alerts --rules',
    'dgm-db-ops alerts --format prometheus',
  ],
  validate(input) {
    const format = String(input.values.format ?? 'text');
    if (format !== 'text' && format !== 'prometheus') {
      throw new BadInputError(`alerts: --format must be text or prometheus, got '${showValue(format)}'`);
    }
  },
  async run(ctx) {
    const format = String(ctx.values.format ?? 'text');
    const stateDir = (ctx.values['state-dir'] as string | undefined) ?? DEFAULT_STATE_DIR;
    const database = databaseIdentity(ctx.flags.databaseUrl);
    const { store } = localAlertDeps({ stateDir, database });
    let evaluation: SampleAlertOutcome | undefined;
    let sample: SampleResult | undefined;
    if (ctx.values.evaluate) {
      ({ sample, evaluation } = await withSamplerConnection(ctx, async (client) => {
        const s = await runSample(
          client,
          ctx.config,
          { sink: new ConsoleMetricSink(null), logger: ctx.logger },
          { timeoutsPreset: true, persist: !ctx.flags.dryRun },
        );
        return { sample: s, evaluation: await alertsForCliSample(ctx, client, s, stateDir) };
      }));
    }
    const listed = await listAlerts(store, ctx.config, ctx.logger);
    if (format === 'prometheus') {
      const doc = await readAlertDocument(store, ctx.config.target, ctx.logger);
      const text = renderPrometheus(alertMetricPoints(ctx.config.target, doc), [
        ALERT_METRIC_SPECS.alerts,
        ALERT_METRIC_SPECS.active,
      ]).trimEnd();
      return { result: { target: listed.target, database, totals: listed.totals, prometheus: text }, text };
    }
    const shown = ctx.values.all ? listed.alerts : listed.alerts.filter((a) => a.state !== 'resolved');
    const stateFile = store.fileFor(alertDocumentKey(ctx.config.target));
    const result = {
      target: listed.target,
      database,
      stateFile,
      lastSampleAt: listed.lastSampleAt,
      alerts: shown,
      // The design's get_monitoring_report()['active_alerts'] (DatabaseAlert fields).
      active_alerts: listed.active_alerts,
      totals: listed.totals,
      ...(evaluation ? { evaluation } : {}),
      ...(ctx.values.rules ? { rules: [...resolveRules(ctx.config).values()] } : {}),
    };
    const lines: string[] = [];
    if (ctx.values.rules) lines.push(renderRules(ctx.config), '');
    if (sample) lines.push(`sample: ${sample.message ?? sample.status}`, renderAlertStep(evaluation), '');
    if (!listed.lastSampleAt) {
      lines.push(
        `No alert state for target ${listed.target} on ${database} yet (${stateFile}): \`dgm-db-ops sample\` evaluates the alerts after each sample, or run \`dgm-db-ops alerts --evaluate\`.`,
      );
    } else if (shown.length === 0) {
      lines.push(
        `No ${ctx.values.all ? '' : 'active '}alerts for target ${listed.target} on ${database} (last sample ${formatTime(listed.lastSampleAt)}).`,
      );
    } else {
      lines.push(
        `Alerts for target ${listed.target} on ${database} (last sample ${formatTime(listed.lastSampleAt)}; state in ${stateFile}):`,
        '',
        renderAlertList(shown),
      );
    }
    return { result, text: lines.join('\n'), exitCode: sample?.status === 'failed' ? 1 : 0 };
  },
};

/** The demo's dashboard statement: a workspace's latest metrics. No design index serves workspace_id. */
export const DEMO_SLOW_QUERY = {
  name: 'workspace_latest_metrics',
  sql: `SELECT metric_name, metric_value, "timestamp" FROM dgm.performance_metrics
        WHERE workspace_id = $1 ORDER BY "timestamp" DESC LIMIT 50`,
  params: (i: number) => [1 + ((i * 7919) % 20_000)],
};

/** Threshold the demo uses: its tables hold a million rows, not the billions the 200 ms default is for. */
const DEMO_SLOW_MS = 20;

async function runDashboard(client: pg.Client, times: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await client.query(DEMO_SLOW_QUERY.sql, DEMO_SLOW_QUERY.params(i));
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b);
}

/**
 * The demo's alert story: a dashboard statement with no index runs with the workload and crosses the
 * slow-query threshold (PENDING, then FIRING: the email and the Slack message are shown); the
 * optimizer creates the index it needs; two clean samples later the alert is RESOLVED. Other alerts
 * that the demo database really has (cache hit ratio after the load, critical compliance rows) show
 * as they come. Alert state lives in a temporary directory; the indexes the optimizer created are
 * dropped afterwards (audited), so the demo's optimizer step starts from the design's schema.
 */
export async function demoAlerts(client: pg.Client, ctx: DemoContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dgm-demo-alerts-'));
  const printed: string[] = [];
  const out: string[] = [];
  const config = parseConfig({
    ...ctx.config,
    slowQueryThresholdMs: DEMO_SLOW_MS,
    // Samples seconds apart stand in for the sampler's minutes.
    alerting: { ...ctx.config.alerting, minSampleSpacingSeconds: 0 },
  });
  const deps = {
    ...localAlertDeps({ stateDir: dir, database: 'demo', write: (t) => printed.push(t) }),
    logger: ctx.logger,
  };
  const quiet: Logger = { info() {}, warn() {}, error: (m) => ctx.logger.error(m) };
  let created: string[] = [];
  const step = async (label: string, dashboardRuns: number): Promise<AlertEvaluation> => {
    const ms = dashboardRuns > 0 ? await runDashboard(client, dashboardRuns) : [];
    const s = await runSample(
      client,
      config,
      { sink: new ConsoleMetricSink(null), logger: quiet },
      { full: false },
    );
    const before = printed.length;
    const outcome = await alertAfterSample(deps, { config, client, snapshot: s.snapshot, error: s.message });
    if ('error' in outcome) throw new Error(`demo alerts: ${outcome.error}`);
    const slow = outcome.alerts.find((a) => a.name === 'slow_queries');
    const median = ms.length ? ` (dashboard median ${ms[Math.floor(ms.length / 2)]!.toFixed(1)} ms)` : '';
    out.push(
      `${label}${median}: slow_queries ${slow ? STATE_LABEL[slow.state] : 'OK'}${slow ? ` - ${slow.message}` : ''}`,
    );
    for (const text of printed.slice(before)) out.push('', text.trimEnd(), '');
    return outcome;
  };
  try {
    out.push(
      `slow_query_threshold_ms is ${DEMO_SLOW_MS} for this step (default 200: the demo tables hold a million rows); samples are seconds apart; notifications print as the email and the Slack message would read.`,
      `The dashboard statement: ${DEMO_SLOW_QUERY.sql.replace(/\s+/g, ' ')}`,
      '',
    );
    // The first interval holds what the earlier demo steps ran; the second is quiet.
    await step('sample 1, after the earlier demo steps', 0);
    await step('sample 2, quiet', 0);
    await step('sample 3, dashboard in use', 8);
    await step('sample 4, dashboard in use', 8);
    const opt = await optimizeDatabase(client, config, {
      apply: true,
      examples: [
        {
          sql: DEMO_SLOW_QUERY.sql,
          params: DEMO_SLOW_QUERY.params(1),
          name: DEMO_SLOW_QUERY.name,
          source: 'demo dashboard',
        },
      ],
      reason: 'demo: slow_queries alert',
      logger: quiet,
    });
    const changed = indexChanges(opt.actions);
    created = changed.kept;
    out.push(
      `optimize --apply: ${
        changed.built.length
          ? `created ${changed.built.join(', ')}${
              changed.droppedAfterVerification.length
                ? `; dropped ${changed.droppedAfterVerification.join(', ')} again after verification`
                : ''
            }`
          : 'no index created'
      } (${opt.message ?? opt.status})`,
      '',
    );
    // The index build's interval may still hold slow statements; then two clean samples resolve it.
    for (let i = 5; i <= 9; i++) {
      const r = await step(`sample ${i}, dashboard in use`, 8);
      if (r.notification?.items.some((x) => x.name === 'slow_queries' && x.transition === 'resolved')) break;
    }
    if (created.length > 0) {
      out.push(
        '',
        `The demo drops ${created.length === 1 ? 'that index' : 'those indexes'} again (audited), so the optimizer step starts from the design's schema.`,
      );
    }
    return out.join('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
    if (created.length > 0) await dropDemoIndexes(client, config, created);
  }
}

/** Drops the indexes the demo's optimize run created, through the constitution gate and the audit trail. */
async function dropDemoIndexes(client: pg.Client, config: RuntimeConfig, qualified: string[]): Promise<void> {
  const { audit } = await beginMutatingRun(client, 'demo', config.constitutionalHash);
  for (const q of qualified) {
    const dot = q.indexOf('.');
    const sql = `DROP INDEX IF EXISTS ${quoteQualified(q.slice(0, dot), q.slice(dot + 1))}`;
    await audit.timed('drop_index', q, sql, () => client.query(sql));
  }
}
