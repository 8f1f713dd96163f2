import { fingerprintSync } from 'libpg-query';
import type pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import { ServerLogSource } from '../../functions/adapters/local/server-log-source.ts';
import { parseConfig } from '../../functions/config.ts';
import { connect } from '../../functions/db/connection.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import type { StatementVerdict } from '../../functions/optimizer/advice.ts';
import { type Advice, adviseIndexes } from '../../functions/optimizer/advisor.ts';
import { loadParser, repairNormalizedText } from '../../functions/optimizer/analyze.ts';
import { readServerLogSamples } from '../../functions/optimizer/server-log.ts';
import {
  collectWorkload,
  storedQuerySamples,
  type Workload,
  type WorkloadStatement,
} from '../../functions/optimizer/workload.ts';
import { options } from './advisor-fixture.ts';
import { testServer } from './db.ts';
import { type LoggingServer, startLoggingServer } from './logging-server.ts';

/** A statement shape of a test application: run with $n parameters, as node-postgres sends them. */
export interface LogShape {
  name: string;
  sql: string;
  params: unknown[] | ((run: number) => unknown[]);
}

export interface AdvisedFromLog {
  server: LoggingServer;
  /** The optimizer's connection to the application's database. */
  client: pg.Client;
  workload: Workload;
  advice: Advice;
  /**
   * A shape's statement in the workload, planned with the literal sample the log gave: its verdict and
   * the recommended definitions that serve it.
   */
  served(name: string): { statement: WorkloadStatement; verdict: StatementVerdict; definitions: string[] };
  stop(): Promise<void>;
}

/** A statement's fingerprint, from pg_stat_statements' text or the application's (undefined: no parse). */
export function fingerprintOf(sql: string): string | undefined {
  try {
    return fingerprintSync(repairNormalizedText(sql));
  } catch {
    return undefined;
  }
}

/**
 * An application as the optimizer meets it, on a server with the logging collector on: a database with
 * `log_min_duration_statement = 0`, the schema migrated and the data loaded, the shapes run three times on
 * a connection of the application's own (so pg_stat_statements holds them normalized and the log holds
 * their literal instances), the log read until every shape has its sample, then one advisor run over the
 * whole workload.
 */
export async function adviseFromServerLog(
  database: string,
  shapes: LogShape[],
  load: (client: pg.Client) => Promise<void>,
): Promise<AdvisedFromLog> {
  const server = await startLoggingServer(testServer().label);
  const admin = await connect({ url: server.url });
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.query(`ALTER DATABASE ${database} SET log_min_duration_statement = 0`);
  await admin.end();
  const u = new URL(server.url);
  u.pathname = `/${database}`;
  const client = await connect({ url: u.toString() });
  await migrate(client, parseConfig({}));
  await load(client);
  const app = await connect({ url: u.toString() });
  try {
    for (let run = 0; run < 3; run++)
      for (const s of shapes)
        await app.query(s.sql, typeof s.params === 'function' ? s.params(run) : s.params);
  } finally {
    await app.end();
  }
  await loadParser();
  // The logging collector writes asynchronously: read the log on until every shape has its sample.
  const source = new ServerLogSource(client);
  const until = Date.now() + 60_000;
  let samples = await storedQuerySamples(client);
  const missing = () =>
    shapes.filter(
      (s) => !samples.some((x) => x.source === 'server_log' && fingerprintOf(x.sql) === fingerprintOf(s.sql)),
    );
  while (missing().length > 0) {
    if (Date.now() > until)
      throw new Error(
        `no sample in the log of ${missing()
          .map((s) => s.name)
          .join(', ')}`,
      );
    const read = await readServerLogSamples(client, source, { target: 'local', maxBytes: 8 << 20 });
    expect(read.available, read.reason).toBe(true);
    samples = await storedQuerySamples(client);
    if (missing().length > 0) await new Promise((r) => setTimeout(r, 100));
  }
  const workload = await collectWorkload(client, { maxStatements: 50, minCalls: 1, examples: samples });
  const advice = await adviseIndexes(client, workload, options());
  return {
    server,
    client,
    workload,
    advice,
    served(name) {
      const shape = shapes.find((x) => x.name === name)!;
      const statement = workload.statements.find(
        (x) => x.queryid && fingerprintOf(x.text) === fingerprintOf(shape.sql),
      );
      expect(statement, `${name} in the workload`).toBeDefined();
      expect(statement!.example).toMatchObject({ source: 'server_log' });
      expect(statement!.example!.sql).not.toMatch(/\$\d/);
      const verdict = advice.statements.find((x) => x.id === statement!.id)!;
      return { statement: statement!, verdict, definitions: definitionsServing(advice, statement!.id) };
    },
    async stop() {
      await client.end().catch(() => {});
      await server.stop();
    },
  };
}

/** The recommended definitions that serve a statement, names replaced by NAME and without CONCURRENTLY. */
export function definitionsServing(advice: Advice, statementId: string): string[] {
  return advice.recommendations
    .filter((r) => r.statements.some((x) => x.id === statementId))
    .map((r) => r.definition.replace(/"dgm_auto_[^"]+"/, 'NAME').replace(' CONCURRENTLY', ''));
}

/**
 * adviseFromServerLog once for a test file: run before its tests (a generous timeout: the load and the
 * workload on a loaded machine), stopped after them. Returns the harness, ready once the tests run.
 */
export function advisedFromLogSuite(
  database: string,
  shapes: LogShape[],
  load: (client: pg.Client) => Promise<void>,
  timeoutMs = 300_000,
): () => AdvisedFromLog {
  let harness: AdvisedFromLog | undefined;
  beforeAll(async () => {
    harness = await adviseFromServerLog(database, shapes, load);
  }, timeoutMs);
  afterAll(async () => {
    await harness?.stop();
  });
  return () => {
    if (!harness) throw new Error(`the ${database} harness is not ready: its setup failed`);
    return harness;
  };
}
