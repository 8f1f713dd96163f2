import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import type pg from 'pg';
import { ConsoleMetricSink } from '../../functions/adapters/local/console-metric-sink.ts';
import { ConsoleNotifier } from '../../functions/adapters/local/console-notifier.ts';
import { embeddedInterruptSignal } from '../../functions/adapters/local/embedded-postgres.ts';
import type { RuntimeConfig } from '../../functions/config.ts';
import { type SslMode, sslModeFor } from '../../functions/db/connection.ts';
import { lambdaTimeoutsFor } from '../../functions/deployment.ts';
import { BadInputError, errorMessage, JobFailedError } from '../../functions/errors.ts';
import { jsonSyntaxError, showValue } from '../../functions/format/redact.ts';
import { MAINTAINER_TASKS, parseJobEvent } from '../../functions/handlers/events.ts';
import { createFanOutHandler, parseFanOutEvent } from '../../functions/handlers/fanout.ts';
import { createMaintainerHandler } from '../../functions/handlers/maintainer.ts';
import { createMigratorHandler } from '../../functions/handlers/migrator.ts';
import { type DeployedTarget, loadTargets, resolveTarget } from '../../functions/handlers/runtime.ts';
import { createSamplerHandler } from '../../functions/handlers/sampler.ts';
import { createSlackNotifierHandler } from '../../functions/handlers/slack-notifier.ts';
import { functionForJob } from '../../functions/jobs/fanout.ts';
import type { MaintainResult } from '../../functions/jobs/maintain.ts';
import type { MigrateResult } from '../../functions/jobs/migrate.ts';
import type { OptimizeResult } from '../../functions/jobs/optimize.ts';
import type { SampleResult } from '../../functions/jobs/sample.ts';
import type { DatabaseSecret, Logger, SecretsProvider } from '../../functions/ports.ts';
import { databaseIdentity, localAlertDeps } from './alerts.ts';
import { renderMaintainResult } from './maintain.ts';
import { renderOptimize } from './optimize.ts';
import { renderSample } from './sample.ts';
import type { Command, CommandContext, CommandInput, DemoContext } from './types.ts';

/**
 * `dgm-db-ops invoke <function> --event <json>`: builds the same handler the Lambda runs, with local
 * adapters instead of AWS ones, and calls it with the event. The event goes through the handler's own
 * validation, so what fails here fails in AWS. The database is --database-url (or DATABASE_URL, or an
 * embedded PostgreSQL); it stands in for the deployed target, its credentials for the target's secret.
 */

export const INVOKABLE_FUNCTIONS = ['sampler', 'maintainer', 'migrator', 'slack-notifier', 'fanout'] as const;
type FunctionName = (typeof INVOKABLE_FUNCTIONS)[number];

/** The event each handler accepts, for `invoke --help` (the schemas are functions/handlers/events.ts). */
export const EVENT_SHAPES: Record<FunctionName, { shape: string; example: string; note: string }> = {
  sampler: {
    shape: '{"task"?: "sample", "target"?: NAME, "dryRun"?: BOOL, "reason"?: TEXT}',
    example: '{}',
    note: 'task defaults to sample; the schedule sends {"task":"sample"} every minute',
  },
  maintainer: {
    shape: `{"task": ${MAINTAINER_TASKS.join('|')}, "target"?: NAME, "dryRun"?: BOOL, "apply"?: BOOL, "reason"?: TEXT}`,
    example: '{"task":"partitions","dryRun":true}',
    note: 'task is required (no obvious default); apply only with optimize',
  },
  migrator: {
    shape:
      '{"task"?: "migrate", "target"?: NAME, "dryRun"?: BOOL}, or a CloudFormation custom resource event',
    example: '{"dryRun":true}',
    note: 'task defaults to migrate; deploys send {"RequestType":"Create"|"Update"|"Delete", ...}',
  },
  fanout: {
    shape: `{"action"?: "run"|"list"|"report", "task": sample|${MAINTAINER_TASKS.join('|')}, "concurrency"?: N, "targetTimeoutSeconds"?: N, "dryRun"?: BOOL, "reason"?: TEXT}`,
    example: '{"task":"sample"}',
    note: 'runs the task on every target (DGM_TARGETS, else the one database); action defaults to run',
  },
  'slack-notifier': {
    shape: '{"Records": [{"Sns": {"Subject"?: TEXT, "Message": TEXT}}]} (an SNS notification)',
    example: '{"Records":[{"Sns":{"Subject":"test","Message":"hello"}}]}',
    note: 'without --webhook-url or SLACK_WEBHOOK_URL the Slack message is printed, not posted',
  },
};

/** The readable rendering of a handler's result (the JSON goes to stdout with --json). */
export function renderInvokeResult(fn: string, result: unknown): string {
  const r = (result ?? {}) as { job?: string; status?: string; message?: string; durationMs?: number };
  const head = `invoke ${fn}: ${r.status ?? 'done'}${r.durationMs != null ? ` in ${Math.round(r.durationMs)} ms` : ''}${r.message ? ` - ${r.message}` : ''}`;
  let body: string | undefined;
  if (r.job === 'sample' && (result as SampleResult).snapshot) body = renderSample(result as SampleResult);
  else if (r.job === 'maintain') body = renderMaintainResult(result as MaintainResult);
  else if (r.job === 'optimize') body = renderOptimize(result as OptimizeResult);
  else if (r.job === 'migrate') {
    const m = result as MigrateResult;
    body = [
      ...m.applied.map((a) => `  applied ${a.name} (${a.durationMs} ms)`),
      ...m.pending.map((p) => `  pending ${p}`),
    ].join('\n');
  } else if (result && typeof result === 'object' && !r.job) {
    body = Object.entries(result)
      .filter(([k]) => k !== 'status' && k !== 'message' && k !== 'durationMs')
      .map(([k, v]) => `  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join('\n');
  }
  return body ? `${head}\n\n${body}` : head;
}

/** The placeholder secret ARN of the local target; the local SecretsProvider answers only for it. */
export const LOCAL_SECRET_ARN = 'arn:aws:secretsmanager:local:000000000000:secret:dgm-db-ops-cli';

/** The deployed-target view of a database URL, as the stack writes it into DGM_TARGETS. */
export function targetFromUrl(url: string, name: string): DeployedTarget {
  const u = new URL(url);
  return {
    name,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 5432,
    database: decodeURIComponent(u.pathname.replace(/^\//, '') || 'postgres'),
    secretArn: LOCAL_SECRET_ARN,
    config: {},
  };
}

/** Serves the URL's user and password as the target's secret (what Secrets Manager does in AWS). */
export function urlSecrets(url: string): SecretsProvider & { reads: number } {
  const u = new URL(url);
  const provider = {
    reads: 0,
    async getDatabaseSecret(secretArn: string): Promise<DatabaseSecret> {
      if (secretArn !== LOCAL_SECRET_ARN) throw new Error(`no local secret ${secretArn}`);
      provider.reads++;
      return {
        username: decodeURIComponent(u.username || 'postgres'),
        password: decodeURIComponent(u.password),
      };
    },
  };
  return provider;
}

/** TLS as the CLI's own connections choose it (connection.ts sslModeFor): the URL's sslmode, else plain
 * on loopback, else verify-full. */
export function tlsForUrl(url: string): SslMode {
  return sslModeFor(url);
}

/** The Lambda env the stack would write for this one target. */
export function localLambdaEnv(url: string, config: RuntimeConfig): Record<string, string> {
  return {
    DGM_TARGETS: JSON.stringify([targetFromUrl(url, config.target)]),
    DGM_CONFIG: JSON.stringify(config),
  };
}

/** A Lambda context whose clock runs down from the timeout the stack gives the function. */
export function localContext(functionName: string, timeoutSeconds: number): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const fail = () => {
    throw new Error('callback-style completion is not supported');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `dgm-db-ops-${functionName}-local`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:dgm-db-ops-${functionName}-local`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/local/dgm-db-ops-${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: fail,
    fail,
    succeed: fail,
  };
}

function parseEvent(raw: string | undefined): unknown {
  if (raw === undefined) throw new BadInputError('invoke: --event is required (JSON, or @file.json)');
  let text = raw;
  const source = raw.startsWith('@') ? `event file ${showValue(raw.slice(1))}` : '--event';
  if (raw.startsWith('@')) {
    try {
      text = readFileSync(raw.slice(1), 'utf8');
    } catch {
      throw new BadInputError(`invoke: cannot read ${source}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    // Where, not what: the text may be anything (a URL with a password, a secret file).
    throw new BadInputError(`invoke: ${source} is not valid JSON (${jsonSyntaxError(err)})`);
  }
}

/** The tasks each database-backed function's handler accepts (what it validates the event against). */
/** The task a handler runs when the event names none (the maintainer has no obvious one). */
const DEFAULT_TASKS: Record<Exclude<FunctionName, 'slack-notifier' | 'fanout'>, string | undefined> = {
  sampler: 'sample',
  maintainer: undefined,
  migrator: 'migrate',
};

const FUNCTION_TASKS: Record<Exclude<FunctionName, 'slack-notifier' | 'fanout'>, readonly string[]> = {
  sampler: ['sample'],
  maintainer: MAINTAINER_TASKS,
  migrator: ['migrate'],
};

/**
 * The function and its event, checked as the handler will check them (schema, task, target), so a bad
 * event is refused before the CLI connects or starts an embedded server.
 */
function invocation(input: CommandInput): { name: FunctionName; event: unknown } {
  const [fn, ...extra] = input.positionals;
  if (!fn || !(INVOKABLE_FUNCTIONS as readonly string[]).includes(fn) || extra.length > 0) {
    throw new BadInputError(`invoke: name one function: ${INVOKABLE_FUNCTIONS.join(', ')}`);
  }
  const name = fn as FunctionName;
  let event = parseEvent(input.values.event as string | undefined);
  // --dry-run is the event's own dryRun flag, for the events that have one.
  if (input.flags.dryRun && typeof event === 'object' && event !== null && 'task' in event) {
    event = { ...event, dryRun: true };
  }
  if (name === 'slack-notifier') {
    const url = input.values['webhook-url'] as string | undefined;
    if (url !== undefined && !/^https?:\/\//.test(url)) {
      throw new BadInputError('invoke: --webhook-url must be an http(s) URL');
    }
    return { name, event };
  }
  if (name === 'fanout') {
    parseFanOutEvent(event);
    return { name, event };
  }
  const job = parseJobEvent(event, FUNCTION_TASKS[name], DEFAULT_TASKS[name]);
  // The local deployment has one target, named after the config's target.
  resolveTarget([targetFromUrl('postgres://localhost/postgres', input.config.target)], job.target);
  return { name, event };
}

type LocalHandler = (event: unknown, context: Context) => Promise<unknown>;

interface LocalInvocation {
  handler: LocalHandler;
  timeoutSeconds: number;
}

/** Builds a database-backed handler with local deps for the database at url. */
async function buildDatabaseHandler(
  fn: Exclude<FunctionName, 'slack-notifier' | 'fanout'>,
  url: string,
  config: RuntimeConfig,
  logger: Logger,
  options: { quiet?: boolean; env?: Record<string, string> } = {},
): Promise<LocalInvocation> {
  const sink = () => new ConsoleMetricSink(options.quiet ? null : undefined);
  const notifier = () => new ConsoleNotifier(options.quiet ? () => {} : undefined);
  const env = options.env ?? localLambdaEnv(url, config);
  const secrets = urlSecrets(url);
  const tls = tlsForUrl(url);
  const timeouts = lambdaTimeoutsFor(config);
  // Metrics and notifications go to stderr, so --json keeps stdout to the handler's result.
  switch (fn) {
    case 'sampler':
      return {
        // Alert state in the CLI's file store (.dgm-db-ops/alerts), notifications on stderr; without a
        // launcher the governance step runs optimize inline, as the CLI does.
        handler: createSamplerHandler({
          secrets,
          env,
          logger,
          tls,
          sink: sink(),
          alerts: { ...localAlertDeps({ database: databaseIdentity(url) }), notifier: notifier() },
        }) as LocalHandler,
        timeoutSeconds: timeouts.samplerSeconds,
      };
    case 'maintainer':
      return {
        handler: createMaintainerHandler({
          secrets,
          env,
          logger,
          tls,
          metrics: () => sink(),
        }) as LocalHandler,
        timeoutSeconds: timeouts.maintainerSeconds,
      };
    case 'migrator':
      return {
        handler: createMigratorHandler({ secrets, env, logger, tls }) as LocalHandler,
        timeoutSeconds: timeouts.migratorSeconds,
      };
  }
}

function failed(result: unknown): boolean {
  const status = (result as { status?: unknown } | null)?.status;
  return status === 'failed' || status === 'refused';
}

export const invokeCommand: Command = {
  name: 'invoke',
  summary: 'Run a Lambda handler locally with an event: same handler and validation, local adapters',
  usage: `invoke <${INVOKABLE_FUNCTIONS.join('|')}> --event <json|@file.json> [--webhook-url URL]`,
  options: {
    event: { type: 'string' },
    'webhook-url': { type: 'string' },
  },
  flags: {
    event: { value: 'JSON|@FILE', text: "the handler's event, inline or from a file (see the events below)" },
    'webhook-url': {
      value: 'URL',
      text: 'slack-notifier: the Slack webhook to post to (default: print the message)',
    },
  },
  examples: [
    "dgm-db-ops invoke sampler --event '{}'",
    'dgm-db-ops invoke maintainer --event \'{"task":"all","dryRun":true}\'',
    'dgm-db-ops invoke migrator --event @event.json',
  ],
  allowPositionals: true,
  helpDetails: () => [
    'Events (--event), per function:',
    ...Object.entries(EVENT_SHAPES).flatMap(([fn, e]) => [
      `  ${fn}`,
      `    shape:   ${e.shape}`,
      `    example: dgm-db-ops invoke ${fn} --event '${e.example}'`,
      `    ${e.note}`,
    ]),
    '',
    "The result is printed readably; --json prints the handler's JSON result (what the Lambda returns).",
  ],
  validate(input) {
    invocation(input);
  },
  async run(ctx: CommandContext) {
    const { name, event } = invocation(ctx);
    let result: unknown;
    try {
      if (name === 'slack-notifier') {
        const url =
          (ctx.values['webhook-url'] as string | undefined) || ctx.env.SLACK_WEBHOOK_URL || undefined;
        if (url !== undefined && !/^https?:\/\//.test(url)) {
          throw new BadInputError('invoke: SLACK_WEBHOOK_URL must be an http(s) URL');
        }
        const handler = createSlackNotifierHandler({ webhookUrl: async () => url, logger: ctx.logger });
        result = await handler(event, localContext(name, 30));
      } else if (name === 'fanout') {
        result = await ctx.withDatabase((_client, url) => invokeFanOut(event, url, ctx));
      } else {
        result = await ctx.withDatabase(async (_client, url) => {
          const { handler, timeoutSeconds } = await buildDatabaseHandler(name, url, ctx.config, ctx.logger);
          return handler(event, localContext(name, timeoutSeconds));
        });
      }
    } catch (err) {
      // Bad input stays a one-line error (exit 2). A failed run still says on stdout what failed.
      if (err instanceof BadInputError || embeddedInterruptSignal()) throw err;
      ctx.logger.error(`invoke ${name}: ${errorMessage(err)}`);
      const failure =
        err instanceof JobFailedError && err.result !== undefined
          ? err.result
          : { status: 'failed', error: errorMessage(err) };
      const text = renderInvokeResult(name, failure);
      return {
        result: failure,
        text:
          err instanceof JobFailedError && err.result !== undefined
            ? `${text}\nfailed: ${errorMessage(err)}`
            : text,
        exitCode: 1,
      };
    }
    return { result, text: renderInvokeResult(name, result), exitCode: failed(result) ? 1 : 0 };
  },
};

/**
 * The fleet fan-out, run locally: the targets are DGM_TARGETS when set (a JSON array as the registry
 * holds them; locally each is reached with the URL's credentials), else the one database of the URL.
 * Each target's job runs through the same handler `invoke <function>` builds, with the fan-out's
 * concurrency limit and per-target timeout (event fields concurrency, targetTimeoutSeconds).
 */
async function invokeFanOut(event: unknown, url: string, ctx: CommandContext): Promise<unknown> {
  const targets = process.env.DGM_TARGETS
    ? loadTargets(process.env).map((t) => ({ ...t, secretArn: LOCAL_SECRET_ARN }))
    : [targetFromUrl(url, ctx.config.target)];
  const env = { DGM_TARGETS: JSON.stringify(targets), DGM_CONFIG: JSON.stringify(ctx.config) };
  const handler = createFanOutHandler({
    sink: new ConsoleMetricSink(),
    env,
    logger: ctx.logger,
    runTarget: async (targetEvent) => {
      const fn = functionForJob(String(targetEvent.task));
      const local = await buildDatabaseHandler(fn, url, ctx.config, ctx.logger, { env, quiet: true });
      return local.handler(targetEvent, localContext(fn, local.timeoutSeconds));
    },
  });
  return handler(event, localContext('fanout', 900));
}

/** The URL of a connected client (the demo's embedded database). */
function urlOfClient(client: pg.Client): string {
  const u = new URL('postgres://placeholder');
  u.hostname = client.host;
  u.port = String(client.port);
  u.pathname = `/${encodeURIComponent(client.database ?? 'postgres')}`;
  u.username = encodeURIComponent(client.user ?? 'postgres');
  if (typeof client.password === 'string') u.password = encodeURIComponent(client.password);
  return u.toString();
}

/**
 * The demo's step: the Lambda handlers run locally with the events the schedules send, against the
 * demo database, exactly as `dgm-db-ops invoke` runs them.
 */
export async function demoInvoke(client: pg.Client, ctx: DemoContext): Promise<string> {
  const url = urlOfClient(client);
  const events: Array<[Exclude<FunctionName, 'slack-notifier' | 'fanout'>, Record<string, unknown>]> = [
    ['migrator', { task: 'migrate', dryRun: true }],
    ['sampler', { task: 'sample', reason: 'schedule' }],
    ['maintainer', { task: 'partitions', dryRun: true, reason: 'schedule' }],
  ];
  const lines = [
    'The Lambda handlers, run locally with the events their schedules send (dgm-db-ops invoke):',
  ];
  for (const [fn, event] of events) {
    const { handler, timeoutSeconds } = await buildDatabaseHandler(fn, url, ctx.config, ctx.logger, {
      quiet: true,
    });
    const result = (await handler(event, localContext(fn, timeoutSeconds))) as {
      status?: string;
      message?: string;
    };
    lines.push(
      `  ${fn.padEnd(11)}${JSON.stringify(event).padEnd(58)}${result.status}: ${result.message ?? ''}`,
    );
  }
  lines.push(
    'In AWS: aws lambda invoke --function-name <stack output Sampler<target>> --cli-binary-format raw-in-base64-out --payload \'{"task":"sample"}\' out.json',
  );
  return lines.join('\n');
}
