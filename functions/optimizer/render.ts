import { html, markdown, markdownCode, markdownCodeBlock, plain, plainLine } from '../format/escape.ts';
import type { PerformanceReport } from '../jobs/report.ts';

/**
 * The performance report as text, markdown, or one self-contained HTML page with inline SVG charts
 * (query latency before and after, partition sizes, index usage). Pure: report in, string out.
 */

interface LatencyRow {
  label: string;
  before: number;
  after: number;
}

function oneLine(s: string, max = 90): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

function ms(x: number): string {
  return x >= 100 ? `${Math.round(x)} ms` : x >= 1 ? `${x.toFixed(1)} ms` : `${x.toFixed(3)} ms`;
}

/** Before/after latency per statement: measured windows if any, else the last run's verification. */
export function latencyRows(report: PerformanceReport): { rows: LatencyRow[]; source: string } {
  const pi = report.performance_improvement;
  const names = new Map(Object.entries(report.statement_names ?? {}));
  if (pi.measured && pi.per_query.length > 0) {
    return {
      source: `pg_stat_statements, ${pi.before_window?.from ?? 'stats reset'} … ${pi.before_window?.to} against ${pi.after_window?.from} … ${pi.after_window?.to}`,
      rows: pi.per_query.slice(0, 15).map((q) => ({
        label: names.get(q.queryid) ?? oneLine(q.query ?? q.queryid, 60),
        before: q.mean_ms_before,
        after: q.mean_ms_after,
      })),
    };
  }
  return { source: 'no measured change yet', rows: [] };
}

const esc = html;

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function textTable(headers: string[], raw: string[][]): string {
  const rows = raw.map((r) => r.map(plainLine));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => pad(c, widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function recommendationLines(report: PerformanceReport): Array<{ title: string; sql?: string; why: string }> {
  return report.recommendations.map((r) => {
    if (r.kind === 'index') {
      return {
        title: `index ${r.name} on ${r.table} (plan cost -${Math.round(r.costReduction * 100)}%, ${r.evaluation})`,
        sql: r.definition,
        why: r.reason,
      };
    }
    if (r.kind === 'setting') {
      return {
        title: `${r.name}: ${r.current} -> ${r.recommended} (${r.scope})`,
        sql:
          r.statement ??
          (r.parameterGroup
            ? `RDS parameter group: ${r.parameterGroup.name} = ${r.parameterGroup.value}`
            : undefined),
        why: r.reason,
      };
    }
    return { title: `drop ${r.index} (${r.reason})`, sql: r.definition, why: r.detail };
  });
}

/** Plain text for a terminal. */
export function renderText(report: PerformanceReport): string {
  const out: string[] = [];
  const d = report.database;
  out.push(
    `Performance report for ${plain(d.name)} (${plain(report.target)}), PostgreSQL ${d.server_version}, ${formatBytes(d.bytes)}, ` +
      `cache hit ratio ${d.cache_hit_ratio === null ? 'n/a' : `${(d.cache_hit_ratio * 100).toFixed(2)}%`}`,
  );
  out.push(
    `constitutional hash ${report.constitutional_compliance.hash} ${report.constitutional_compliance.validated ? 'validated' : 'NOT validated'}, compliance score ${report.constitutional_compliance.compliance_score}`,
  );
  if (!d.statements_available) out.push(`statements unavailable: ${plain(d.statements_reason)}`);
  const pi = report.performance_improvement;
  out.push('');
  if (pi.measured && pi.overall) {
    out.push(
      `Measured since the last change: ${pi.overall.speedup}x faster (${pi.overall.total_ms_at_before_speed} ms at the earlier speed -> ${pi.overall.total_ms_after} ms for ${pi.overall.calls_after} calls)`,
    );
    out.push(
      textTable(
        ['statement', 'before', 'after', 'speedup'],
        latencyRows(report).rows.map((r) => [
          r.label,
          ms(r.before),
          ms(r.after),
          `${(r.before / Math.max(r.after, 1e-6)).toFixed(1)}x`,
        ]),
      ),
    );
  } else {
    out.push(`Improvement: not measured (${pi.reason ?? 'no data'})`);
  }
  out.push('', `Slow statements (mean >= threshold): ${report.slow_queries.length}`);
  if (report.slow_queries.length > 0) {
    out.push(
      textTable(
        ['mean', 'calls', 'statement'],
        report.slow_queries.slice(0, 10).map((q) => [ms(q.mean_ms), String(q.calls), oneLine(q.query, 80)]),
      ),
    );
  }
  out.push('', `Recommendations: ${report.recommendations.length}`);
  for (const r of recommendationLines(report)) {
    out.push(`- ${plainLine(r.title)}`, `    ${plainLine(r.why)}`);
    if (r.sql) out.push(`    ${plain(r.sql)}`);
  }
  const unused = report.index_usage.filter((i) => i.scans === 0 && !i.unique && !i.primary);
  out.push(
    '',
    `Indexes: ${report.index_usage.length}, ${unused.length} never scanned (not unique or primary)`,
  );
  const sets = new Map<string, { n: number; bytes: number; rows: number }>();
  for (const p of report.partition_sizes) {
    const s = sets.get(p.parent) ?? { n: 0, bytes: 0, rows: 0 };
    s.n++;
    s.bytes += p.bytes;
    s.rows += p.rows;
    sets.set(p.parent, s);
  }
  if (sets.size > 0) {
    out.push(
      '',
      'Partition sets',
      textTable(
        ['parent', 'partitions', 'rows', 'size'],
        [...sets].map(([k, v]) => [k, String(v.n), String(v.rows), formatBytes(v.bytes)]),
      ),
    );
  }
  if (report.auto_indexes.length > 0) {
    out.push(
      '',
      'Indexes created by the optimizer',
      textTable(
        ['index', 'status', 'size'],
        report.auto_indexes.map((a) => [
          String(a.index),
          `${a.status}${a.drop_reason ? ` (${a.drop_reason})` : ''}`,
          a.bytes ? formatBytes(Number(a.bytes)) : '',
        ]),
      ),
    );
  }
  return out.join('\n');
}

/** A Markdown table cell: text (escaped here) or markup already built from escaped parts. */
type MdCell = string | { md: string };

function mdCell(c: MdCell): string {
  return typeof c === 'string' ? markdown(c) : c.md;
}

/** Code in a table cell. */
function mdCode(text: string): MdCell {
  return { md: markdownCode(text, { inTable: true }) };
}

function mdTable(headers: string[], rows: MdCell[][]): string {
  return [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(mdCell).join(' | ')} |`),
  ].join('\n');
}

/** Markdown (GitHub flavour): headings, tables, SQL blocks. */
export function renderMarkdown(report: PerformanceReport): string {
  const d = report.database;
  const pi = report.performance_improvement;
  const out: string[] = [
    `# Performance report: ${markdown(d.name)}`,
    '',
    `Generated ${markdown(report.generated_at)} for target ${markdownCode(report.target)} · PostgreSQL ${markdown(d.server_version)} · ${formatBytes(d.bytes)} · cache hit ratio ${d.cache_hit_ratio === null ? 'n/a' : `${(d.cache_hit_ratio * 100).toFixed(2)}%`} · constitutional hash ${markdownCode(report.constitutional_compliance.hash)} ${report.constitutional_compliance.validated ? '(validated)' : '(**not validated**)'}`,
    '',
    '## Query latency before and after',
    '',
  ];
  const lat = latencyRows(report);
  if (pi.measured && pi.overall) {
    out.push(
      `Overall **${pi.overall.speedup}x** faster: ${pi.overall.calls_after} calls took ${pi.overall.total_ms_after} ms, ${pi.overall.total_ms_at_before_speed} ms at the earlier speed. Source: ${markdown(lat.source)}.`,
      '',
      mdTable(
        ['statement', 'before', 'after', 'speedup'],
        lat.rows.map((r) => [
          mdCode(r.label),
          ms(r.before),
          ms(r.after),
          `${(r.before / Math.max(r.after, 1e-6)).toFixed(1)}x`,
        ]),
      ),
    );
  } else {
    out.push(`Not measured: ${markdown(pi.reason ?? 'no data')}.`);
  }
  out.push('', `## Slow statements (${report.slow_queries.length})`, '');
  if (report.slow_queries.length > 0) {
    out.push(
      mdTable(
        ['mean', 'calls', 'total', 'statement'],
        report.slow_queries.map((q) => [
          ms(q.mean_ms),
          String(q.calls),
          ms(q.total_ms),
          mdCode(oneLine(q.query, 120)),
        ]),
      ),
    );
  } else out.push('None above the threshold.');
  out.push('', `## Recommendations (${report.recommendations.length})`, '');
  for (const r of recommendationLines(report)) {
    out.push(`- **${markdown(r.title)}**: ${markdown(r.why)}`);
    if (r.sql)
      out.push(
        '',
        ...markdownCodeBlock(r.sql, 'sql')
          .split('\n')
          .map((l) => `  ${l}`),
        '',
      );
  }
  out.push('', '## Index usage', '');
  out.push(
    mdTable(
      ['index', 'table', 'scans', 'size', ''],
      report.index_usage.map((i) => [
        `${i.schema}.${i.index}`,
        i.table,
        String(i.scans),
        formatBytes(i.bytes),
        [
          i.primary ? 'primary' : i.unique ? 'unique' : '',
          i.auto_created ? 'auto' : '',
          i.valid ? '' : 'INVALID',
        ]
          .filter(Boolean)
          .join(', '),
      ]),
    ),
  );
  out.push('', '## Partition sizes', '');
  out.push(
    mdTable(
      ['parent', 'partition', 'rows', 'size'],
      report.partition_sizes.map((p) => [p.parent, p.partition, String(p.rows), formatBytes(p.bytes)]),
    ),
  );
  if (report.auto_indexes.length > 0) {
    out.push('', '## Indexes created by the optimizer', '');
    out.push(
      mdTable(
        ['index', 'table', 'status', 'size', 'verdict'],
        report.auto_indexes.map((a) => [
          String(a.index),
          String(a.table),
          `${a.status}${a.drop_reason ? ` (${a.drop_reason})` : ''}`,
          a.bytes ? formatBytes(Number(a.bytes)) : '',
          String((a.verification as { reason?: string } | null)?.reason ?? ''),
        ]),
      ),
    );
  }
  if (report.governance_events.length > 0) {
    out.push('', '## Governance events', '');
    out.push(
      mdTable(
        ['id', 'changed', 'by', 'hash', 'status'],
        report.governance_events.map((g) => [
          String(g.id),
          String(g.changed_at),
          String(g.changed_by),
          `${g.old_hash} -> ${g.new_hash}`,
          String(g.status),
        ]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

// SVG charts ---------------------------------------------------------------------------------------

/** Round axis ticks (1, 2 or 5 times a power of ten) from 0 up to the first one at or above max. */
export function niceTicks(max: number, count = 4): number[] {
  if (max <= 0) return [0];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((x) => x >= raw) ?? 10 * mag;
  const ticks: number[] = [0];
  for (let k = 1; ticks[ticks.length - 1]! < max; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

/** Axis ticks for bytes: 1, 2 or 5 times a power of 1024 times a power of ten, so labels read 1 MB, 2 MB. */
export function niceByteTicks(max: number, count = 4): number[] {
  if (max <= 0) return [0];
  const unit = 1024 ** Math.max(0, Math.min(4, Math.floor(Math.log(Math.max(max, 1)) / Math.log(1024))));
  return niceTicks(max / unit, count).map((t) => t * unit);
}

/** A small line chart over time: one polyline, gaps where a bucket has no value. */
export function lineChart(options: {
  title: string;
  points: Array<{ at: string; value: number | null }>;
  format: (v: number) => string;
  color?: string;
  /** Tick labels on the time axis. */
  timeLabel: (at: Date) => string;
}): string {
  const width = 480;
  const height = 170;
  const left = 64;
  const right = 12;
  const top = 28;
  const bottom = 24;
  const w = width - left - right;
  const h = height - top - bottom;
  const values = options.points
    .map((p) => p.value)
    .filter((v): v is number => v != null && Number.isFinite(v));
  const max = Math.max(...values, 0);
  const ticks = niceTicks(max || 1, 3);
  const yMax = ticks[ticks.length - 1]!;
  const n = options.points.length;
  const x = (i: number) => left + (n <= 1 ? w / 2 : (i / (n - 1)) * w);
  const y = (v: number) => top + h - (v / yMax) * h;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" role="img" class="line" aria-label="${esc(options.title)}">`,
    `<text x="0" y="16" class="ct">${esc(options.title)}</text>`,
  ];
  for (const t of ticks) {
    parts.push(
      `<line x1="${left}" y1="${y(t).toFixed(1)}" x2="${width - right}" y2="${y(t).toFixed(1)}" class="grid"/><text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" class="tick" text-anchor="end">${esc(options.format(t))}</text>`,
    );
  }
  // Four time labels: first, two between, last.
  const marks = n > 1 ? [0, Math.round((n - 1) / 3), Math.round((2 * (n - 1)) / 3), n - 1] : [0];
  for (const i of new Set(marks)) {
    const anchor = i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle';
    parts.push(
      `<text x="${x(i).toFixed(1)}" y="${height - 6}" class="tick" text-anchor="${anchor}">${esc(options.timeLabel(new Date(options.points[i]!.at)))}</text>`,
    );
  }
  const segments: string[][] = [];
  let current: string[] = [];
  options.points.forEach((p, i) => {
    if (p.value == null || !Number.isFinite(p.value)) {
      if (current.length) segments.push(current);
      current = [];
      return;
    }
    current.push(`${x(i).toFixed(1)},${y(p.value).toFixed(1)}`);
  });
  if (current.length) segments.push(current);
  for (const seg of segments) {
    if (seg.length === 1) {
      const [cx, cy] = seg[0]!.split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${options.color ?? '#3b6fd4'}" class="pt"/>`);
    } else {
      parts.push(
        `<polyline points="${seg.join(' ')}" fill="none" stroke="${options.color ?? '#3b6fd4'}" stroke-width="2" class="series"/>`,
      );
    }
  }
  if (values.length === 0) {
    parts.push(
      `<text x="${left + w / 2}" y="${top + h / 2}" class="note" text-anchor="middle">no samples</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}

/** An inline sparkline (no labels): the shape of a series. */
export function sparkline(values: number[], width = 120, height = 22): string {
  const max = Math.max(...values, 0);
  const n = values.length;
  const pts = values
    .map(
      (v, i) =>
        `${((i / Math.max(1, n - 1)) * (width - 2) + 1).toFixed(1)},${(height - 1 - (max > 0 ? (v / max) * (height - 2) : 0)).toFixed(1)}`,
    )
    .join(' ');
  return `<svg xmlns="http://www.w3.org/2000/svg" class="spark" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="time per 30 minutes over the last 24 hours"><polyline points="${pts}" fill="none" stroke="#3b6fd4" stroke-width="1.5"/></svg>`;
}

interface BarSeries {
  name: string;
  color: string;
}

interface BarRow {
  label: string;
  /** Tooltip; the label by default. */
  title?: string;
  values: number[];
  note?: string;
  highlight?: string;
}

/** A horizontal bar chart; with log the axis is logarithmic (latencies spanning orders of magnitude). */
export function barChart(options: {
  title: string;
  rows: BarRow[];
  series: BarSeries[];
  log?: boolean;
  format: (v: number) => string;
  labelWidth?: number;
  /** Axis ticks for a linear axis (default niceTicks; bytes use niceByteTicks). */
  ticks?: (max: number) => number[];
}): string {
  const { rows, series } = options;
  const labelW = options.labelWidth ?? 360;
  // Room after the longest bar for its value label.
  const chartW = 500;
  const valueW = 70;
  const noteW = 110;
  const barH = 14;
  const gap = 10;
  const rowH = series.length * barH + gap;
  // Title, then the legend on a line of its own (a long title ran into it).
  const top = series.length > 1 ? 46 : 30;
  const height = top + rows.length * rowH + 28;
  const width = labelW + chartW + valueW + noteW;
  const max = Math.max(1e-9, ...rows.flatMap((r) => r.values));
  const min = options.log
    ? Math.max(1e-3, Math.min(...rows.flatMap((r) => r.values.filter((v) => v > 0)), max))
    : 0;
  const lo = options.log ? Math.floor(Math.log10(min)) : 0;
  const hi = options.log ? Math.max(Math.ceil(Math.log10(max)), lo + 1) : max;
  const linearTicks = options.ticks ?? niceTicks;
  const axisMax = options.log ? max : Math.max(...linearTicks(max), max);
  const x = (v: number) => {
    if (options.log) {
      if (v <= 0) return 0;
      return Math.max(1, ((Math.log10(v) - lo) / Math.max(1e-9, hi - lo)) * chartW);
    }
    return (v / axisMax) * chartW;
  };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="${esc(options.title)}">`,
    `<text x="0" y="16" class="ct">${esc(options.title)}</text>`,
  ];
  if (series.length > 1) {
    series.forEach((s, i) => {
      parts.push(
        `<rect x="${labelW + i * 150}" y="26" width="10" height="10" fill="${s.color}"/><text x="${labelW + i * 150 + 14}" y="35" class="lg">${esc(s.name)}</text>`,
      );
    });
  }
  // Grid lines.
  const ticks = options.log
    ? Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i))
    : linearTicks(max);
  // Labels as shown (cut to the label column): two rows never show the same one.
  const maxChars = Math.floor(labelW / 7.8);
  const shown = new Map<string, number>();
  const labels = rows.map((r) => {
    const cut = oneLine(r.label, maxChars);
    const n = (shown.get(cut) ?? 0) + 1;
    shown.set(cut, n);
    return n === 1 ? cut : `${oneLine(r.label, maxChars - 4)} #${n}`;
  });
  for (const t of ticks) {
    const gx = labelW + x(t);
    parts.push(
      `<line x1="${gx}" y1="${top}" x2="${gx}" y2="${height - 22}" class="grid"/><text x="${gx}" y="${height - 8}" class="tick" text-anchor="middle">${esc(options.format(t))}</text>`,
    );
  }
  rows.forEach((r, ri) => {
    const y0 = top + ri * rowH + gap / 2;
    parts.push(
      `<text x="${labelW - 8}" y="${y0 + (series.length * barH) / 2 + 4}" class="lb" text-anchor="end"${r.highlight ? ` style="fill:${r.highlight}"` : ''}><title>${esc(r.title ?? r.label)}</title>${esc(labels[ri])}</text>`,
    );
    r.values.forEach((v, si) => {
      const w = x(v);
      parts.push(
        `<rect x="${labelW}" y="${y0 + si * barH}" width="${w.toFixed(1)}" height="${barH - 2}" rx="2" fill="${r.highlight && series.length === 1 ? r.highlight : series[si]!.color}"><title>${esc(`${series[si]!.name}: ${options.format(v)}`)}</title></rect>`,
        `<text x="${labelW + w + 4}" y="${y0 + si * barH + barH - 4}" class="val">${esc(options.format(v))}</text>`,
      );
    });
    if (r.note) {
      parts.push(
        `<text x="${width - 4}" y="${y0 + (series.length * barH) / 2 + 4}" class="note" text-anchor="end">${esc(r.note)}</text>`,
      );
    }
  });
  parts.push('</svg>');
  return parts.join('');
}

const CSS = `
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2a44;color:#fff;padding:24px 32px}header h1{margin:0 0 6px;font-size:22px}header p{margin:0;color:#dde3ef;font-size:13px}
header code{background:#2e3d5c;color:#fff}
main{max-width:1040px;margin:0 auto;padding:24px 16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px;margin-bottom:20px}
.card{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.card .k{font-size:12px;color:#667;text-transform:uppercase;letter-spacing:.04em}.card .v{font-size:24px;font-weight:600;margin-top:4px}
.card .v.good{color:#1b7f4c}.card .v.bad{color:#b3261e}
section{background:#fff;border-radius:8px;padding:18px 20px;margin-bottom:18px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
section h2{font-size:16px;margin:0 0 10px}section p.src{font-size:12px;color:#667;margin:4px 0 10px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eceef2;vertical-align:top}
th{font-weight:600;color:#445}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;background:#f1f3f7;padding:1px 4px;border-radius:3px;word-break:break-word}
.rec{border-left:3px solid #3b6fd4;padding:6px 12px;margin:8px 0;background:#f8faff}.rec.setting{border-color:#9a6bd4}.rec.drop{border-color:#b3261e}
.rec b{display:block;margin-bottom:2px}.rec span{font-size:13px;color:#445}
svg .ct{font-size:14px;font-weight:600;fill:#1d2330}svg .lg,svg .tick,svg .val,svg .note{font-size:11px;fill:#556}svg .lb{font-size:12px;fill:#1d2330}
svg .grid{stroke:#e6e8ee;stroke-width:1}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:8px 20px}
h3{font-size:14px;margin:14px 0 4px}td.spark{width:124px}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;background:#e3f4ea;color:#1b7f4c}.badge.no{background:#fbe4e2;color:#b3261e}
`;

/** One self-contained HTML page (inline CSS and SVG, no scripts, no external resources). */
export function renderHtml(report: PerformanceReport): string {
  const d = report.database;
  const pi = report.performance_improvement;
  const lat = latencyRows(report);
  const cc = report.constitutional_compliance;
  const cards: Array<[string, string, string?]> = [
    ['Database size', formatBytes(d.bytes)],
    [
      'Cache hit ratio',
      d.cache_hit_ratio === null ? 'n/a' : `${(d.cache_hit_ratio * 100).toFixed(2)}%`,
      d.cache_hit_ratio !== null && d.cache_hit_ratio < 0.9 ? 'bad' : 'good',
    ],
    ['Slow statements', String(report.slow_queries.length), report.slow_queries.length > 0 ? 'bad' : 'good'],
    [
      'Measured speedup',
      pi.measured && pi.overall ? `${pi.overall.speedup}x` : 'n/a',
      pi.measured ? 'good' : undefined,
    ],
    ['Recommendations', String(report.recommendations.length)],
  ];
  const latencyChart =
    lat.rows.length > 0
      ? barChart({
          title: 'Mean statement latency, before and after (log scale)',
          rows: lat.rows.map((r) => ({
            label: r.label,
            values: [r.before, r.after],
            note: `${(r.before / Math.max(r.after, 1e-6)).toFixed(1)}x`,
          })),
          series: [
            { name: 'before', color: '#9aa3b5' },
            { name: 'after', color: '#1b9e5a' },
          ],
          log: true,
          format: (v) => (v >= 1 ? `${+v.toPrecision(3)} ms` : `${+v.toPrecision(2)} ms`),
        })
      : `<p>Not measured yet: ${esc(pi.reason ?? 'no data')}.</p>`;
  const sets = new Map<string, PerformanceReport['partition_sizes']>();
  for (const p of report.partition_sizes) sets.set(p.parent, [...(sets.get(p.parent) ?? []), p]);
  // One bar per partition set (its partitions summed); the partitions themselves are in the table below.
  const partitionChart =
    sets.size > 0
      ? barChart({
          title: `Partition sets: ${sets.size}, ${report.partition_sizes.length} partitions`,
          rows: [...sets].map(([parent, parts]) => ({
            label: parent,
            values: [parts.reduce((sum, p) => sum + p.bytes, 0)],
            note: `${parts.length} partitions`,
          })),
          series: [{ name: 'size', color: '#3b6fd4' }],
          format: formatBytes,
          ticks: niceByteTicks,
          labelWidth: 260,
        }) +
        `<table><thead><tr><th>set</th><th class="n">partitions</th><th class="n">rows</th><th class="n">size</th><th class="n">largest partition</th></tr></thead><tbody>${[
          ...sets,
        ]
          .map(([parent, parts]) => {
            const largest = parts.reduce((a, b) => (b.bytes > a.bytes ? b : a));
            return `<tr><td>${esc(parent)}</td><td class="n">${parts.length}</td><td class="n">${parts.reduce((n, p) => n + p.rows, 0).toLocaleString('en-US')}</td><td class="n">${esc(formatBytes(parts.reduce((n, p) => n + p.bytes, 0)))}</td><td class="n">${esc(largest.partition)} (${esc(formatBytes(largest.bytes))})</td></tr>`;
          })
          .join('')}</tbody></table>`
      : '<p>No partitioned tables.</p>';
  const indexRows = report.index_usage.slice(0, 40).map((i) => ({
    label: i.index,
    title: `${i.schema}.${i.table}: ${i.index}`,
    values: [Math.max(i.scans, 0)],
    note: formatBytes(i.bytes),
    highlight: i.scans === 0 && !i.unique && !i.primary ? '#b3261e' : i.auto_created ? '#1b9e5a' : undefined,
  }));
  // The title names only the colours that appear.
  const colours = [
    indexRows.some((r) => r.highlight === '#b3261e') ? 'names in red: never scanned' : '',
    indexRows.some((r) => r.highlight === '#1b9e5a') ? 'green: created by the optimizer' : '',
  ].filter(Boolean);
  const indexChart =
    indexRows.length > 0
      ? barChart({
          title: `Index scans (log scale${colours.length ? `; ${colours.join(', ')}` : ''})`,
          rows: indexRows,
          series: [{ name: 'scans', color: '#3b6fd4' }],
          log: true,
          format: (v) => (v >= 1000 ? `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k` : String(Math.round(v))),
        })
      : '<p>No indexes.</p>';
  const recs = recommendationLines(report)
    .map((r, i) => {
      const kind = report.recommendations[i]!.kind;
      return `<div class="rec ${kind === 'setting' ? 'setting' : kind === 'drop_index' ? 'drop' : ''}"><b>${esc(r.title)}</b><span>${esc(r.why)}</span>${r.sql ? `<div><code>${esc(r.sql)}</code></div>` : ''}</div>`;
    })
    .join('');
  const slow = report.slow_queries
    .map(
      (q) =>
        `<tr><td class="n">${esc(ms(q.mean_ms))}</td><td class="n">${q.calls}</td><td class="n">${esc(ms(q.total_ms))}</td><td><code>${esc(oneLine(q.query, 220))}</code></td></tr>`,
    )
    .join('');
  const autos = report.auto_indexes
    .map(
      (a) =>
        `<tr><td><code>${esc(a.index)}</code></td><td>${esc(a.table)}</td><td>${esc(a.status)}${a.drop_reason ? ` (${esc(a.drop_reason)})` : ''}</td><td class="n">${a.bytes ? esc(formatBytes(Number(a.bytes))) : ''}</td><td>${esc((a.verification as { reason?: string } | null)?.reason ?? '')}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Performance report: ${esc(d.name)}</title><style>${CSS}</style></head>
<body><header><h1>Performance report: ${esc(d.name)}</h1>
<p>Target ${esc(report.target)} · PostgreSQL ${esc(d.server_version)} · generated ${esc(report.generated_at)} ·
constitutional hash <code>${esc(cc.hash)}</code> <span class="badge${cc.validated ? '' : ' no'}">${cc.validated ? 'validated' : 'not validated'}</span> · compliance score ${esc(cc.compliance_score)}</p></header>
<main>
<div class="cards">${cards.map(([k, v, cls]) => `<div class="card"><div class="k">${esc(k)}</div><div class="v ${cls ?? ''}">${esc(v)}</div></div>`).join('')}</div>
<section><h2>Query latency before and after</h2>
<p class="src">${pi.measured && pi.overall ? `Overall ${esc(pi.overall.speedup)}x faster: ${esc(pi.overall.calls_after)} calls took ${esc(pi.overall.total_ms_after)} ms, ${esc(pi.overall.total_ms_at_before_speed)} ms at the earlier speed. ` : ''}Measured from ${esc(lat.source)}.</p>
${latencyChart}</section>
<section><h2>Recommendations (${report.recommendations.length})</h2>${recs || '<p>None.</p>'}</section>
<section><h2>Slow statements (${report.slow_queries.length})</h2>${slow ? `<table><thead><tr><th>mean</th><th>calls</th><th>total</th><th>statement</th></tr></thead><tbody>${slow}</tbody></table>` : '<p>None above the threshold.</p>'}</section>
${historySection(report)}
<section><h2>Index usage</h2>${indexChart}</section>
<section><h2>Partition sizes</h2>${partitionChart}</section>
${autos ? `<section><h2>Indexes created by the optimizer</h2><table><thead><tr><th>index</th><th>table</th><th>status</th><th>size</th><th>verification</th></tr></thead><tbody>${autos}</tbody></table></section>` : ''}
</main></body></html>
`;
}

const pct = (v: number) => `${(v * 100).toFixed(v >= 0.999 ? 1 : 2)}%`;
const msShort = (v: number) =>
  v >= 100 ? `${Math.round(v)} ms` : v >= 1 ? `${+v.toFixed(1)} ms` : `${+v.toPrecision(2)} ms`;
const perSec = (v: number) => (v >= 100 ? String(Math.round(v)) : String(+v.toPrecision(2)));

/** The sampler's history (dgm.stat_snapshots): charts over the last day and week, top statements with sparklines. */
function historySection(report: PerformanceReport): string {
  const h = report.history;
  if (!h || h.samples === 0) {
    return '<section><h2>History</h2><p>No samples yet: the sampler (or <code>dgm-db-ops sample</code>, <code>metrics --listen</code>) stores one per run in dgm.stat_snapshots.</p></section>';
  }
  const hhmm = (d: Date) => d.toISOString().slice(11, 16);
  const dayMonth = (d: Date) => `${d.toISOString().slice(5, 10)} ${d.toISOString().slice(11, 13)}h`;
  const charts = (w: typeof h.day, timeLabel: (d: Date) => string) =>
    [
      lineChart({
        title: 'Mean query time',
        points: w.buckets.map((b) => ({ at: b.at, value: b.meanMs })),
        format: msShort,
        timeLabel,
      }),
      lineChart({
        title: 'Calls per second',
        points: w.buckets.map((b) => ({ at: b.at, value: b.callsPerSecond })),
        format: perSec,
        timeLabel,
        color: '#1b9e5a',
      }),
      lineChart({
        title: 'Connections (mean)',
        points: w.buckets.map((b) => ({ at: b.at, value: b.connections })),
        format: perSec,
        timeLabel,
        color: '#9a6bd4',
      }),
      lineChart({
        title: 'Cache hit ratio',
        points: w.buckets.map((b) => ({ at: b.at, value: b.cacheHitRatio })),
        format: pct,
        timeLabel,
        color: '#d47a3b',
      }),
      lineChart({
        title: 'Database size',
        points: w.buckets.map((b) => ({ at: b.at, value: b.databaseBytes })),
        format: formatBytes,
        timeLabel,
        color: '#3b8fa8',
      }),
    ].join('');
  const top = h.topStatements
    .map(
      (s) =>
        `<tr><td class="spark">${sparkline(s.spark)}</td><td class="n">${esc(msShort(s.totalMs))}</td><td class="n">${s.calls.toLocaleString('en-US')}</td><td class="n">${esc(msShort(s.meanMs))}</td><td><code>${esc(oneLine(s.text ?? s.queryId, 160))}</code></td></tr>`,
    )
    .join('');
  return `<section><h2>History</h2><p class="src">${h.samples} samples of target ${esc(h.target)} in dgm.stat_snapshots (UTC; kept for monitoring.snapshotRetentionHours).</p>
<h3>Last 24 hours (30-minute buckets)</h3><div class="charts">${charts(h.day, hhmm)}</div>
<h3>Last 7 days (4-hour buckets)</h3><div class="charts">${charts(h.week, dayMonth)}</div>
<h3>Top statements, last 24 hours</h3>${top ? `<table><thead><tr><th>time per 30 min</th><th class="n">total</th><th class="n">calls</th><th class="n">mean</th><th>statement</th></tr></thead><tbody>${top}</tbody></table>` : '<p>No statements sampled yet.</p>'}</section>`;
}
