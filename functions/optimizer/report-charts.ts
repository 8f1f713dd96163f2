import { html as esc } from '../format/escape.ts';
import { oneLine } from './report-format.ts';

/**
 * The report's SVG charts (inline in its HTML page): axis ticks, a line chart over time, a sparkline
 * and a horizontal bar chart with one or more series. Pure: options in, SVG markup out, every text escaped.
 */

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
