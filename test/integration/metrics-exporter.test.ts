import { type ChildProcess, execFileSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess, startCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

/** promtool (Debian package prometheus, installed by .ci/run): its absence fails the file, never skips it. */
function promtoolVersion(): string {
  try {
    return execFileSync('promtool', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(
      `promtool is missing (${(err as Error).message}); install the Debian package prometheus, as .ci/run does`,
    );
  }
}

/** promtool check metrics on an exposition: its findings, one per line (exit 0 = none, 3 = lint findings). */
function promtoolFindings(text: string): string[] {
  try {
    execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: 'pipe' });
    return [];
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    if (e.status !== 3) throw new Error(`promtool check metrics failed (exit ${e.status}): ${e.stderr}`);
    return `${e.stdout}${e.stderr}`.trim().split('\n').filter(Boolean);
  }
}

const seriesSet = (text: string) =>
  text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.slice(0, l.lastIndexOf(' ')))
    .sort();

const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `) || l.startsWith(`${series}{`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : undefined;
};

let db: TestDatabase;
let child: ChildProcess;
let stderr = () => '';
let url: string;
let exit: Promise<number | null>;

beforeAll(async () => {
  promtoolVersion();
  db = await createTestDatabase();
  // A workload of its own on as many tables as monitoring.topTables, so the per-statement and per-table
  // families have series and the top tables are the workload's. (On a database with no workload at all,
  // the sampler's own reads, e.g. of the compliance log, reorder the top tables from sample to sample.)
  for (const t of ['orders', 'customers', 'items', 'payments', 'shipments']) {
    await db.client.query(`CREATE TABLE public.${t} (id bigserial PRIMARY KEY, k int NOT NULL, v numeric);
      INSERT INTO public.${t} (k, v) SELECT g % 100, g FROM generate_series(1, 5000) g;`);
    for (let i = 0; i < 10; i++) await db.client.query(`SELECT sum(v) FROM public.${t} WHERE k = $1`, [i]);
  }
  // The migration's table statistics reach the shared counters when its session flushes them (up to
  // seconds later when it stays idle): flushed now, the top tables are settled before the first scrape.
  await db.client.query('SELECT pg_stat_force_next_flush()');
  await db.client.query('SELECT 1');
  const exporter = startCliProcess(
    ['metrics', '--listen', '127.0.0.1:0', '--min-interval', '1', '--database-url', db.url],
    { env: { DATABASE_URL: '' } },
  );
  ({ child, stderr } = exporter);
  // On 'close': exited, and its stderr read to the end.
  exit = exporter.done.then((r) => r.code);
  url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', () => {
      const m = stderr().match(/metrics: serving (http:\/\/\S+\/metrics)/);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`the exporter exited (${code}): ${stderr()}`)));
  });
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await exit;
  }
  await db?.drop();
});

describe('metrics --listen: a long-running /metrics exporter', () => {
  let first: string;
  let second: string;

  it('answers two scrapes 3 s apart with the same series set, each a new sample', async () => {
    const r1 = await fetch(url);
    expect(r1.status).toBe(200);
    expect(r1.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    first = await r1.text();
    await delay(3_000);
    second = await (await fetch(url)).text();
    expect(value(first, 'dgm_db_up')).toBe(1);
    expect(value(second, 'dgm_db_up')).toBe(1);
    expect(value(first, 'dgm_db_exporter_scrapes_total')).toBe(1);
    expect(value(second, 'dgm_db_exporter_scrapes_total')).toBe(2);
    expect(value(second, 'dgm_db_exporter_last_scrape_duration_seconds')).toBeGreaterThan(0);
    expect(seriesSet(second)).toEqual(seriesSet(first));
    // Not trimmed by the CloudWatch budget (40 series by default).
    expect(seriesSet(first).length).toBeGreaterThan(40);
    for (const name of [
      'dgm_db_query_avg_duration_seconds',
      'dgm_db_connections_total',
      'dgm_db_cache_hit_ratio',
      'dgm_db_query_duration_seconds',
      'dgm_db_table_size_bytes',
    ]) {
      expect(first, name).toMatch(new RegExp(`^${name}\\{`, 'm'));
    }
  });

  it('passes promtool check metrics, except the design name dgm_db_connections_total', () => {
    for (const text of [first, second]) {
      expect(promtoolFindings(text)).toEqual([
        'dgm_db_connections_total non-counter metrics should not have "_total" suffix',
      ]);
    }
  });

  it('answers a scrape inside the minimum interval from the last sample', async () => {
    const a = await (await fetch(url)).text();
    const b = await (await fetch(url)).text();
    // Two scrapes at once or back to back: one sample between them at most.
    expect(
      value(b, 'dgm_db_exporter_scrapes_total')! - value(a, 'dgm_db_exporter_scrapes_total')!,
    ).toBeLessThanOrEqual(1);
    const [c, d] = await Promise.all([fetch(url).then((r) => r.text()), fetch(url).then((r) => r.text())]);
    expect(value(c, 'dgm_db_exporter_scrapes_total')).toBe(value(d, 'dgm_db_exporter_scrapes_total'));
    expect((await fetch(url.replace('/metrics', '/nothing'))).status).toBe(404);
  });

  it('stops on SIGTERM with exit 0', async () => {
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(stderr()).toMatch(/metrics: exporter stopped \(SIGTERM\)/);
  });
});

describe.concurrent('metrics --listen: bad values, exit 2', () => {
  it.each([
    [['--listen', 'localhost'], /--listen must be HOST:PORT/],
    [['--listen', '127.0.0.1:70000'], /--listen must be HOST:PORT/],
    [['--listen', '127.0.0.1:0', '--min-interval', '-1'], /--min-interval must be a number of seconds/],
    [['--listen', '127.0.0.1:0', '--scrape-timeout', 'soon'], /--scrape-timeout must be a number of seconds/],
    [['--scrape-timeout', '5'], /--scrape-timeout only goes with --listen/],
  ])('%j', async (args, message) => {
    const r = await runCliProcess(['metrics', ...args, '--database-url', db.url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
