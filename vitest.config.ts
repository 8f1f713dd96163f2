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

/**
 * Integration files whose outcome does not depend on the version of the server under test: they run on
 * pg18 only (the embedded server, always there), not again on pg15. Each is here for a reason:
 */
export const ONE_SERVER_ONLY = [
  // Its servers are its own: embedded PostgreSQL 18 with ssl=on, whatever the project's server is.
  'test/integration/tls.test.ts',
  // The CLI starting and stopping its own embedded PostgreSQL 18, bad input refused before any
  // connection, and --help (the CLI's commands against a given database stay in cli.test.ts).
  'test/integration/cli-embedded.test.ts',
  // Bad input refused before any connection is opened (spied): the server is only the "nothing changed".
  'test/integration/fuzz-input.test.ts',
  // The fan-out's scheduling (concurrency, per-target timeout, failure metrics, the one report): 50
  // copies of one database; sampling on each version is covered by the sampling tests on both servers.
  'test/integration/fleet-fanout.test.ts',
  'test/integration/fleet-invoke.test.ts',
  // The HTML report's layout in headless Chromium; the report's figures on each version are covered by
  // optimizer-report.test.ts (report command, HTML and markdown) on both servers.
  'test/integration/report-screenshot.test.ts',
  // No database at all: the SNS notifier on the wire (a local HTTP endpoint), and the alert state in
  // DynamoDB (dynalite).
  'test/integration/alerting-sns.test.ts',
  'test/integration/alerting-dynamo.test.ts',
];

const integration = (name: string, extra: Record<string, string>, exclude: string[] = []) => ({
  test: {
    name,
    include: ['test/integration/**/*.test.ts'],
    exclude,
    globalSetup: ['test/support/global-setup.ts'],
    // A query on a busy client (pg's deprecation warning) fails the file.
    setupFiles: ['test/support/no-busy-client.ts'],
    env: extra,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: true,
    maxWorkers: 3,
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
      ...(pg15
        ? [integration('pg15', { DGM_TEST_SERVER: 'pg15', DGM_TEST_SERVER_URL: pg15 }, ONE_SERVER_ONLY)]
        : []),
    ],
  },
});
