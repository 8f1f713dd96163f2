import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { parseConfig, type RuntimeConfig } from '../../functions/config.ts';
import { connect } from '../../functions/db/connection.ts';
import { migrate } from '../../functions/jobs/migrate.ts';

export interface TestDatabase {
  name: string;
  url: string;
  client: pg.Client;
  config: RuntimeConfig;
  /** Opens another connection to the same database (closed by drop()). */
  connect(): Promise<pg.Client>;
  drop(): Promise<void>;
}

/** The server under test: its superuser URL and label (pg18 or pg15). */
export function testServer(): { url: string; label: string; urlFor(database: string): string } {
  const url = inject('serverUrl');
  return {
    url,
    label: inject('serverLabel'),
    urlFor(database: string) {
      const u = new URL(url);
      u.pathname = `/${database}`;
      return u.toString();
    },
  };
}

/**
 * A fresh database on the server under test, with the DGM schema installed unless migrate is false.
 * Each test file gets its own, so files run in parallel without seeing each other's rows.
 */
export async function createTestDatabase(
  options: { migrate?: boolean; config?: unknown } = {},
): Promise<TestDatabase> {
  const server = testServer();
  const name = `dgm_test_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client(server.url);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = server.urlFor(name);
  const config = parseConfig(options.config ?? {});
  const extra: pg.Client[] = [];
  const client = await connect({ url });
  if (options.migrate !== false) await migrate(client, config);
  return {
    name,
    url,
    client,
    config,
    async connect() {
      const c = await connect({ url });
      extra.push(c);
      return c;
    },
    async drop() {
      await Promise.allSettled([client, ...extra].map((c) => c.end()));
      const a = new pg.Client(server.url);
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}
