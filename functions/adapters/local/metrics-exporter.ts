import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../ports.ts';

/**
 * A long-running Prometheus exporter on node:http, shaped after postgres_exporter: GET /metrics takes one
 * sample per scrape, at most one every minIntervalMs (a scrape inside the interval is answered from the
 * last sample), bounded by scrapeTimeoutMs. Concurrent scrapes share one sample. Every answer ends with
 * the exporter's own families: how long the last sample took, how many were taken, whether the last
 * failed. A failed or timed-out sample answers dgm_db_up 0 (the `down` text), never an HTTP error, so
 * Prometheus keeps the series and alerts on up.
 */

export interface MetricsExporterOptions {
  host: string;
  /** 0: a free port (the listening address is returned). */
  port: number;
  /** Samples are at least this far apart; scrapes in between get the cached exposition. */
  minIntervalMs: number;
  /** A sample running longer is answered as failed (dgm_db_up 0). */
  scrapeTimeoutMs: number;
  /** Takes one sample and returns its exposition text (families of the sample, dgm_db_up 1 among them). */
  sample(): Promise<string>;
  /** The exposition of a failed sample (dgm_db_up 0). */
  down(): string;
  logger: Logger;
  /** Labels of the exporter's own series (db_instance). */
  labels: Record<string, string>;
}

export interface MetricsExporter {
  /** http://host:port/metrics */
  url: string;
  close(): Promise<void>;
}

interface Cached {
  body: string;
  at: number;
  durationSeconds: number;
  error: boolean;
}

/** Starts the exporter; resolves once it listens. */
export async function startMetricsExporter(options: MetricsExporterOptions): Promise<MetricsExporter> {
  let cached: Cached | undefined;
  let inflight: Promise<Cached> | undefined;
  let scrapes = 0;
  let errors = 0;

  const takeSample = (): Promise<Cached> => {
    inflight ??= (async () => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      let body: string;
      let error = false;
      try {
        body = await Promise.race([
          options.sample(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new Error(`the sample took longer than the scrape timeout (${options.scrapeTimeoutMs} ms)`),
                ),
              options.scrapeTimeoutMs,
            );
          }),
        ]);
      } catch (err) {
        options.logger.warn(`metrics exporter: ${errorMessage(err)}`);
        body = options.down();
        error = true;
      } finally {
        clearTimeout(timer);
      }
      scrapes++;
      if (error) errors++;
      const result = { body, at: Date.now(), durationSeconds: (performance.now() - started) / 1000, error };
      cached = result;
      return result;
    })().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://exporter').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
        .end('405 method not allowed\n');
      return;
    }
    if (path === '/') {
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end('<!doctype html><title>dgm-db-ops exporter</title><p><a href="/metrics">/metrics</a></p>\n');
      return;
    }
    if (path !== '/metrics') {
      res
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end('404 not found: try /metrics\n');
      return;
    }
    const fresh = cached && Date.now() - cached.at < options.minIntervalMs ? cached : await takeSample();
    const body = fresh.body + exporterFamilies(fresh, scrapes, errors, options.labels);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      options.logger.error(`metrics exporter: ${errorMessage(err)}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('500 internal error\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/metrics`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await inflight?.catch(() => {});
    },
  };
}

function exporterFamilies(
  last: Cached,
  scrapes: number,
  errors: number,
  labels: Record<string, string>,
): string {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`)
    .join(',');
  const sel = l ? `{${l}}` : '';
  return [
    '# HELP dgm_db_exporter_last_scrape_duration_seconds Time the last sample of the database took.',
    '# TYPE dgm_db_exporter_last_scrape_duration_seconds gauge',
    `dgm_db_exporter_last_scrape_duration_seconds${sel} ${last.durationSeconds.toFixed(6)}`,
    '# HELP dgm_db_exporter_scrapes_total Samples of the database the exporter took.',
    '# TYPE dgm_db_exporter_scrapes_total counter',
    `dgm_db_exporter_scrapes_total${sel} ${scrapes}`,
    '# HELP dgm_db_exporter_scrape_errors_total Samples that failed or timed out.',
    '# TYPE dgm_db_exporter_scrape_errors_total counter',
    `dgm_db_exporter_scrape_errors_total${sel} ${errors}`,
    '# HELP dgm_db_exporter_last_scrape_error 1 when the last sample failed or timed out, else 0.',
    '# TYPE dgm_db_exporter_last_scrape_error gauge',
    `dgm_db_exporter_last_scrape_error${sel} ${last.error ? 1 : 0}`,
    '',
  ].join('\n');
}
