import { ConsoleMetricSink } from '../../functions/adapters/local/console-metric-sink.ts';
import { startMetricsExporter } from '../../functions/adapters/local/metrics-exporter.ts';
import { renderPrometheus, renderPrometheusDown } from '../../functions/adapters/local/prometheus.ts';
import { withClient } from '../../functions/db/connection.ts';
import { BadInputError } from '../../functions/errors.ts';
import { showValue } from '../../functions/format/redact.ts';
import { runSample } from '../../functions/jobs/sample.ts';
import { METRIC_SPECS, PrometheusSeriesMemory, prometheusPoints } from '../../functions/monitor/metrics.ts';
import { sampleFromCli } from './sample.ts';
import type { Command, CommandContext, CommandOutput } from './types.ts';

const FORMATS = ['prometheus', 'cloudwatch'] as const;

/**
 * Takes a sample and prints its metrics: Prometheus exposition text (the design's dgm_db_* names) or
 * the CloudWatch datums, one per line. With --json, the datums and the text as one document. With
 * --listen, serves /metrics until interrupted (one sample per scrape, see metrics-exporter.ts).
 * Prometheus gets every series (prometheusPoints); the CloudWatch budget trims the datums only.
 */
export const metricsCommand: Command = {
  name: 'metrics',
  summary: 'Take a sample and print its metrics as Prometheus text or CloudWatch datums, or serve /metrics',
  usage:
    'metrics [--format prometheus|cloudwatch] [--full] [--json] | metrics --listen HOST:PORT [--min-interval S] [--scrape-timeout S]',
  options: {
    format: { type: 'string' },
    full: { type: 'boolean', default: false },
    listen: { type: 'string' },
    'min-interval': { type: 'string' },
    'scrape-timeout': { type: 'string' },
  },
  flags: {
    format: {
      value: 'prometheus|cloudwatch',
      text: 'print Prometheus exposition text (default) or CloudWatch datums',
    },
    full: { text: 'also collect the costly figures now (database size, bloat, archive scores, pruning)' },
    listen: {
      value: 'HOST:PORT',
      text: 'serve GET /metrics until Ctrl-C, one sample per scrape (:PORT = every interface)',
    },
    'min-interval': {
      value: 'SECONDS',
      text: 'with --listen: scrapes closer than this reuse the last sample (default 10)',
    },
    'scrape-timeout': {
      value: 'SECONDS',
      text: 'with --listen: a slower sample answers dgm_db_up 0 (default 10)',
    },
  },
  examples: [
    'dgm-db-ops metrics',
    'dgm-db-ops metrics --format cloudwatch',
    'dgm-db-ops metrics --listen 127.0.0.1:9187 --database-url postgres://monitor@db.example.com/app',
  ],
  validate(input) {
    const format = String(input.values.format ?? 'prometheus');
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new BadInputError(
        `metrics: --format must be one of ${FORMATS.join(', ')}, got '${showValue(format)}'`,
      );
    }
    if (input.values.listen !== undefined) {
      listenSettings(input.values);
      if (input.values.format !== undefined && format !== 'prometheus') {
        throw new BadInputError('metrics: --listen serves Prometheus text only; leave out --format');
      }
    } else {
      for (const f of ['min-interval', 'scrape-timeout']) {
        if (input.values[f] !== undefined) throw new BadInputError(`metrics: --${f} only goes with --listen`);
      }
    }
  },
  async run(ctx) {
    if (ctx.values.listen !== undefined) return serve(ctx);
    const format = String(ctx.values.format ?? 'prometheus');
    const result = await sampleFromCli(ctx);
    const prometheus = result.snapshot
      ? renderPrometheus(prometheusPoints(result.snapshot, ctx.config.monitoring.topTables), METRIC_SPECS)
      : renderPrometheusDown(ctx.config.target);
    const text =
      format === 'prometheus'
        ? prometheus.trimEnd()
        : result.metrics
            .map((d) => {
              const dims = Object.entries(d.dimensions)
                .map(([k, v]) => `${k}=${v}`)
                .join(',');
              return `DGM/Database ${d.name}{${dims}} ${d.value} ${d.unit}`;
            })
            .join('\n');
    return {
      result: {
        status: result.status,
        target: result.target,
        collectMs: result.collectMs,
        roundTrips: result.roundTrips,
        metrics: result.metrics,
        droppedMetrics: result.droppedMetrics,
        prometheus,
        constitutional_compliance: result.constitutional_compliance,
      },
      text,
      exitCode: result.status === 'failed' ? 1 : 0,
    };
  },
};

/** HOST:PORT, [IPv6]:PORT or :PORT (every interface). */
export function parseListenAddress(value: string): { host: string; port: number } {
  const m = value.match(/^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65_535) {
    throw new BadInputError(
      `metrics: --listen must be HOST:PORT (e.g. 127.0.0.1:9187, :9187 for every interface), got '${showValue(value)}'`,
    );
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function seconds(
  values: CommandContext['values'],
  flag: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || v < min || v > max) {
    throw new BadInputError(
      `metrics: --${flag} must be a number of seconds from ${min} to ${max}, got '${showValue(String(raw))}'`,
    );
  }
  return v;
}

/** --listen and its timing flags, checked (validate runs it before anything opens). */
function listenSettings(values: CommandContext['values']) {
  return {
    ...parseListenAddress(String(values.listen)),
    minIntervalS: seconds(values, 'min-interval', 10, 0, 3_600),
    timeoutS: seconds(values, 'scrape-timeout', 10, 0.1, 600),
  };
}

async function serve(ctx: CommandContext): Promise<CommandOutput> {
  const { host, port, minIntervalS, timeoutS } = listenSettings(ctx.values);
  const m = ctx.config.monitoring;
  const target = ctx.config.target;
  const memory = new PrometheusSeriesMemory();
  return ctx.withDatabase(async (_client, url) => {
    const exporter = await startMetricsExporter({
      host,
      port,
      minIntervalMs: minIntervalS * 1000,
      scrapeTimeoutMs: timeoutS * 1000,
      logger: ctx.logger,
      labels: { db_instance: target },
      down: () => renderPrometheusDown(target),
      // One connection per sample, opened as the sampler's: a sample abandoned at the scrape timeout
      // ends at its own statement timeout and leaves the next scrape a clean connection.
      sample: () =>
        withClient(
          {
            url,
            applicationName: 'dgm-db-ops-exporter',
            statementTimeoutMs: Math.min(m.statementTimeoutMs, Math.ceil(timeoutS * 1000)),
            lockTimeoutMs: Math.min(1_000, m.statementTimeoutMs),
          },
          async (client) => {
            const result = await runSample(
              client,
              ctx.config,
              { sink: new ConsoleMetricSink(null), logger: ctx.logger },
              { timeoutsPreset: true, full: ctx.values.full ? true : 'auto', persist: !ctx.flags.dryRun },
            );
            if (!result.snapshot) throw new Error(result.message ?? 'the sample failed');
            return renderPrometheus(memory.remember(prometheusPoints(result.snapshot, m.topTables)));
          },
        ),
    });
    ctx.logger.info(
      `metrics: serving ${exporter.url} (a sample at most every ${minIntervalS} s, scrape timeout ${timeoutS} s); Ctrl-C stops`,
    );
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => resolve(s));
    });
    await exporter.close();
    ctx.logger.info(`metrics: exporter stopped (${signal})`);
    return { result: { status: 'stopped', url: exporter.url, signal }, text: '', exitCode: 0 };
  });
}
