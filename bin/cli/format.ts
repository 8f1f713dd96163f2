/**
 * A plain-text table: columns padded to their widest cell, two spaces apart, a dashed rule under the
 * headers. With alignNumbers, columns holding only numbers are right-aligned.
 */
export function table(
  headers: string[],
  rows: Array<Array<string | number>>,
  options: { alignNumbers?: boolean } = {},
): string {
  const cells = rows.map((r) => r.map(String));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const right = headers.map(
    (_, i) => options.alignNumbers === true && cells.every((r) => /^[\d.,]+$/.test(r[i] ?? '')),
  );
  const line = (r: string[]) =>
    r
      .map((c, i) =>
        right[i] ? c.padStart(widths[i]!) : i === headers.length - 1 ? c : c.padEnd(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
