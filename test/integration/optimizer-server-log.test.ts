import { DescribeDBLogFilesCommand, DownloadDBLogFilePortionCommand, RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RdsLogSource } from '../../functions/adapters/aws/rds-log-source.ts';
import { ServerLogSource } from '../../functions/adapters/local/server-log-source.ts';
import { parseConfig } from '../../functions/config.ts';
import { connect } from '../../functions/db/connection.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import { optimizeDatabase } from '../../functions/jobs/optimize.ts';
import { readServerLogSamples } from '../../functions/optimizer/server-log.ts';
import { SAMPLES_PER_STATEMENT } from '../../functions/optimizer/workload.ts';
import { testServer } from '../support/db.ts';
import { type LoggingServer, startLoggingServer } from '../support/logging-server.ts';

let server: LoggingServer;
let client: pg.Client;
let url: string;
const DB = 'shop';

/** The application: its own connection, so the database's log_min_duration_statement applies. */
async function asApplication<T>(fn: (app: pg.Client) => Promise<T>): Promise<T> {
  const app = await connect({ url });
  try {
    return await fn(app);
  } finally {
    await app.end();
  }
}

interface Sample {
  queryid: string;
  query: string;
  source: string;
  duration_ms: number | null;
  plan: string | null;
}

async function samples(): Promise<Sample[]> {
  const { rows } = await client.query<Sample>(
    'SELECT queryid::text, query, source, duration_ms, plan FROM dgm.query_samples ORDER BY id',
  );
  return rows;
}

async function queryidOf(pattern: string): Promise<string> {
  const { rows } = await client.query<{ queryid: string }>(
    `SELECT queryid::text FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query LIKE $1
     ORDER BY calls DESC LIMIT 1`,
    [pattern],
  );
  if (!rows[0]) throw new Error(`no statement like ${pattern}`);
  return rows[0].queryid;
}

/**
 * Reads the log until `done` holds: the logging collector writes asynchronously, so a statement that has
 * returned may not be in the file yet.
 */
async function readUntil(done: (s: Sample[]) => boolean, target = 'local'): Promise<Sample[]> {
  const source = new ServerLogSource(client);
  const until = Date.now() + 60_000;
  for (;;) {
    const result = await readServerLogSamples(client, source, { target, maxBytes: 4 * 1024 * 1024 });
    expect(result.available, result.reason).toBe(true);
    const now = await samples();
    if (done(now)) return now;
    if (Date.now() > until)
      throw new Error(
        `samples not found in the log: ${JSON.stringify(now.map((s) => [s.queryid, s.query, !!s.plan]))}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  server = await startLoggingServer(testServer().label);
  const admin = await connect({ url: server.url });
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.query(`ALTER DATABASE ${DB} SET log_min_duration_statement = 0`);
  await admin.end();
  const u = new URL(server.url);
  u.pathname = `/${DB}`;
  url = u.toString();
  client = await connect({ url });
  await migrate(client, parseConfig({}));
  await client.query(`CREATE TABLE public.orders (id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
                        payload jsonb NOT NULL)`);
  await client.query(`INSERT INTO public.orders SELECT g, g % 500, CASE WHEN g % 50 = 0 THEN 'open' ELSE 'done' END,
                        jsonb_build_object('k', g % 100) FROM generate_series(1, 20000) g`);
  await client.query('ANALYZE public.orders');
});

afterAll(async () => {
  await client?.end().catch(() => {});
  await server?.stop();
});

describe('literal samples from the server log', () => {
  it("stores the application's statements with their constants, matched by fingerprint, a bounded number per statement", async () => {
    await asApplication(async (app) => {
      // Extended protocol: the log has the text with $1 and the parameters in a DETAIL line.
      for (let c = 1; c <= 8; c++)
        await app.query('SELECT id, status FROM orders WHERE customer_id = $1', [c]);
      // Simple protocol, over two lines.
      await app.query(`SELECT count(*) FROM orders\n WHERE status = 'secret-literal-7319'`);
      // The tool's own statement of the same shape (same fingerprint), a utility statement, and EXPLAIN.
      await app.query('SELECT /* dgm-db-ops:sampler */ id, status FROM orders WHERE customer_id = 99');
      await app.query('ANALYZE orders');
      await app.query('EXPLAIN SELECT id FROM orders WHERE customer_id = 5');
      // auto_explain's plan, for a statement also logged by log_min_duration_statement.
      await app.query(`LOAD 'auto_explain'`);
      await app.query('SET auto_explain.log_min_duration = 0');
      await app.query(`SELECT id FROM orders WHERE payload @> '{"k": 42}'`);
    });
    const byCustomer = await queryidOf('SELECT id, status FROM orders WHERE customer_id = $1%');
    const count = await queryidOf('SELECT count(*) FROM orders%');
    const contains = await queryidOf('SELECT id FROM orders WHERE payload @> $1%');
    const all = await readUntil(
      (s) =>
        s.some((x) => x.queryid === byCustomer && x.query.includes("= '8'")) &&
        s.some((x) => x.queryid === count) &&
        s.some((x) => x.queryid === contains && x.plan),
    );
    const customer = all.filter((s) => s.queryid === byCustomer);
    expect(customer.length).toBeLessThanOrEqual(SAMPLES_PER_STATEMENT);
    for (const s of customer)
      expect(s.query).toMatch(/^SELECT id, status FROM orders WHERE customer_id = '\d'$/);
    const counted = all.find((s) => s.queryid === count)!;
    expect(counted).toMatchObject({
      query: "SELECT count(*) FROM orders\n WHERE status = 'secret-literal-7319'",
      source: 'server_log',
    });
    expect(counted.duration_ms).toBeGreaterThanOrEqual(0);
    const planned = all.find((s) => s.queryid === contains && s.plan)!;
    expect(planned.query).toBe(`SELECT id FROM orders WHERE payload @> '{"k": 42}'`);
    expect(planned.plan).toMatch(/Scan on orders/);
    // Never the tool's own, a utility statement, or a text still holding a $n.
    for (const s of all) {
      expect(s.query).not.toContain('dgm-db-ops');
      expect(s.query).not.toMatch(/^\s*(ANALYZE|EXPLAIN|LOAD|SET)\b/i);
      expect(s.query).not.toMatch(/\$\d/);
    }
    // The position is kept: read again, nothing of the application is new.
    const { rows } = await client.query<{ marker: string }>(
      `SELECT marker FROM dgm.server_log_positions WHERE target = 'local'`,
    );
    expect(Number(rows[0]!.marker)).toBeGreaterThan(0);
    const again = await readServerLogSamples(client, new ServerLogSource(client), {
      target: 'local',
      maxBytes: 1 << 20,
    });
    expect(again.matched).toBe(0);
  });

  it('a run that cannot read all that is left reads the newest part of the log', async () => {
    // More log than one run may read (each logged statement is about 1 KiB), then the newest statement.
    await asApplication(async (app) => {
      for (let i = 0; i < 200; i++)
        await app.query(`SELECT id FROM orders WHERE customer_id = ${i} AND status <> '${'x'.repeat(900)}'`);
      await app.query(`SELECT count(*) FROM orders WHERE payload ? 'newest-7731'`);
    });
    const queryid = await queryidOf('SELECT count(*) FROM orders WHERE payload ? $1%');
    // Until the logging collector has written it.
    for (const until = Date.now() + 60_000; ; ) {
      const { rows } = await client.query<{ written: boolean }>(
        `SELECT bool_or(pg_read_file(current_setting('log_directory') || '/' || name) LIKE '%newest-7731%') AS written
         FROM pg_ls_logdir() WHERE name LIKE '%.log'`,
      );
      if (rows[0]?.written) break;
      if (Date.now() > until) throw new Error('the statement never reached the log');
      await new Promise((r) => setTimeout(r, 100));
    }
    // A target read for the first time, with a bound far below the log's size: one run gets the newest.
    const maxBytes = 64 * 1024;
    const { rows: size } = await client.query<{ bytes: string }>(
      `SELECT sum(size)::text AS bytes FROM pg_ls_logdir() WHERE name LIKE '%.log'`,
    );
    expect(Number(size[0]!.bytes)).toBeGreaterThan(2 * maxBytes);
    const result = await readServerLogSamples(client, new ServerLogSource(client), {
      target: 'tail',
      maxBytes,
    });
    expect(result.available, result.reason).toBe(true);
    expect(result.bytesRead).toBeLessThanOrEqual(maxBytes);
    const newest = (await samples()).filter((s) => s.queryid === queryid).map((s) => s.query);
    expect(newest).toContain(`SELECT count(*) FROM orders WHERE payload ? 'newest-7731'`);
  });

  it('optimize reads the log in its run and no literal reaches its logs or its result', async () => {
    await asApplication(async (app) => {
      for (let i = 0; i < 3; i++)
        await app.query(`SELECT id FROM orders WHERE status = 'secret-literal-8841' AND customer_id = ${i}`);
    });
    const queryid = await queryidOf('SELECT id FROM orders WHERE status = $1 AND customer_id = $2%');
    const lines: string[] = [];
    const logger = {
      info: (m: string, f?: Record<string, unknown>) => lines.push(m + JSON.stringify(f ?? {})),
      warn: (m: string, f?: Record<string, unknown>) => lines.push(m + JSON.stringify(f ?? {})),
      error: (m: string, f?: Record<string, unknown>) => lines.push(m + JSON.stringify(f ?? {})),
    };
    const until = Date.now() + 60_000;
    let found = false;
    while (!found) {
      const result = await optimizeDatabase(client, parseConfig({}), {
        logSource: new ServerLogSource(client),
        logger,
      });
      expect(result.workload.serverLog).toMatchObject({ available: true, source: 'server' });
      expect(JSON.stringify(result.workload.serverLog)).not.toContain('secret-literal');
      found = (await samples()).some((s) => s.queryid === queryid && s.query.includes('secret-literal-8841'));
      if (!found && Date.now() > until) throw new Error('the statement never reached the samples');
    }
    expect(lines.some((l) => l.includes('server log'))).toBe(true);
    expect(lines.join('\n')).not.toContain('secret-literal');
  });

  it("reads an RDS instance's log on from the marker RDS returned, this database's statements only", async () => {
    await asApplication((app) =>
      app.query('SELECT id FROM orders WHERE customer_id = $1 AND id > $2', [3, 10]),
    );
    const queryid = await queryidOf('SELECT id FROM orders WHERE customer_id = $1 AND id > $2%');
    const prefix = (db: string) => `2026-12-07 01:02:03 UTC:10.0.1.5(5123):app@${db}:[4242]:`;
    await client.query(`ALTER SYSTEM SET log_line_prefix = '%t:%r:%u@%d:[%p]:'`);
    await client.query('SELECT pg_reload_conf()');
    try {
      const rds = mockClient(RDSClient);
      rds.on(DescribeDBLogFilesCommand).resolves({
        DescribeDBLogFiles: [
          { LogFileName: 'error/postgresql.log.2026-12-07-01', LastWritten: Date.now(), Size: 1000 },
        ],
      });
      rds
        .on(DownloadDBLogFilePortionCommand, { Marker: '0' })
        .resolves({
          LogFileData: [
            `${prefix('other')}LOG:  duration: 1.000 ms  statement: SELECT id FROM orders WHERE customer_id = 11 AND id > 1`,
            `${prefix(DB)}LOG:  duration: 1.000 ms  statement: SELECT id FROM orders WHERE customer_id = 12 AND id > 2`,
            `${prefix(DB)}LOG:  duration: 1.000 ms  statement: SELECT 1`,
            '',
          ].join('\n'),
          Marker: '7:300',
          AdditionalDataPending: false,
        })
        .on(DownloadDBLogFilePortionCommand, { Marker: '7:300' })
        .resolves({ LogFileData: '', Marker: '7:300', AdditionalDataPending: false });
      // Wait until the server runs with the new prefix (the reload is asynchronous).
      for (let i = 0; i < 100; i++) {
        const { rows } = await client.query<{ p: string }>(`SELECT current_setting('log_line_prefix') AS p`);
        if (rows[0]!.p.includes('%d')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const source = new RdsLogSource(rds as unknown as RDSClient, 'prod');
      const first = await readServerLogSamples(client, source, { target: 'prod', maxBytes: 1 << 20 });
      // The other database's statement is left out; the last message (SELECT 1) is kept back, as it may
      // go on in the next portion.
      expect(first).toMatchObject({ available: true, source: 'rds:prod', statements: 1, matched: 1 });
      const stored = (await samples()).filter((s) => s.queryid === queryid).map((s) => s.query);
      expect(stored).toEqual(['SELECT id FROM orders WHERE customer_id = 12 AND id > 2']);
      const second = await readServerLogSamples(client, source, { target: 'prod', maxBytes: 1 << 20 });
      expect(second.matched).toBe(0);
      expect(rds.commandCalls(DownloadDBLogFilePortionCommand).map((c) => c.args[0].input.Marker)).toEqual([
        '0',
        '7:300',
      ]);
    } finally {
      await client.query('ALTER SYSTEM RESET log_line_prefix');
      await client.query('SELECT pg_reload_conf()');
    }
  });
});
