import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { DatabaseUnreachableError } from '../../functions/db/connection.ts';
import { BadInputError } from '../../functions/errors.ts';
import type { HandlerContext } from '../../functions/handlers/middleware/context.ts';
import { prepared } from '../../functions/handlers/middleware/context.ts';
import { customResource } from '../../functions/handlers/middleware/custom-resource.ts';
import { databaseConnection } from '../../functions/handlers/middleware/database-connection.ts';
import { eventValidation } from '../../functions/handlers/middleware/event-validation.ts';
import { jobLogger } from '../../functions/handlers/middleware/job-logger.ts';
import { targetResolution } from '../../functions/handlers/middleware/target-resolution.ts';
import { timeoutBudget } from '../../functions/handlers/middleware/timeout-budget.ts';
import type { Logger, SecretsProvider, TargetRegistry } from '../../functions/ports.ts';

// Each middleware of functions/handlers/middleware on its own, in a middy stack around a stub handler:
// what its before prepares, what its after does to the result, what its onError does on a failure.

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db';
const target = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  host: '127.0.0.1',
  port: 1,
  database: 'x',
  secretArn: ARN,
  ...extra,
});
const envOf = (targets: unknown[], config: unknown = {}) => ({
  DGM_TARGETS: JSON.stringify(targets),
  DGM_CONFIG: JSON.stringify(config),
});
const lambdaContext = (remainingMs?: number) =>
  (remainingMs === undefined ? {} : { getRemainingTimeInMillis: () => remainingMs }) as Context;

function recordingLogger() {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    lines.push({ level, message, fields });
  const logger: Logger = { info: at('info'), warn: at('warn'), error: at('error') };
  return { lines, logger };
}

/** A handler that records what it was given and answers `answer` (or throws it when an Error). */
function stub(answer: unknown = { status: 'succeeded', message: 'done' }) {
  const seen: Array<{ event: unknown; context: HandlerContext }> = [];
  const handler = middy(async (event: unknown, context: HandlerContext) => {
    seen.push({ event, context });
    if (answer instanceof Error) throw answer;
    return answer;
  });
  return { handler, seen };
}

describe('eventValidation', () => {
  it('before: a job event is validated, defaulted and put on the context', async () => {
    const { handler, seen } = stub();
    handler.use(eventValidation({ tasks: ['sample'], defaultTask: 'sample' }));
    await handler({ target: 'db1' }, lambdaContext());
    expect(seen[0]!.event).toEqual({ task: 'sample', target: 'db1' });
    expect(seen[0]!.context.job).toEqual({ task: 'sample', target: 'db1' });
  });

  it('before: a bad event is a one-line BadInputError and the handler never runs', async () => {
    const { handler, seen } = stub();
    handler.use(eventValidation({ tasks: ['partitions', 'vacuum'] }));
    await expect(handler({ task: 'drop' }, lambdaContext())).rejects.toThrow(
      new BadInputError("event: task must be one of partitions, vacuum, got 'drop'"),
    );
    await expect(handler({}, lambdaContext())).rejects.toThrow(/^event: task: /);
    expect(seen).toEqual([]);
  });

  it("before: a handler's own parser replaces the job schema", async () => {
    const { handler, seen } = stub();
    handler.use(
      eventValidation({
        parse: (e) => {
          if ((e as { n?: unknown }).n !== 1) throw new BadInputError('event: n must be 1');
          return { n: 1, parsed: true };
        },
      }),
    );
    await handler({ n: 1 }, lambdaContext());
    expect(seen[0]!.event).toEqual({ n: 1, parsed: true });
    expect(seen[0]!.context.job).toBeUndefined();
    await expect(handler({ n: 2 }, lambdaContext())).rejects.toThrow('event: n must be 1');
  });

  it('options are checked when the handler is built', () => {
    expect(() => eventValidation({})).toThrow(/^eventValidation middleware: give either tasks/);
    expect(() => eventValidation({ tasks: ['a'], defaultTask: 'b' })).toThrow(
      /defaultTask must be one of tasks/,
    );
    expect(() => eventValidation({ tasks: [] })).toThrow(/^eventValidation middleware: tasks: /);
  });
});

describe('targetResolution', () => {
  it('before: the named target and its config (DGM_CONFIG, then its overrides) are put on the context', async () => {
    const { handler, seen } = stub();
    const env = envOf([target('a'), target('b', { config: { monitoring: { topTables: 3 } } })], {
      monitoring: { topTables: 7 },
    });
    handler.use(eventValidation({ tasks: ['sample'] })).use(targetResolution({ env }));
    await handler({ task: 'sample', target: 'b' }, lambdaContext());
    const { target: t, config } = prepared(seen[0]!.context, 'target', 'config');
    expect(t.name).toBe('b');
    expect(config.target).toBe('b');
    expect(config.monitoring.topTables).toBe(3);
  });

  it('before: from the registry when there is one; an unknown target is bad input', async () => {
    const registry: TargetRegistry = {
      list: async () => [],
      get: async (name) => (name === 'r1' ? { ...target('r1'), config: {} } : undefined),
    };
    const { handler, seen } = stub();
    handler.use(eventValidation({ tasks: ['sample'] })).use(targetResolution({ env: {}, registry }));
    await handler({ task: 'sample', target: 'r1' }, lambdaContext());
    expect(seen[0]!.context.target?.name).toBe('r1');
    await expect(handler({ task: 'sample', target: 'r2' }, lambdaContext())).rejects.toThrow(
      new BadInputError("event: unknown target 'r2' (not in the target registry)"),
    );
    await expect(handler({ task: 'sample' }, lambdaContext())).rejects.toThrow(/target is required/);
    expect(seen).toHaveLength(1);
  });

  it('before: contradictory config is refused before the handler runs', async () => {
    const { handler, seen } = stub();
    const env = envOf([target('a')], { alerting: { rules: { lock_waits: { clear: 99 } } } });
    handler.use(eventValidation({ tasks: ['sample'] })).use(targetResolution({ env }));
    await expect(handler({ task: 'sample' }, lambdaContext())).rejects.toThrow(
      /alerting\.rules\.lock_waits: clear 99 must be below/,
    );
    expect(seen).toEqual([]);
  });

  it('options are checked when the handler is built', () => {
    expect(() => targetResolution({ registry: {} as TargetRegistry })).toThrow(
      /^targetResolution middleware: registry: must be a TargetRegistry/,
    );
  });
});

describe('timeoutBudget', () => {
  const withBudget = (options: Parameters<typeof timeoutBudget>[0], config: unknown = {}) => {
    const { handler, seen } = stub();
    handler
      .use(eventValidation({ tasks: ['x'] }))
      .use(targetResolution({ env: envOf([target('a')], config) }))
      .use(timeoutBudget(options));
    return { handler, seen };
  };

  it('before: maintenance settings, cut to the remaining time less the margin, never below the minimum', async () => {
    const { handler, seen } = withBudget(
      { safetyMarginMs: 60_000 },
      { maintenance: { statementTimeoutMs: 600_000, lockTimeoutMs: 700 } },
    );
    const before = Date.now();
    await handler({ task: 'x' }, lambdaContext(70_000));
    await handler({ task: 'x' }, lambdaContext(30_000));
    await handler({ task: 'x' }, lambdaContext(900_000));
    const [short, late, long] = seen.map((s) => s.context.budget!);
    expect(short).toMatchObject({ remainingMs: 70_000, statementTimeoutMs: 10_000, lockTimeoutMs: 700 });
    expect(short!.connectTimeoutMs).toBe(5_000);
    expect(short!.deadline).toBeGreaterThanOrEqual(before + 10_000);
    expect(late!.statementTimeoutMs).toBe(1_000);
    expect(late!.deadline).toBeLessThan(Date.now());
    expect(long!.statementTimeoutMs).toBe(600_000);
  });

  it('before: monitoring settings take the connect timeout from the same budget, the lock at most 1 s', async () => {
    const { handler, seen } = withBudget(
      {
        settings: 'monitoring',
        safetyMarginMs: 10_000,
        defaultRemainingMs: 60_000,
        connectWithinBudget: true,
      },
      { monitoring: { statementTimeoutMs: 30_000 } },
    );
    await handler({ task: 'x' }, lambdaContext(20_000));
    await handler({ task: 'x' }, lambdaContext());
    const [tight, local] = seen.map((s) => s.context.budget!);
    expect(tight).toMatchObject({ statementTimeoutMs: 5_000, lockTimeoutMs: 1_000, connectTimeoutMs: 5_000 });
    // No clock in the context (tests, local runs): the default remaining time.
    expect(local).toMatchObject({ remainingMs: 60_000, statementTimeoutMs: 30_000 });
  });

  it('before: without the target config it names the missing middleware', async () => {
    const { handler } = stub();
    handler.use(timeoutBudget());
    await expect(handler({}, lambdaContext())).rejects.toThrow(/use targetResolution before it/);
  });

  it('options are checked when the handler is built', () => {
    expect(() => timeoutBudget({ safetyMarginMs: -1 })).toThrow(
      /^timeoutBudget middleware: safetyMarginMs: /,
    );
    expect(() => timeoutBudget({ settings: 'other' as 'monitoring' })).toThrow(/settings: /);
  });
});

describe('databaseConnection (an unreachable database; the open and closed paths are in integration)', () => {
  const secretsCounting = () => {
    const seen = { reads: 0 };
    const secrets: SecretsProvider = {
      async getDatabaseSecret() {
        seen.reads++;
        return { username: 'app', password: 'pw' };
      },
    };
    return { seen, secrets };
  };
  const stack = (options: Partial<Parameters<typeof databaseConnection>[0]>) => {
    const { seen: reads, secrets } = secretsCounting();
    const { handler, seen } = stub();
    handler
      .use(eventValidation({ tasks: ['x'] }))
      .use(targetResolution({ env: envOf([target('a')]) }))
      .use(timeoutBudget())
      .use(databaseConnection({ secrets, applicationName: 'dgm-db-ops-test', tls: 'disable', ...options }));
    return { handler, seen, reads };
  };

  it('before: throws by default, after the given attempts, with a warning per retry', async () => {
    const { lines, logger } = recordingLogger();
    const { handler, seen, reads } = stack({ attempts: 3, retryDelayMs: 0, logger });
    const err = await handler({ task: 'x' }, lambdaContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseUnreachableError);
    expect(reads.reads).toBe(3);
    expect(lines.map((l) => [l.message, l.fields?.attempt])).toEqual([
      ['database not reachable yet, retrying', 1],
      ['database not reachable yet, retrying', 2],
    ]);
    expect(seen).toEqual([]);
  });

  it("before: with onUnreachable 'continue' the handler runs without a connection, the reason on the context", async () => {
    const { handler, seen, reads } = stack({
      onUnreachable: 'continue',
      attempts: (_e, c) => (c.job ? 1 : 5),
    });
    expect(await handler({ task: 'x' }, lambdaContext())).toMatchObject({ status: 'succeeded' });
    expect(reads.reads).toBe(1);
    expect(seen[0]!.context.db).toBeUndefined();
    expect(seen[0]!.context.dbError).toBeInstanceOf(DatabaseUnreachableError);
  });

  it('before: without target and budget it names the missing middlewares', async () => {
    const { secrets } = secretsCounting();
    const { handler } = stub();
    handler.use(databaseConnection({ secrets, applicationName: 'x' }));
    await expect(handler({}, lambdaContext())).rejects.toThrow(
      /use targetResolution and timeoutBudget first/,
    );
  });

  it('options are checked when the handler is built', () => {
    expect(() => databaseConnection({ secrets: {} as SecretsProvider, applicationName: 'x' })).toThrow(
      /^databaseConnection middleware: secrets: must be a SecretsProvider/,
    );
    const { secrets } = secretsCounting();
    expect(() => databaseConnection({ secrets, applicationName: 'x', attempts: 0 })).toThrow(/attempts/);
  });
});

describe('jobLogger', () => {
  it("after: one info line with the result's message, target, task and figures", async () => {
    const { lines, logger } = recordingLogger();
    const { handler } = stub({ status: 'succeeded', message: 'sampled in 5 ms', collectMs: 5 });
    handler
      .use(jobLogger({ logger, done: 'done', fields: (r) => ({ collectMs: r.collectMs }) }))
      .use(eventValidation({ tasks: ['sample'] }))
      .use(targetResolution({ env: envOf([target('a')]) }));
    await handler({ task: 'sample' }, lambdaContext());
    expect(lines).toEqual([
      { level: 'info', message: 'sampled in 5 ms', fields: { target: 'a', task: 'sample', collectMs: 5 } },
    ]);
  });

  it('after: without done, nothing is logged on success', async () => {
    const { lines, logger } = recordingLogger();
    const { handler } = stub();
    handler.use(jobLogger({ logger }));
    await handler({}, lambdaContext());
    expect(lines).toEqual([]);
  });

  it('onError: one error line, redacted, and the error still reaches the caller', async () => {
    const { lines, logger } = recordingLogger();
    const { handler } = stub(new Error('cannot connect to postgres://app:hunter2@db/x'));
    handler.use(jobLogger({ logger, done: 'done', failed: 'maintenance failed' }));
    await expect(handler({}, lambdaContext())).rejects.toThrow(/hunter2/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', message: 'maintenance failed' });
    expect(String(lines[0]!.fields?.error)).toContain('postgres://app:***@db/x');
    expect(String(lines[0]!.fields?.error)).not.toContain('hunter2');
  });

  it('onError: a bad event is logged too, without a target', async () => {
    const { lines, logger } = recordingLogger();
    const { handler } = stub();
    handler.use(jobLogger({ logger, failed: 'failed' })).use(eventValidation({ tasks: ['a'] }));
    await expect(handler({ task: 'b' }, lambdaContext())).rejects.toBeInstanceOf(BadInputError);
    expect(lines).toEqual([
      { level: 'error', message: 'failed', fields: { error: "event: task must be one of a, got 'b'" } },
    ]);
  });
});

describe('customResource', () => {
  const resource = (extra: Partial<Parameters<typeof customResource>[0]> = {}) => {
    const { handler, seen } = stub({ status: 'succeeded', count: 2 });
    handler.use(
      customResource({
        physicalResourceId: (p) => `res-${String(p.Name)}`,
        toEvent: (r) => ({ task: 'go', name: r.properties.Name, type: r.requestType }),
        toData: (r) => ({ Count: String((r as { count: number }).count) }),
        ...extra,
      }),
    );
    return { handler, seen };
  };
  const request = (RequestType: string, extra: Record<string, unknown> = {}) => ({
    RequestType,
    ResourceProperties: { Name: 'n1' },
    ...extra,
  });

  it('before and after: Create reaches the handler as its event; the result is answered as {PhysicalResourceId, Data}', async () => {
    const { handler, seen } = resource();
    const out = await handler(request('Create'), lambdaContext());
    expect(seen[0]!.event).toEqual({ task: 'go', name: 'n1', type: 'Create' });
    expect(seen[0]!.context.customResource).toMatchObject({
      requestType: 'Create',
      physicalResourceId: 'res-n1',
    });
    expect(out).toEqual({ PhysicalResourceId: 'res-n1', Data: { Count: '2' } });
  });

  it('before: Delete answers at once, the handler never runs', async () => {
    const { lines, logger } = recordingLogger();
    const { handler, seen } = resource({ logger, deleteMessage: 'kept' });
    const out = await handler(request('Delete', { PhysicalResourceId: 'old-id' }), lambdaContext());
    expect(out).toEqual({ PhysicalResourceId: 'old-id', Data: {} });
    expect(seen).toEqual([]);
    expect(lines.map((l) => l.message)).toEqual(['kept']);
  });

  it('before: a bad request is a one-line BadInputError; other events pass only with passThrough', async () => {
    const { handler, seen } = resource();
    await expect(handler(request('Replace'), lambdaContext())).rejects.toThrow(
      /^custom resource event: RequestType: /,
    );
    await expect(handler({ task: 'go' }, lambdaContext())).rejects.toBeInstanceOf(BadInputError);
    const through = resource({ passThrough: true });
    expect(await through.handler({ task: 'go' }, lambdaContext())).toEqual({ status: 'succeeded', count: 2 });
    expect(through.seen[0]!.context.customResource).toBeUndefined();
    expect(seen).toEqual([]);
  });

  it('onError: a failed Create fails the invocation (CloudFormation sees the deploy fail)', async () => {
    const { handler } = stub(new Error('migration failed'));
    handler.use(customResource({ physicalResourceId: () => 'r' }));
    await expect(handler(request('Create'), lambdaContext())).rejects.toThrow('migration failed');
  });

  it('options are checked when the handler is built', () => {
    expect(() => customResource({ physicalResourceId: 'x' as unknown as () => string })).toThrow(
      /^customResource middleware: physicalResourceId: must be a function/,
    );
  });
});
