import { afterEach, describe, expect, it } from 'vitest';
import {
  type MetricsExporter,
  startMetricsExporter,
} from '../../functions/adapters/local/metrics-exporter.ts';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
let exporter: MetricsExporter | undefined;
afterEach(async () => {
  await exporter?.close();
  exporter = undefined;
});

const value = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
};

function start(sample: () => Promise<string>, minIntervalMs: number, scrapeTimeoutMs = 5_000) {
  return startMetricsExporter({
    host: '127.0.0.1',
    port: 0,
    minIntervalMs,
    scrapeTimeoutMs,
    sample,
    down: () => '# TYPE dgm_db_up gauge\ndgm_db_up{db_instance="t"} 0\n',
    logger: quiet,
    labels: { db_instance: 't' },
  });
}

describe('metrics exporter (node:http)', () => {
  it('takes one sample for concurrent scrapes, and none inside the minimum interval', async () => {
    let samples = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    exporter = await start(async () => {
      samples++;
      await gate;
      return `# TYPE dgm_db_up gauge\ndgm_db_up{db_instance="t"} 1\n`;
    }, 60_000);
    const pending = [fetch(exporter.url), fetch(exporter.url), fetch(exporter.url)];
    // All three wait on the one sample in flight.
    await expect.poll(() => samples).toBe(1);
    release();
    const bodies = await Promise.all(pending.map(async (r) => (await r).text()));
    expect(samples).toBe(1);
    for (const b of bodies) expect(value(b, 'dgm_db_exporter_scrapes_total')).toBe(1);
    const again = await (await fetch(exporter.url)).text();
    expect(samples).toBe(1);
    expect(value(again, 'dgm_db_up')).toBe(1);
  });

  it('answers dgm_db_up 0 when the sample outlasts the scrape timeout or fails', async () => {
    let calls = 0;
    exporter = await start(
      () => {
        calls++;
        return calls === 1 ? new Promise<string>(() => {}) : Promise.reject(new Error('refused'));
      },
      0,
      200,
    );
    const timedOut = await (await fetch(exporter.url)).text();
    expect(value(timedOut, 'dgm_db_up')).toBe(0);
    expect(value(timedOut, 'dgm_db_exporter_last_scrape_error')).toBe(1);
    expect(value(timedOut, 'dgm_db_exporter_last_scrape_duration_seconds')).toBeGreaterThanOrEqual(0.2);
    const failed = await (await fetch(exporter.url)).text();
    expect(value(failed, 'dgm_db_up')).toBe(0);
    expect(value(failed, 'dgm_db_exporter_scrape_errors_total')).toBe(2);
  });

  it('serves /metrics only, GET and HEAD only', async () => {
    exporter = await start(async () => '', 0);
    expect((await fetch(exporter.url.replace('/metrics', '/other'))).status).toBe(404);
    expect((await fetch(exporter.url, { method: 'POST' })).status).toBe(405);
    expect((await fetch(exporter.url.replace('/metrics', '/'))).status).toBe(200);
  });
});
