import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoInvoke } from '../../bin/cli/invoke.ts';
import { renderSnsPublish } from '../../functions/alerting/render.ts';
import { parseConfig } from '../../functions/config.ts';
import { silentLogger } from '../../functions/ports.ts';
import { runCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { tempDir } from '../support/tmp.ts';

function runCli(args: string[], env: Record<string, string> = {}) {
  return runCliProcess(args, {
    env: { DATABASE_URL: db.url, SLACK_WEBHOOK_URL: '', ...env },
    // The local alert store lives under the working directory (.dgm-db-ops/alerts).
    cwd: tmp,
  });
}

let db: TestDatabase;
const tmp = tempDir('dgm-invoke-test');
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

describe('the demo step', () => {
  it('runs the migrator, sampler and maintainer handlers on the demo database with their scheduled events', async () => {
    // A target name of its own: the sampler's alert state goes to .dgm-db-ops/alerts in the working directory.
    const config = parseConfig({ target: `invoke-demo-${process.pid}` });
    try {
      const text = await demoInvoke(db.client, { config, logger: silentLogger });
      const lines = text.split('\n');
      expect(lines[0]).toMatch(/^The Lambda handlers, run locally/);
      expect(lines[1]).toMatch(
        /^ {2}migrator +\{"task":"migrate","dryRun":true\} +planned: 0 migration\(s\) pending$/,
      );
      expect(lines[2]).toMatch(
        /^ {2}sampler +\{"task":"sample","reason":"schedule"\} +succeeded: sampled in /,
      );
      expect(lines[3]).toMatch(
        /^ {2}maintainer +\{"task":"partitions","dryRun":true,"reason":"schedule"\} +planned: /,
      );
      expect(lines[4]).toMatch(/^In AWS: aws lambda invoke /);
    } finally {
      const database = `${db.client.host}:${db.client.port}/${db.name}`;
      rmSync(
        join('.dgm-db-ops', 'alerts', `${encodeURIComponent(`alerts#${config.target}@${database}`)}.json`),
        { force: true },
      );
    }
  });
});

describe('dgm-db-ops invoke: the Lambda handlers, run locally', () => {
  it('sampler: one JSON document on stdout, the metrics on stderr', async () => {
    const run = await runCli(['invoke', 'sampler', '--event', '{"task":"sample"}', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ job: 'sample', status: 'succeeded', target: 'local' });
    expect(result.metrics).toContainEqual(expect.objectContaining({ name: 'Up', value: 1 }));
    expect(run.stderr).toMatch(/^metric Up\{DBInstance=local\} 1 Count$/m);
    // Alerts evaluated after the sample, their state in the CLI's file store.
    expect(result.alerts).toMatchObject({ target: 'local', stateStore: 'ok' });
    expect(existsSync(join(tmp, '.dgm-db-ops', 'alerts'))).toBe(true);
  });

  it('maintainer: --dry-run becomes the event dryRun, and the plan is returned', async () => {
    const run = await runCli([
      'invoke',
      'maintainer',
      '--event',
      '{"task":"partitions"}',
      '--dry-run',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      job: 'maintain',
      task: 'partitions',
      dryRun: true,
      status: 'planned',
    });
  });

  it('migrator: the ad hoc migrate, event read from a file', async () => {
    const file = join(tmp, 'migrate.json');
    writeFileSync(file, JSON.stringify({ task: 'migrate' }));
    const run = await runCli(['invoke', 'migrator', '--event', `@${file}`, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      job: 'migrate',
      status: 'succeeded',
      message: 'schema is up to date',
    });
  });

  it('the handler validates the event as in AWS: bad input exits 2 with one line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['invoke', 'sampler', '--event', '{"task":"partitions"}'],
        /^dgm-db-ops: event: task must be one of sample, got 'partitions'\n$/,
      ],
      [
        ['invoke', 'maintainer', '--event', '{"task":"partitions","target":"elsewhere"}'],
        /^dgm-db-ops: event: unknown target 'elsewhere' \(one of local\)\n$/,
      ],
      [
        ['invoke', 'maintainer', '--event', '{"task":"partitions","force":true}'],
        /^dgm-db-ops: event: Unrecognized key: "force"\n$/,
      ],
      [['invoke', 'sampler', '--event', 'task=sample'], /^dgm-db-ops: invoke: --event is not valid JSON/],
      [['invoke', 'sampler'], /^dgm-db-ops: invoke: --event is required/],
      [
        ['invoke', 'frobnicator', '--event', '{}'],
        /^dgm-db-ops: invoke: name one function: sampler, maintainer, migrator, slack-notifier, fanout\n$/,
      ],
      [['invoke', 'slack-notifier', '--event', '{"Records":[]}'], /^dgm-db-ops: SNS event: Records: /],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(
        run.stderr
          .split('\n')
          .filter((l) => l.startsWith('dgm-db-ops:'))
          .join('\n') + '\n',
      ).toMatch(message);
      expect(run.stdout).toBe('');
    }
  });

  it('slack-notifier: renders without a webhook, posts with --webhook-url', async () => {
    const notification = {
      id: 'n1',
      target: 'local',
      generatedAt: '2026-03-01T10:00:00.000Z',
      heldBack: [],
      items: [
        {
          transition: 'firing' as const,
          title: 'Cache hit ratio',
          unit: 'ratio',
          runbook: 'Look at the tables with the lowest ratio',
          alert: {
            name: 'cache_hit_ratio',
            severity: 'warning' as const,
            message: 'cache hit ratio 0.82 below 0.9',
            metric_value: 0.82,
            threshold: 0.9,
            timestamp: '2026-03-01T10:00:00.000Z',
            target: 'local',
            resource: 'database',
          },
        },
      ],
    };
    const message = JSON.parse(renderSnsPublish(notification, 'arn:aws:sns:eu-west-1:1:t').Message).default;
    const event = JSON.stringify({ Records: [{ Sns: { MessageId: 'm1', Message: message } }] });
    const rendered = await runCli(['invoke', 'slack-notifier', '--event', event, '--json']);
    expect(rendered.code, rendered.stderr).toBe(0);
    const out = JSON.parse(rendered.stdout);
    expect(out.delivered).toBe(0);
    expect(JSON.stringify(out.rendered)).toContain('Cache hit ratio');

    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        bodies.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const posted = await runCli([
        'invoke',
        'slack-notifier',
        '--event',
        event,
        '--webhook-url',
        url,
        '--json',
      ]);
      expect(posted.code, posted.stderr).toBe(0);
      expect(JSON.parse(posted.stdout)).toMatchObject({ delivered: 1 });
      expect(bodies).toHaveLength(1);
      expect(JSON.parse(bodies[0]!).blocks[0].type).toBe('header');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('invoke for a new user: default tasks, help with the events, readable results', () => {
  it("invoke sampler --event '{}' samples (task defaults to sample) and prints the result readably", async () => {
    const run = await runCli(['invoke', 'sampler', '--event', '{}']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^invoke sampler: succeeded in \d+ ms - sampled in /);
    expect(run.stdout).toMatch(/\n\s*area\s+KPI\s+value/);
    expect(() => JSON.parse(run.stdout)).toThrow();
  });

  it('invoke migrator without a task runs migrate', async () => {
    const run = await runCli(['invoke', 'migrator', '--event', '{"dryRun":true}', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ job: 'migrate', status: 'planned' });
  });

  it('the maintainer has no default task: a missing task is bad input', async () => {
    const run = await runCli(['invoke', 'maintainer', '--event', '{}']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^dgm-db-ops: event: task: /m);
  });

  it('invoke --help lists every function with its event shape and an example', async () => {
    const run = await runCli(['invoke', '--help']);
    expect(run.code).toBe(0);
    for (const fn of ['sampler', 'maintainer', 'migrator', 'slack-notifier']) {
      expect(run.stdout).toMatch(new RegExp(`\\n {2}${fn}\\n {4}shape: +\\{`));
      expect(run.stdout).toMatch(new RegExp(`example: dgm-db-ops invoke ${fn} --event '\\{`));
    }
  });

  it('a failed run says on stdout what failed (exit 1), with or without --json', async () => {
    const config = join(tmp, 'other-hash.json');
    writeFileSync(config, JSON.stringify({ constitutionalHash: '0123456789abcdef0123' }));
    // Refused at the constitution gate: nothing changes.
    const event = '{"task":"partitions"}';
    const [text, json] = await Promise.all([
      runCli(['invoke', 'maintainer', '--event', event, '--config', config]),
      runCli(['invoke', 'maintainer', '--event', event, '--config', config, '--json']),
    ]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^invoke maintainer: (failed|refused)/);
    expect(text.stdout).toMatch(/constitution/i);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).status).toMatch(/failed|refused/);
  });
});
