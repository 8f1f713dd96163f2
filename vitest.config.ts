import { readFileSync } from 'node:fs';
import { defineConfig, type Plugin } from 'vitest/config';

/** Loads .sql files as text, as esbuild's text loader does in the Lambda bundles. */
const sqlText: Plugin = {
  name: 'sql-text',
  enforce: 'pre',
  load(id) {
    if (!id.endsWith('.sql')) return null;
    return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
  },
};

const pg15 = process.env.DGM_TEST_PG15_URL;

const integration = (name: string, extra: Record<string, string>) => ({
  test: {
    name,
    include: ['test/integration/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // A query on a busy client (pg's deprecation warning) fails the file.
    setupFiles: ['test/support/no-busy-client.ts'],
    env: extra,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});

export default defineConfig({
  plugins: [sqlText],
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 30_000 } },
      {
        test: { name: 'infra', include: ['test/infra/**/*.test.ts'], testTimeout: 300_000, maxWorkers: 1 },
      },
      integration('pg18', { DGM_TEST_SERVER: 'embedded' }),
      ...(pg15 ? [integration('pg15', { DGM_TEST_SERVER: 'pg15', DGM_TEST_SERVER_URL: pg15 })] : []),
    ],
  },
});
