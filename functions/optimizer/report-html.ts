import { html as esc } from '../format/escape.ts';
import type { PerformanceReport } from './report.ts';
import { barChart, lineChart, niceByteTicks, sparkline } from './report-charts.ts';
import { formatBytes, latencyRows, ms, oneLine, recommendationLines } from './report-format.ts';

/**
 * The performance report as one self-contained HTML page: summary cards, the latency before and after,
 * recommendations, slow statements, the sampler's history, index usage and partition sizes, with inline
 * SVG charts (report-charts.ts). Pure: report in, string out.
 */

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
