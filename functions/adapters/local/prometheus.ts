import type { MetricPoint, MetricSpec } from '../../monitor/metrics.ts';

/**
 * Prometheus exposition text (format 0.0.4) of the sampler's metric points: the design's dgm_db_* names,
 * one HELP and TYPE line per metric, label values escaped, the same points the CloudWatch datums come from.
 * Every family in `families` gets its HELP and TYPE even without a series yet (dgm_db_alerts_total before
 * the first alert), as exporters do, so a scraper and a reader know the family exists.
 */
export function renderPrometheus(
  points: readonly MetricPoint[],
  families: ReadonlyArray<Pick<MetricSpec, 'prometheus'>> = [],
): string {
  const groups = new Map<string, { spec: MetricSpec['prometheus']; list: MetricPoint[] }>();
  for (const f of families) {
    if (!groups.has(f.prometheus.name)) groups.set(f.prometheus.name, { spec: f.prometheus, list: [] });
  }
  for (const p of points) {
    // A gauge without a value this sample is NaN (the series stays listed); a counter without one is left out.
    const known = p.prometheus != null && Number.isFinite(p.prometheus);
    if (!known && p.spec.prometheus.type !== 'gauge') continue;
    const g = groups.get(p.spec.prometheus.name) ?? { spec: p.spec.prometheus, list: [] };
    g.list.push(p);
    groups.set(p.spec.prometheus.name, g);
  }
  const lines: string[] = [];
  for (const [name, { spec, list }] of groups) {
    lines.push(`# HELP ${name} ${escapeHelp(spec.help)}`);
    lines.push(`# TYPE ${name} ${spec.type}`);
    for (const p of list) {
      const value = p.prometheus != null && Number.isFinite(p.prometheus) ? formatValue(p.prometheus) : 'NaN';
      lines.push(`${name}${renderLabels(p.labels)} ${value}`);
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** The exposition of a target that could not be sampled: dgm_db_up 0. */
export function renderPrometheusDown(target: string): string {
  return [
    '# HELP dgm_db_up 1 when the sample was collected, 0 when the database could not be sampled.',
    '# TYPE dgm_db_up gauge',
    `dgm_db_up${renderLabels({ db_instance: target })} 0`,
    '',
  ].join('\n');
}

function renderLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function escapeLabel(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function escapeHelp(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e9) / 1e9);
}
