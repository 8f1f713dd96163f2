import { markdown, markdownCode, markdownCodeBlock, plain, plainLine } from '../format/escape.ts';
import type { PerformanceReport } from './report.ts';
import { formatBytes, latencyRows, ms, oneLine, recommendationLines } from './report-format.ts';

/**
 * The performance report (optimizer/report.ts) as text for a terminal or as Markdown; the HTML page is
 * report-html.ts (re-exported here, so the three renderers are found in one place). Pure: report in,
 * string out.
 */

export { renderHtml } from './report-html.ts';

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
