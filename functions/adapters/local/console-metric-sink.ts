import type { MetricDatum, MetricSink, MetricSinkResult } from '../../ports.ts';

/**
 * A MetricSink for local runs: writes each datum as one line (to stderr by default, so `--json` keeps
 * stdout to its one document) and keeps them for whoever wants to look at them afterwards.
 */
export class ConsoleMetricSink implements MetricSink {
  readonly datums: MetricDatum[] = [];

  private readonly write: ((line: string) => void) | null;

  constructor(write: ((line: string) => void) | null = (l) => process.stderr.write(`${l}\n`)) {
    this.write = write;
  }

  async put(datums: MetricDatum[]): Promise<MetricSinkResult> {
    for (const d of datums) {
      this.datums.push(d);
      if (this.write) {
        const dims = Object.entries(d.dimensions)
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        this.write(`metric ${d.name}{${dims}} ${d.value} ${d.unit}`);
      }
    }
    return { sent: datums.length, failed: 0, calls: datums.length > 0 ? 1 : 0, errors: [] };
  }
}
