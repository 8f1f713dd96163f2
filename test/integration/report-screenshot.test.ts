import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleMetricSink } from '../../functions/adapters/local/console-metric-sink.ts';
import { getPerformanceReport } from '../../functions/jobs/report.ts';
import { runSample } from '../../functions/jobs/sample.ts';
import { renderHtml } from '../../functions/optimizer/render.ts';
import type { PerformanceReport } from '../../functions/optimizer/report.ts';
import { silentLogger } from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { tempDir } from '../support/tmp.ts';

const run = promisify(execFile);
const CHROMIUM = process.env.DGM_CHROMIUM ?? 'chromium';

/** Headless Chromium (Debian package chromium, installed by .ci/run): its absence fails the file. */
async function chromium(args: string[], dir: string): Promise<string> {
  try {
    const { stdout } = await run(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--hide-scrollbars',
        `--user-data-dir=${join(dir, 'profile')}`,
        ...args,
      ],
      { maxBuffer: 64 * 1024 * 1024, timeout: 90_000 },
    );
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') {
      throw new Error(`${CHROMIUM} is missing: install the Debian package chromium, as .ci/run does`);
    }
    throw err;
  }
}

/**
 * Runs in the page: every SVG text label's box (getBoundingClientRect), the pairs that overlap inside
 * one chart, and how much data each chart draws. Written into the DOM for --dump-dom to return.
 */
const PROBE = `<script>
(() => {
  const charts = [...document.querySelectorAll('svg[role=img]')];
  const overlaps = [];
  const data = [];
  for (const svg of charts) {
    const boxes = [...svg.querySelectorAll('text')]
      .map((t) => ({ text: t.textContent, r: t.getBoundingClientRect() }))
      .filter((b) => b.r.width > 0 && b.r.height > 0);
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i].r, b = boxes[j].r;
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        // A pixel of slack: glyph boxes of neighbouring lines may touch.
        if (w > 1 && h > 1) overlaps.push([svg.getAttribute('aria-label'), boxes[i].text, boxes[j].text]);
      }
    const bars = [...svg.querySelectorAll('rect')].filter((r) => r.getBoundingClientRect().width > 0.5 && !r.closest('g.legend')).length;
    const lines = [...svg.querySelectorAll('polyline')].map((p) => p.getAttribute('points').trim().split(/\\s+/).length);
    const dots = svg.querySelectorAll('circle').length;
    // Labels drawn red, as the browser computes them (a stylesheet rule can beat a fill attribute).
    const red = [...svg.querySelectorAll('text')].filter((t) => getComputedStyle(t).fill === 'rgb(179, 38, 30)').length;
    data.push({ label: svg.getAttribute('aria-label'), cls: svg.getAttribute('class'), bars, lines, dots, red, texts: boxes.length });
  }
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({ overlaps, data, height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth });
  document.body.append(out);
})();
</script>`;

function pngSize(file: string): { width: number; height: number } {
  const b = readFileSync(file);
  expect(b.subarray(1, 4).toString('latin1')).toBe('PNG');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

let db: TestDatabase;
const tmp = tempDir('dgm-report-shot');
let report: PerformanceReport;

beforeAll(async () => {
  db = await createTestDatabase();
  const c = db.client;
  // A workload of its own: an orders table, queried between two real samples.
  await c.query(`CREATE SCHEMA shop;
    CREATE TABLE shop.orders (id bigserial PRIMARY KEY, customer int NOT NULL, total numeric NOT NULL, placed_at timestamptz NOT NULL DEFAULT now());
    INSERT INTO shop.orders (customer, total) SELECT g % 500, g % 97 FROM generate_series(1, 20000) g;
    ANALYZE shop.orders;`);
  const deps = { sink: new ConsoleMetricSink(null), logger: silentLogger };
  await runSample(c, db.config, deps, { full: true });
  for (let i = 0; i < 30; i++) {
    await c.query('SELECT sum(total) FROM shop.orders WHERE customer = $1', [i]);
    await c.query('SELECT count(*) FROM shop.orders WHERE placed_at > now() - $1::interval', ['1 hour']);
  }
  await c.query(`UPDATE shop.orders SET total = total + 1 WHERE id <= 50`);
  // The UPDATE's scan of the primary key reaches pg_stat_user_indexes when the session flushes its
  // statistics (at most once a second, later on a busy server): flushed and seen before the report reads it.
  for (;;) {
    await c.query('SELECT pg_stat_force_next_flush()');
    const { rows } = await c.query<{ n: string }>(
      `SELECT coalesce(sum(idx_scan), 0) AS n FROM pg_stat_user_indexes WHERE schemaname = 'shop'`,
    );
    if (Number(rows[0]!.n) > 0) break;
  }
  const last = await runSample(c, db.config, deps, { full: true });
  expect(last.status).toBe('succeeded');
  // A week of history: the real last sample's row, copied back in time every 20 minutes with its figures
  // varied (the sampler would have left one row a minute).
  const { rows } = await c.query<{ history: Record<string, unknown> }>(
    `SELECT counters->'history' AS history FROM dgm.stat_snapshots WHERE kind = 'sample' ORDER BY id DESC LIMIT 1`,
  );
  const h = rows[0]!.history;
  expect(h).toMatchObject({ connections: expect.any(Object), top: expect.any(Array) });
  expect((h.top as unknown[]).length).toBeGreaterThan(0);
  await c.query(
    `INSERT INTO dgm.stat_snapshots (target, kind, taken_at, counters)
     SELECT $1, 'sample', now() - make_interval(mins => 20 * k),
            jsonb_build_object('history', $2::jsonb
              || jsonb_build_object('calls', 600 + 300 * sin(k / 9.0), 'execMs', (600 + 300 * sin(k / 9.0)) * (2 + cos(k / 13.0)),
                                    'intervalSeconds', 60, 'cacheHitRatio', 0.97 + 0.02 * sin(k / 5.0),
                                    'databaseBytes', 40e6 + 30000 * (504 - k),
                                    'connections', jsonb_build_object('active', 2 + (k % 5), 'idle', 8 + (k % 3), 'idleInTransaction', k % 2),
                                    'top', (SELECT jsonb_agg(t || jsonb_build_object('totalMs', (t->>'totalMs')::float8 * (1.5 + sin(k / 7.0 + n))))
                                            FROM jsonb_array_elements($2::jsonb->'top') WITH ORDINALITY x(t, n))))
     FROM generate_series(2, 504) k`,
    [db.config.target, JSON.stringify(h)],
  );
  report = await getPerformanceReport(c, db.config);
}, 180_000);
afterAll(async () => db?.drop());

describe('the HTML report in headless Chromium', () => {
  it('renders with history, data in every chart, no overlapping labels; the screenshot is written', async () => {
    // The week's window is 42 four-hour buckets aligned to the clock, so it starts 164 to 168 hours back
    // depending on the time of day: every stored sample from its first bucket on is counted, no other.
    const week = report.history!.week;
    const { rows: inWindow } = await db.client.query<{ n: string }>(
      `SELECT count(*) AS n FROM dgm.stat_snapshots
       WHERE kind = 'sample' AND counters ? 'history' AND taken_at >= $1::timestamptz`,
      [week.buckets[0]!.at],
    );
    expect(report.history?.samples).toBe(Number(inWindow[0]!.n));
    expect(report.history?.samples).toBeGreaterThanOrEqual(490);
    expect(report.history?.topStatements.length).toBeGreaterThan(0);
    const html = renderHtml(report);
    const page = join(tmp, 'report.html');
    writeFileSync(page, html);
    const probed = join(tmp, 'probe.html');
    writeFileSync(probed, html.replace('</body>', `${PROBE}</body>`));
    const dom = await chromium(['--window-size=1280,900', '--dump-dom', pathToFileURL(probed).href], tmp);
    const m = dom.match(/<pre id="probe">([^<]*)<\/pre>/);
    expect(m, 'the probe ran in the page').toBeTruthy();
    const probe = JSON.parse(
      m![1]!
        .replaceAll('&quot;', '"')
        .replaceAll('&amp;', '&')
        .replaceAll('&lt;', '<')
        .replaceAll('&gt;', '>'),
    ) as {
      overlaps: string[][];
      data: Array<{
        label: string;
        cls: string | null;
        bars: number;
        lines: number[];
        dots: number;
        red: number;
        texts: number;
      }>;
      height: number;
      width: number;
    };
    expect(probe.overlaps).toEqual([]);
    // The history charts (10: five figures over a day and a week) draw lines; the sparklines too.
    const lineCharts = probe.data.filter((d) => d.cls === 'line');
    expect(lineCharts).toHaveLength(10);
    for (const c of lineCharts) expect(Math.max(0, ...c.lines), c.label).toBeGreaterThan(10);
    const sparks = probe.data.filter((d) => d.cls === 'spark');
    expect(sparks.length).toBe(report.history!.topStatements.length);
    // Bar charts (index usage, partition sets) have bars.
    const barCharts = probe.data.filter((d) => d.cls === null);
    expect(barCharts.length).toBeGreaterThanOrEqual(2);
    for (const c of barCharts) expect(c.bars, c.label).toBeGreaterThan(0);
    // A legend promises only what the chart shows: names in red are red.
    for (const c of probe.data.filter((d) => d.label?.includes('in red')))
      expect(c.red, c.label).toBeGreaterThan(0);
    expect(probe.width).toBeLessThanOrEqual(1280);

    const shot = join(tmp, 'report.png');
    const height = Math.min(probe.height, 12_000);
    await chromium([`--window-size=1280,${height}`, `--screenshot=${shot}`, pathToFileURL(page).href], tmp);
    expect(pngSize(shot)).toEqual({ width: 1280, height });
    expect(statSync(shot).size).toBeGreaterThan(100_000);
    if (process.env.DGM_REPORT_SCREENSHOT) copyFileSync(shot, process.env.DGM_REPORT_SCREENSHOT);
  });
});
