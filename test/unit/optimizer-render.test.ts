import { describe, expect, it } from 'vitest';
import { renderHtml, renderMarkdown, renderText } from '../../functions/optimizer/render.ts';
import type { PerformanceReport } from '../../functions/optimizer/report.ts';
import { barChart, niceByteTicks, niceTicks } from '../../functions/optimizer/report-charts.ts';
import { formatBytes } from '../../functions/optimizer/report-format.ts';

function report(over: Partial<PerformanceReport> = {}): PerformanceReport {
  return {
    target: 'orders-db',
    constitutional_compliance: { hash: 'cdd01ef066bc6cf2', validated: true, compliance_score: 0.95 },
    generated_at: '2026-01-01T00:00:00.000Z',
    database: {
      name: 'orders',
      bytes: 5 * 1024 ** 3,
      server_version: '18.1',
      cache_hit_ratio: 0.995,
      statements_available: true,
      hypopg_available: false,
    },
    slow_queries: [
      { queryid: '1', query: 'SELECT "<b>" FROM t | x', calls: 3, mean_ms: 250, total_ms: 750, rows: 3 },
    ],
    top_queries: [],
    recommendations: [],
    performance_improvement: {
      measured: true,
      before_window: { from: null, to: '2026-01-01T00:00:00.000Z' },
      after_window: { from: '2026-01-01T01:00:00.000Z', to: '2026-01-02T00:00:00.000Z' },
      overall: {
        queries: 2,
        calls_after: 20,
        total_ms_at_before_speed: 1000,
        total_ms_after: 50,
        improvement: 0.95,
        speedup: 20,
      },
      per_query: [
        {
          queryid: '1',
          query: 'SELECT a',
          calls_before: 10,
          calls_after: 10,
          mean_ms_before: 95,
          mean_ms_after: 0.5,
          improvement: 0.99,
          speedup: 190,
        },
        {
          queryid: '2',
          query: 'SELECT b',
          calls_before: 10,
          calls_after: 10,
          mean_ms_before: 5,
          mean_ms_after: 4.5,
          improvement: 0.1,
          speedup: 1.11,
        },
      ],
    },
    last_optimization: null,
    index_usage: [
      {
        schema: 'dgm',
        table: 't',
        index: 'never_used',
        scans: 0,
        bytes: 8192,
        unique: false,
        primary: false,
        valid: true,
        auto_created: false,
      },
      {
        schema: 'dgm',
        table: 't',
        index: 'dgm_auto_x',
        scans: 1500,
        bytes: 1e6,
        unique: false,
        primary: false,
        valid: true,
        auto_created: true,
      },
    ],
    partition_sizes: [
      {
        parent: 'dgm.archive',
        partition: 'archive_y2026m01',
        bounds: "FOR VALUES FROM ('2026-01-01') TO ('2026-02-01')",
        bytes: 3e6,
        rows: 1000,
      },
      { parent: 'dgm.archive', partition: 'archive_default', bounds: 'DEFAULT', bytes: 8192, rows: 0 },
    ],
    auto_indexes: [],
    governance_events: [],
    statement_names: { '1': 'archive_by_status' },
    ...over,
  };
}

describe('report rendering', () => {
  it('draws latency on a log scale, names statements, and marks unused and auto-created indexes', () => {
    const html = renderHtml(report());
    expect(html).toContain('aria-label="Mean statement latency, before and after (log scale)"');
    expect(html).toContain('>archive_by_status</text>');
    expect(html).toContain('190.0x');
    // An inline style: the stylesheet's fill for labels would beat a fill attribute (the names stayed dark).
    expect(html).toMatch(/style="fill:#b3261e"[^>]*><title>dgm\.t: never_used<\/title>never_used/);
    expect(html).toMatch(/style="fill:#1b9e5a"[^>]*><title>dgm\.t: dgm_auto_x<\/title>/);
    // Partition sizes per set: one bar for the set, the partitions summed.
    expect(html).toContain('>dgm.archive</text>');
    expect(html).toMatch(
      /<td>dgm\.archive<\/td><td class="n">2<\/td><td class="n">1,000<\/td><td class="n">2\.9 MB<\/td>/,
    );
    // Text from the database is escaped everywhere.
    expect(html).toContain('SELECT &quot;&lt;b&gt;&quot; FROM t | x');
    expect(html).not.toContain('"<b>"');
  });

  it('says so when nothing was measured, and escapes markdown table cells', () => {
    const r = report({
      performance_improvement: { measured: false, reason: 'no change yet', per_query: [] },
    });
    expect(renderHtml(r)).toContain('Not measured yet: no change yet.');
    const md = renderMarkdown(r);
    expect(md).toContain('Not measured: no change yet.');
    expect(md).toContain('SELECT "<b>" FROM t \\| x');
  });

  it('escapes names and statements in the markdown report (issue 13)', () => {
    const evil = '<script>alert(1)</script>_y2026m12';
    const r = report({
      slow_queries: [
        {
          queryid: '9',
          query: 'SELECT 1 /* a `tick` here */ FROM t',
          calls: 1,
          mean_ms: 300,
          total_ms: 300,
          rows: 1,
        },
      ],
      partition_sizes: [{ parent: 'dgm.archive', partition: evil, bounds: 'DEFAULT', bytes: 8192, rows: 0 }],
    });
    const md = renderMarkdown(r);
    expect(md).not.toContain('<script>');
    expect(md).toContain('| dgm.archive | &lt;script&gt;alert(1)&lt;/script&gt;\\_y2026m12 | 0 | 8.0 kB |');
    // The backtick inside the statement does not end its code span: a longer fence holds it.
    expect(md).toContain('| ``SELECT 1 /* a `tick` here */ FROM t`` |');
    expect(renderText(r)).toContain('SELECT 1 /* a `tick` here */ FROM t');
    expect(renderHtml(r)).not.toContain('<script>');
  });

  it('puts each value where its scale says', () => {
    const svg = barChart({
      title: 't',
      rows: [
        { label: 'a', values: [100] },
        { label: 'b', values: [1] },
      ],
      series: [{ name: 's', color: '#000' }],
      log: true,
      format: String,
    });
    const widths = [...svg.matchAll(/<rect x="360" y="[\d.]+" width="([\d.]+)" height="12"/g)].map((m) =>
      Number(m[1]),
    );
    // 1 and 100 on a log axis from 1 to 100: the smallest bar is a sliver, the largest the full width.
    expect(widths).toEqual([500, 1]);
    expect(niceTicks(2.9e6)).toEqual([0, 1e6, 2e6, 3e6]);
    expect(niceTicks(0.8)).toEqual([0, 0.2, 0.4, 0.6, 0.8]);
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GB');
    expect(formatBytes(512)).toBe('512 B');
  });

  it('names only the colours that appear, never shows two rows with one label, reads on the dark header', () => {
    const plain = report({
      index_usage: [{ ...report().index_usage[1]!, auto_created: false, index: 'used_idx' }],
    });
    expect(renderHtml(plain)).toContain('aria-label="Index scans (log scale)"');
    const svg = barChart({
      title: 't',
      rows: [
        {
          label: 'SELECT * FROM dgm.dgm_archive WHERE status = $1 AND created_at > $2 ORDER BY 1',
          values: [2],
        },
        {
          label: 'SELECT * FROM dgm.dgm_archive WHERE status = $1 AND created_at > $2 ORDER BY 2',
          values: [1],
        },
      ],
      series: [{ name: 's', color: '#000' }],
      format: String,
    });
    const labels = [...svg.matchAll(/class="lb"[^>]*><title>[^<]*<\/title>([^<]*)<\/text>/g)].map(
      (m) => m[1],
    );
    expect(labels).toHaveLength(2);
    expect(new Set(labels).size).toBe(2);
    expect(renderHtml(report())).toContain('header code{background:#2e3d5c;color:#fff}');
    expect(niceByteTicks(900 * 1024)).toEqual([0, 500 * 1024, 1000 * 1024]);
  });

  it('without samples the history says how to get them', () => {
    expect(renderHtml(report())).toContain('<h2>History</h2><p>No samples yet');
  });
});
