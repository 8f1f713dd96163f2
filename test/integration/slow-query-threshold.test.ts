import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type RuntimeConfig } from '../../functions/config.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import { getPerformanceReport } from '../../functions/jobs/report.ts';
import { runSample } from '../../functions/jobs/sample.ts';
import type { StatementStats } from '../../functions/monitor/snapshot.ts';
import { silentLogger } from '../../functions/ports.ts';
import { runCliInProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { tempDir } from '../support/tmp.ts';

/**
 * One slow-query threshold (config slowQueryThresholdMs) for the sampler, the report and the SQL API's
 * dgm.slow_queries; the old spellings (monitoring., optimization.) still map to it.
 */
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  // One application statement with a mean of at least 50 ms: slow at 20 ms, not at 200 ms.
  await db.client.query('CREATE TABLE public.thr_probe (x int); INSERT INTO public.thr_probe VALUES (1)');
  await db.client.query('SELECT x, pg_sleep(0.05) FROM public.thr_probe');
});
afterAll(async () => db?.drop());

const stored = async () =>
  (
    await db.client.query<{ value: string }>(
      `SELECT value FROM dgm.settings WHERE name = 'slow_query_threshold_ms'`,
    )
  ).rows[0]?.value;
const probeIsSlow = async () =>
  (await db.client.query(`SELECT 1 FROM dgm.slow_queries WHERE query LIKE '%pg_sleep(%thr_probe%'`)).rows
    .length === 1;
const sink = { put: async () => ({ sent: 0, failed: 0, calls: 0, errors: [] }) };

describe('slowQueryThresholdMs', () => {
  it('migrate records it for dgm.slow_queries; a session setting still overrides it', async () => {
    expect(await stored()).toBe('200');
    expect(await probeIsSlow()).toBe(false);

    await migrate(db.client, parseConfig({ slowQueryThresholdMs: 20 }));
    expect(await stored()).toBe('20');
    expect(await probeIsSlow()).toBe(true);

    // Unchanged: not written again.
    const at = async () =>
      (await db.client.query(`SELECT updated_at FROM dgm.settings WHERE name = 'slow_query_threshold_ms'`))
        .rows[0]!.updated_at as Date;
    const before = await at();
    await migrate(db.client, parseConfig({ slowQueryThresholdMs: 20 }));
    expect(await at()).toEqual(before);

    await migrate(db.client, parseConfig({}));
    expect(await stored()).toBe('200');
    expect(await probeIsSlow()).toBe(false);
    await db.client.query(`SET dgm.slow_query_threshold_ms = '20'`);
    try {
      expect(await probeIsSlow()).toBe(true);
    } finally {
      await db.client.query('RESET dgm.slow_query_threshold_ms');
    }
  });

  it('the sampler and the report judge by the same one', async () => {
    const judge = async (config: RuntimeConfig) => {
      const sample = await runSample(db.client, config, { sink, logger: silentLogger }, { persist: false });
      const statements = sample.snapshot?.statements as StatementStats;
      const report = await getPerformanceReport(db.client, config);
      return {
        sampler: statements.slowThresholdMs,
        reportSlow: report.slow_queries.some((q) => /pg_sleep\(.*thr_probe/.test(q.query)),
      };
    };
    expect(await judge(parseConfig({ slowQueryThresholdMs: 20 }))).toEqual({ sampler: 20, reportSlow: true });
    expect(await judge(parseConfig({}))).toEqual({ sampler: 200, reportSlow: false });
    // The old spelling reaches both as well.
    const old = parseConfig({ optimization: { slowQueryThresholdMs: 20 } }, 'config', () => {});
    expect(await judge(old)).toEqual({ sampler: 20, reportSlow: true });
  });

  it('the CLI maps an old key with a warning, and refuses two spellings that disagree (exit 2, one line)', async () => {
    const conflicting = join(tempDir('dgm-threshold-'), 'conflict.json');
    writeFileSync(
      conflicting,
      JSON.stringify({
        monitoring: { slowQueryThresholdMs: 100 },
        optimization: { slowQueryThresholdMs: 500 },
      }),
    );
    const r = await runCliInProcess([
      'maintain',
      '--dry-run',
      '--config',
      conflicting,
      '--database-url',
      db.url,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /slowQueryThresholdMs: monitoring\.slowQueryThresholdMs \(100\) and optimization\.slowQueryThresholdMs \(500\) differ: they are one setting now, set slowQueryThresholdMs alone/,
    );
    expect(await stored()).toBe('200');
  });
});
