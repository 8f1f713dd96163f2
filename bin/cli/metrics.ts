import { renderPrometheus, renderPrometheusDown } from '../../functions/adapters/local/prometheus.ts';
import { BadInputError } from '../../functions/errors.ts';
import { showValue } from '../../functions/format/redact.ts';
import { METRIC_SPECS } from '../../functions/monitor/metrics.ts';
import { sampleFromCli } from './sample.ts';
import type { Command } from './types.ts';

const FORMATS = ['prometheus', 'cloudwatch'] as const;

/**
 * Takes a sample and prints its metrics: Prometheus exposition text (the design's dgm_db_* names) or
 * the CloudWatch datums, one per line. With --json, the datums and the text as one document.
 */
export const metricsCommand: Command = {
  name: 'metrics',
  summary: 'Take a sample and print its metrics as Prometheus text or CloudWatch datums',
  usage: 'metrics [--format prometheus|cloudwatch] [--full] [--json]',
  options: { format: { type: 'string' }, full: { type: 'boolean', default: false } },
  validate(input) {
    const format = String(input.values.format ?? 'prometheus');
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new BadInputError(
        `metrics: --format must be one of ${FORMATS.join(', ')}, got '${showValue(format)}'`,
      );
    }
  },
  async run(ctx) {
    const format = String(ctx.values.format ?? 'prometheus');
    const result = await sampleFromCli(ctx);
    const prometheus = result.points
      ? renderPrometheus(result.points, METRIC_SPECS)
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
