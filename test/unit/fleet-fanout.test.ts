import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
// @ts-expect-error dynalite ships no types
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoDbTargetRegistry,
  itemFromTarget,
  seedRegistry,
} from '../../functions/adapters/aws/dynamodb-target-registry.ts';
import { BadInputError } from '../../functions/errors.ts';
import { createFanOutHandler, type FanOutListResult } from '../../functions/handlers/fanout.ts';
import { fanOutSummary } from '../../functions/handlers/middleware/fan-out-summary.ts';
import { createRegistryHandler } from '../../functions/handlers/registry.ts';
import { fanOutMetrics, planFanOut, runFanOut } from '../../functions/jobs/fanout.ts';
import type { MetricDatum, RegisteredTarget } from '../../functions/ports.ts';

const target = (
  name: string,
  placement?: string,
  extra: Partial<RegisteredTarget> = {},
): RegisteredTarget => ({
  name,
  host: `${name}.example`,
  port: 5432,
  database: 'app',
  secretArn: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}`,
  placement,
  config: {},
  ...extra,
});

describe('planFanOut', () => {
  const placements = {
    a: { sampler: 'fn-a-sampler', maintainer: 'fn-a-maintainer', migrator: 'fn-a-migrator' },
    b: { sampler: 'fn-b-sampler', maintainer: 'fn-b-maintainer', migrator: 'fn-b-migrator' },
  };

  it("gives each enabled target its placement's function for the job", () => {
    const targets = [target('one', 'a'), target('two', 'b'), target('off', 'a', { enabled: false })];
    expect(planFanOut(targets, 'sample', placements).items).toEqual([
      { target: 'one', function: 'fn-a-sampler' },
      { target: 'two', function: 'fn-b-sampler' },
    ]);
    expect(planFanOut(targets, 'vacuum', placements).items.map((i) => i.function)).toEqual([
      'fn-a-maintainer',
      'fn-b-maintainer',
    ]);
    expect(planFanOut(targets, 'migrate', placements).items.map((i) => i.function)).toEqual([
      'fn-a-migrator',
      'fn-b-migrator',
    ]);
  });

  it('skips, for itself only, a target whose placement is not deployed or not named', () => {
    const plan = planFanOut(
      [target('one', 'a'), target('lost', 'z'), target('nowhere')],
      'sample',
      placements,
    );
    expect(plan.items).toEqual([{ target: 'one', function: 'fn-a-sampler' }]);
    expect(plan.skipped).toEqual([
      { target: 'lost', status: 'skipped', error: "placement 'z' is not deployed (known: a, b)" },
      { target: 'nowhere', status: 'skipped', error: 'the registry entry names no placement' },
    ]);
  });
});

describe('runFanOut', () => {
  it('never runs more than the concurrency limit at once, and runs every target', async () => {
    let running = 0;
    let peak = 0;
    const names = Array.from({ length: 20 }, (_, i) => `t${i}`);
    const run = await runFanOut(
      'sample',
      names,
      async (t) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setImmediate(r));
        running--;
        return { target: t, status: 'ok' };
      },
      { concurrency: 3, targetTimeoutMs: 10_000 },
    );
    expect(peak).toBe(3);
    expect(run.outcomes.map((o) => o.target)).toEqual(names);
    expect(run.succeeded).toBe(20);
  });

  it('a target that throws or does not answer fails alone; its slot goes on to the next target', async () => {
    let release: () => void = () => {};
    const hung = new Promise<void>((r) => {
      release = r;
    });
    let aborted = false;
    const run = await runFanOut(
      'sample',
      ['hangs', 'throws', 'fine1', 'fine2'],
      async (t, signal) => {
        if (t === 'hangs') {
          signal.addEventListener('abort', () => {
            aborted = true;
          });
          await hung;
          return { target: t, status: 'ok' };
        }
        if (t === 'throws') throw new Error('secret not found');
        return { target: t, status: 'ok' };
      },
      { concurrency: 1, targetTimeoutMs: 50 },
    );
    expect(run.outcomes.map((o) => [o.target, o.status])).toEqual([
      ['hangs', 'timeout'],
      ['throws', 'error'],
      ['fine1', 'ok'],
      ['fine2', 'ok'],
    ]);
    expect(run.outcomes[1]!.error).toBe('secret not found');
    expect(aborted).toBe(true);
    release();
    await run.settled();
  });
});

describe('fanOutMetrics', () => {
  it('two fleet figures per job, one datum per failed target, and Up = 0 for a sample that never answered', () => {
    const at = new Date('2026-12-07T00:00:00Z');
    const datums = fanOutMetrics(
      'sample',
      [
        { target: 'ok1', status: 'ok' },
        { target: 'down', status: 'failed' },
        { target: 'hung', status: 'timeout' },
      ],
      at,
    );
    const show = (d: MetricDatum) =>
      `${d.name}{${Object.entries(d.dimensions).map(([k, v]) => `${k}=${v}`)}}=${d.value}`;
    expect(datums.map(show)).toEqual([
      'FanOutTargets{Job=sample}=3',
      'FanOutFailures{Job=sample}=2',
      'FanOutTargetFailed{DBInstance=down,Job=sample}=1',
      'FanOutTargetFailed{DBInstance=hung,Job=sample}=1',
      'Up{DBInstance=hung}=0',
    ]);
    // Maintenance failures never touch Up: the database may be perfectly reachable.
    expect(fanOutMetrics('vacuum', [{ target: 'x', status: 'timeout' }], at).map((d) => d.name)).toEqual([
      'FanOutTargets',
      'FanOutFailures',
      'FanOutTargetFailed',
    ]);
  });
});

describe('the registry on DynamoDB (dynalite)', () => {
  let server: Server;
  let client: DynamoDBClient;
  beforeAll(async () => {
    server = dynalite({ createTableMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    await client.send(
      new CreateTableCommand({
        TableName: 'registry',
        AttributeDefinitions: [{ AttributeName: 'name', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'name', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("a deploy seeds cdk.json's targets, removes the ones it dropped, and never touches an operator's entry", async () => {
    const registry = new DynamoDbTargetRegistry('registry', client);
    // An operator registered 'manual' and also 'clash' before cdk.json named it.
    for (const t of [target('manual', 'a'), target('clash', 'a', { host: 'operator.example' })]) {
      await client.send(new PutItemCommand({ TableName: 'registry', Item: itemFromTarget(t) }));
    }
    expect(
      await seedRegistry(client, 'registry', [target('one', 'a'), target('two', 'a'), target('clash', 'b')]),
    ).toEqual({ put: 2, removed: [], conflicts: ['clash'] });
    expect(
      await seedRegistry(client, 'registry', [
        target('one', 'a', { config: { monitoring: { topTables: 3 } } }),
      ]),
    ).toEqual({ put: 1, removed: ['two'], conflicts: [] });
    const all = await registry.list();
    expect(all.map((t) => [t.name, t.host])).toEqual([
      ['clash', 'operator.example'],
      ['manual', 'manual.example'],
      ['one', 'one.example'],
    ]);
    expect((await registry.get('one'))?.config).toEqual({ monitoring: { topTables: 3 } });
    expect(await registry.get('two')).toBeUndefined();
  });

  it('the fan-out lists the registry as Distributed Map items, and a bad event is one readable line', async () => {
    const handler = createFanOutHandler({
      registry: new DynamoDbTargetRegistry('registry', client),
      sink: { put: async () => ({ sent: 0, failed: 0, calls: 0, errors: [] }) },
      env: { DGM_PLACEMENTS: JSON.stringify({ a: { sampler: 'fn-a' } }) },
    });
    const listed = (await handler({ action: 'list', task: 'sample' }, {} as Context)) as FanOutListResult;
    expect(listed.items).toEqual([
      { target: 'clash', function: 'fn-a' },
      { target: 'manual', function: 'fn-a' },
      { target: 'one', function: 'fn-a' },
    ]);
    await expect(handler({ action: 'list', task: 'reboot' }, {} as Context)).rejects.toThrow(BadInputError);
    await expect(handler({ task: 'sample' }, {} as Context)).rejects.toThrow(/runs only locally/);
  });

  it('the registry custom resource seeds bundled and template targets, and starts the migrate fan-out', async () => {
    const seeded: RegisteredTarget[][] = [];
    let started = 0;
    const handler = createRegistryHandler({
      seedTargets: async () => [target('one', 'a')],
      seed: async (targets) => {
        seeded.push(targets);
        return { put: targets.length, removed: [], conflicts: [] };
      },
      startMigration: async () => {
        started++;
        return 'arn:execution';
      },
    });
    const event = (Kind: string, extra: Record<string, unknown> = {}) => ({
      RequestType: 'Create',
      ResourceProperties: { Kind, ...extra },
    });
    await handler(event('targets', { Targets: JSON.stringify([target('demo', 'demo')]) }), {} as Context);
    expect(seeded[0]!.map((t) => t.name)).toEqual(['one', 'demo']);
    expect(await handler(event('schema'), {} as Context)).toMatchObject({
      Data: { Execution: 'arn:execution' },
    });
    expect(started).toBe(1);
    await handler(
      { RequestType: 'Delete', PhysicalResourceId: 'x', ResourceProperties: { Kind: 'schema' } },
      {} as Context,
    );
    expect(started).toBe(1);
    await expect(
      handler(event('targets', { Targets: JSON.stringify([{ name: 'bad' }]) }), {} as Context),
    ).rejects.toThrow(BadInputError);
  });
});

describe('fan-out invocations', () => {
  it('the marker leaves the event before validation, and the result comes back as its status and message only', async () => {
    const seen: unknown[] = [];
    const handler = middy(async (event: unknown) => {
      seen.push(event);
      return {
        job: 'sample',
        status: 'failed',
        message: 'x'.repeat(2000),
        snapshot: { big: 'y'.repeat(300_000) },
      };
    }).use(fanOutSummary());
    const summary = await handler({ task: 'sample', target: 'db1', fanOut: true }, {} as Context);
    expect(seen).toEqual([{ task: 'sample', target: 'db1' }]);
    expect(summary).toEqual({ job: 'sample', status: 'failed', message: 'x'.repeat(500) });
    // Without the marker, the full result, as `invoke` and the CLI show it.
    const full = (await handler({ task: 'sample' }, {} as Context)) as { snapshot?: unknown };
    expect(full.snapshot).toBeDefined();
  });
});

describe('the fan-out report', () => {
  it("reads the Map's outcomes: a job that reported failed fails its target, an invocation error or timeout too", async () => {
    const datums: MetricDatum[] = [];
    const handler = createFanOutHandler({
      registry: { list: async () => [], get: async () => undefined },
      sink: {
        put: async (d) => {
          datums.push(...d);
          return { sent: d.length, failed: 0, calls: 1, errors: [] };
        },
      },
      env: {},
    });
    const report = await handler(
      {
        action: 'report',
        task: 'sample',
        outcomes: [
          { target: 'fine', status: 'ok', jobStatus: 'succeeded' },
          { target: 'down', status: 'ok', jobStatus: 'failed' },
          { target: 'hung', status: 'timeout', error: 'States.Timeout: ' },
          { target: 'broken', status: 'error', error: 'Lambda.Unknown: boom' },
        ],
        skipped: [{ target: 'lost', status: 'skipped', error: "placement 'z' is not deployed" }],
      },
      {} as Context,
    );
    expect(report).toMatchObject({ status: 'failed', targets: 5, succeeded: 1, failed: 4 });
    expect(
      (report as { failures: Array<{ target: string; status: string }> }).failures.map(
        (f) => `${f.target}:${f.status}`,
      ),
    ).toEqual(['lost:skipped', 'down:failed', 'hung:timeout', 'broken:error']);
    expect(datums.filter((d) => d.name === 'FanOutTargetFailed').map((d) => d.dimensions.DBInstance)).toEqual(
      ['lost', 'down', 'hung', 'broken'],
    );
  });
});
