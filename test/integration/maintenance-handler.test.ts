import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectAlertInputs } from '../../functions/alerting/inputs.ts';
import { BadInputError, JobFailedError } from '../../functions/errors.ts';
import { createMaintainerHandler, type MaintainerDeps } from '../../functions/handlers/maintainer.ts';
import { MAINTAINER_TASKS } from '../../functions/handlers/support/events.ts';
import { MAINTAIN_TASKS } from '../../functions/jobs/maintain.ts';
import type { DatabaseSecret, MetricDatum, MetricSink, SecretsProvider } from '../../functions/ports.ts';
import { runCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

const context = (ms = 900_000) => ({ getRemainingTimeInMillis: () => ms }) as unknown as Context;

function deps(extra: Partial<MaintainerDeps> = {}) {
  const u = new URL(db.url);
  const secrets: SecretsProvider = {
    async getDatabaseSecret(arn: string): Promise<DatabaseSecret> {
      if (arn !== 'arn:test:secret') throw new Error('unknown secret');
      return {
        username: decodeURIComponent(u.username || 'postgres'),
        password: decodeURIComponent(u.password),
      };
    },
  };
  const datums: MetricDatum[] = [];
  const sink: MetricSink = {
    async put(d) {
      datums.push(...d);
      return { sent: d.length, failed: 0, calls: 1, errors: [] };
    },
  };
  const env = {
    DGM_TARGETS: JSON.stringify([
      {
        name: 'primary',
        host: u.hostname,
        port: Number(u.port),
        database: u.pathname.slice(1),
        secretArn: 'arn:test:secret',
      },
    ]),
    DGM_CONFIG: JSON.stringify({ maintenance: { lockTimeoutMs: 500 } }),
  };
  const handler = createMaintainerHandler({
    secrets,
    env,
    tls: 'disable',
    metrics: () => sink,
    sleep: async () => {},
    ...extra,
  });
  return { handler, datums };
}

describe('the maintainer handler', () => {
  it('runs a task from the event and returns the job result, with its figures for the metric sink', async () => {
    const { handler, datums } = deps();
    const dry = (await handler({ task: 'partitions', dryRun: true }, context())) as {
      status: string;
      job: string;
    };
    expect(dry).toMatchObject({ job: 'maintain', status: 'planned', target: 'primary', dryRun: true });
    // A dry run reports nothing: it did nothing.
    expect(datums).toEqual([]);
    const run = (await handler({ task: 'all', reason: 'schedule' }, context())) as {
      status: string;
      constitutional_compliance: { validated: boolean };
    };
    expect(run.status).toBe('succeeded');
    expect(run.constitutional_compliance.validated).toBe(true);
    expect(datums.map((d) => d.name)).toEqual(
      expect.arrayContaining([
        'MaintenanceRunSeconds',
        'MaintenanceActionsSucceeded',
        'MaintenanceActionsFailed',
      ]),
    );
    for (const d of datums) expect(d.dimensions).toEqual({ DBInstance: 'primary', Task: 'all' });
  });

  it('rejects a bad event with a one-line reason before touching the database', async () => {
    const { handler } = deps();
    await expect(handler({ task: 'explode' }, context())).rejects.toThrow(
      new BadInputError(
        // Every registered maintenance task, then all, optimize, migrate.
        `event: task must be one of ${MAINTAINER_TASKS.join(', ')}, got 'explode'`,
      ),
    );
    await expect(handler({ task: 'all', extra: 1 }, context())).rejects.toThrow(/event: Unrecognized key/);
    await expect(handler({ task: 'all', target: 'nope' }, context())).rejects.toThrow(
      /unknown target 'nope'/,
    );
  });

  it('runs the schema migration as a one-off task', async () => {
    const { handler } = deps();
    const result = (await handler({ task: 'migrate' }, context())) as { job: string; message: string };
    expect(result).toMatchObject({ job: 'migrate', message: 'schema is up to date' });
  });

  it('on failed actions fails the invocation with the result and counts them; the alert is left to the sampler', async () => {
    await db.client.query(
      `INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval) VALUES ('public.gone', 'ts', '1 month')`,
    );
    try {
      const { handler, datums } = deps();
      // The invocation fails (Lambda Errors, failure destination), carrying the job's result.
      const thrown = await handler({ task: 'partitions' }, context()).catch((err: unknown) => err);
      expect(thrown).toBeInstanceOf(JobFailedError);
      const result = (thrown as JobFailedError).result as {
        status: string;
        runId: string;
        actions: Array<{ kind: string; status: string; error?: string }>;
      };
      expect(result.status).toBe('failed');
      expect(result.actions.filter((a) => a.status === 'failed')).toEqual([
        expect.objectContaining({ kind: 'partition_invalid', error: 'table public.gone does not exist' }),
      ]);
      expect(datums.find((d) => d.name === 'MaintenanceActionsFailed')?.value).toBe(1);
      // The maintainer sends no notification of its own (it has no SNS access): the sampler's
      // maintenance_failed rule reads this audited run at its next sample and alerts once.
      const inputs = await collectAlertInputs(db.client);
      expect(inputs.maintenance.available).toBe(true);
      if (!inputs.maintenance.available) return;
      const run = inputs.maintenance.runs.find((r) => r.runId === result.runId);
      expect(run).toMatchObject({ failed: 1 });
      expect(run?.failures[0]?.error).toContain('public.gone');
    } finally {
      await db.client.query(`DELETE FROM dgm.partition_config WHERE parent_table = 'public.gone'`);
    }
  });

  it('keeps every statement below the Lambda timeout', async () => {
    await neverAnalyzed();
    const { handler } = deps();
    // 70 s left: statements get 10 s (a minute is kept back), and no action starts after the deadline.
    const result = (await handler({ task: 'vacuum', dryRun: true }, context(70_000))) as { status: string };
    expect(result.status).toBe('planned');
    const late = (await handler({ task: 'statistics' }, context(30_000))) as {
      actions: Array<{ status: string; error?: string }>;
    };
    expect(late.actions.length).toBeGreaterThan(0);
    expect(late.actions.every((a) => a.status === 'skipped' && /time budget/.test(a.error ?? ''))).toBe(true);
  });
});

let probes = 0;
/** A table the statistics task must analyze (never analyzed): it re-analyzes only what changed. */
async function neverAnalyzed(): Promise<void> {
  await db.client.query(`CREATE TABLE dgm.statistics_probe_${++probes} (id int)`);
}

function cli(args: string[]) {
  return runCliProcess(args, { env: { DATABASE_URL: '' } });
}

describe('dgm-db-ops maintain', () => {
  it('--dry-run --json prints one JSON document with the plan; progress goes to stderr', async () => {
    await neverAnalyzed();
    const r = await cli([
      'maintain',
      '--database-url',
      db.url,
      '--task',
      'statistics',
      '--dry-run',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ job: 'maintain', task: 'statistics', status: 'planned', dryRun: true });
    expect(doc.actions.length).toBeGreaterThan(0);
    expect(r.stderr).toContain('maintain statistics: planning (dry run)');
  });

  it('prints the actions as a table, and the SQL of the plan in a dry run', async () => {
    await neverAnalyzed();
    const r = await cli(['maintain', '--database-url', db.url, '--task', 'statistics', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^maintain statistics \(dry run\): \d+ action\(s\) planned/);
    expect(r.stdout).toMatch(/status\s+task\s+action\s+target\s+ms\s+reason/);
    expect(r.stdout).toMatch(/-- 1\. statistics \w+ .*\n.+;/);
    const run = await cli(['maintain', '--database-url', db.url, '--task', 'indexes']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('index health (usage statistics cover');
  });

  it('exits 2 with a one-line reason on a bad task', async () => {
    const r = await cli(['maintain', '--database-url', db.url, '--task', 'everything']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `dgm-db-ops: maintain: --task must be one of ${MAINTAIN_TASKS.join(', ')}, got 'everything'\n`,
    );
    expect(r.stdout).toBe('');
  });
});
