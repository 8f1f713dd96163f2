import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../functions/adapters/local/embedded-postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the server this project's integration tests run on. */
    serverUrl: string;
    serverLabel: string;
  }
}

/**
 * Integration projects run on a real server: the embedded PostgreSQL 18 (project pg18), or the server
 * named by DGM_TEST_PG15_URL (project pg15, which .ci/run starts from Debian's packages).
 */
export default async function setup(project: TestProject) {
  const which = project.config.env?.DGM_TEST_SERVER ?? process.env.DGM_TEST_SERVER;
  if (which === 'pg15') {
    const url = project.config.env?.DGM_TEST_SERVER_URL ?? process.env.DGM_TEST_SERVER_URL;
    if (!url) throw new Error('project pg15 needs DGM_TEST_PG15_URL');
    const client = new pg.Client(url);
    await client.connect();
    await client.end();
    project.provide('serverUrl', url);
    project.provide('serverLabel', 'pg15');
    return;
  }
  // Every test database shares the server's pg_stat_statements: room for all of their statements, so a
  // test's workload is not evicted by another file's. (Each migrated database alone holds about 150
  // entries and a run makes about 150 databases: 20000 was too few.)
  const server = await startEmbeddedPostgres({ settings: { 'pg_stat_statements.max': '100000' } });
  project.provide('serverUrl', server.url);
  project.provide('serverLabel', 'pg18');
  return async () => {
    await server.stop();
  };
}
