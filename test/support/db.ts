import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { parseConfig, type RuntimeConfig } from '../../functions/config.ts';
import { connect } from '../../functions/db/connection.ts';
import { loadDemoWorkload } from '../../functions/demo/workload.ts';
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

const ROOT = join(import.meta.dirname, '../..');

/**
 * What a demo template is built from: the migrations, the demo's loaders and the day (the demo's rows are
 * dated from today), so a template is never reused once any of them changed.
 */
function templateKey(scale: number): string {
  const hash = createHash('sha256');
  for (const dir of ['functions/sql/migrations', 'functions/sql/demo'])
    for (const f of readdirSync(join(ROOT, dir)).sort()) hash.update(readFileSync(join(ROOT, dir, f)));
  hash.update(readFileSync(join(ROOT, 'functions/demo/workload.ts')));
  hash.update(`${scale} ${new Date().toISOString().slice(0, 10)}`);
  return `dgm_tpl_${hash.digest('hex').slice(0, 16)}`;
}

/**
 * Creates `name` as a copy of a template holding the migrated schema and the demo workload at `scale`,
 * loaded and VACUUM ANALYZEd once per server and day, for every test file that asks for the same scale.
 * Loading half the demo takes about half a minute; copying it, under a second. Files that build their
 * template at the same time wait for each other on an advisory lock of the server's postgres database.
 */
async function createFromDemoTemplate(admin: pg.Client, name: string, scale: number, config: RuntimeConfig) {
  const server = testServer();
  const template = templateKey(scale);
  await admin.query('SELECT pg_advisory_lock(hashtext($1))', [template]);
  try {
    const { rows } = await admin.query('SELECT datistemplate FROM pg_database WHERE datname = $1', [
      template,
    ]);
    if (!rows[0]?.datistemplate) {
      // A template whose build was interrupted is built again.
      await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${template}`);
      const c = await connect({ url: server.urlFor(template) });
      try {
        await migrate(c, config);
        await loadDemoWorkload(c, { scale });
        await c.query('VACUUM ANALYZE');
      } finally {
        await c.end();
      }
      await admin.query(`ALTER DATABASE ${template} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
    }
    // FILE_COPY (15+) copies the files instead of writing every page to the WAL.
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template} STRATEGY FILE_COPY`);
  } finally {
    await admin.query('SELECT pg_advisory_unlock(hashtext($1))', [template]);
  }
}

/**
 * A fresh database on the server under test, with the DGM schema installed unless migrate is false, and
 * the demo workload loaded (and VACUUM ANALYZEd) at `demoScale` when given: a copy of a template loaded
 * once per server. Each test file gets its own, so files run in parallel without seeing each other's rows.
 * (A copy starts with empty cumulative statistics: pg_stat_user_tables and pg_stat_statements know nothing
 * of the load; the planner's statistics and reltuples are copied with the data.)
 */
export async function createTestDatabase(
  options: { migrate?: boolean; config?: unknown; demoScale?: number } = {},
): Promise<TestDatabase> {
  const server = testServer();
  const name = `dgm_test_${randomBytes(5).toString('hex')}`;
  const config = parseConfig(options.config ?? {});
  const admin = new pg.Client(server.url);
  await admin.connect();
  try {
    if (options.demoScale !== undefined)
      await createFromDemoTemplate(admin, name, options.demoScale, parseConfig({}));
    else await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = server.urlFor(name);
  const extra: pg.Client[] = [];
  const client = await connect({ url });
  if (options.migrate !== false && options.demoScale === undefined) await migrate(client, config);
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
