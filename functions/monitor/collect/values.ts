/**
 * Reading the sampler's JSON documents (round trips 1 to 3 return one row of json each) and the rounding
 * every figure of a snapshot goes through. Pure.
 */

/** A json object of a round trip's row, as node-postgres parses it. */
export type Json = Record<string, unknown>;

export const num = (v: unknown): number => (v == null ? 0 : Number(v));
export const numOrNull = (v: unknown): number | null => (v == null ? null : Number(v));
export const str = (v: unknown): string => (v == null ? '' : String(v));
export const iso = (v: unknown): string | null =>
  v == null ? null : v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();

/** The elements of a json array (none when absent). */
export const list = (v: unknown): Json[] => (v as Json[] | null | undefined) ?? [];

export const round3 = (v: number) => Math.round(v * 1000) / 1000;
export const round4 = (v: number) => Math.round(v * 10_000) / 10_000;
export const round6 = (v: number) => Math.round(v * 1_000_000) / 1_000_000;
export const round4n = (v: number | null) => (v == null ? null : round4(v));

/** part / whole, null when the part or its guard is unknown or the whole is empty. */
export function ratioOf(part: number | null, whole: number, guard: number | null): number | null {
  if (part == null || guard == null) return null;
  return whole > 0 ? part / whole : null;
}

export function minOrNull(values: Array<number | null>): number | null {
  const v = values.filter((x): x is number => x != null);
  return v.length ? Math.min(...v) : null;
}

export function maxOrNull(values: Array<number | null>): number | null {
  const v = values.filter((x): x is number => x != null);
  return v.length ? Math.max(...v) : null;
}

export function avgOrNull(values: number[]): number | null {
  return values.length ? round4(values.reduce((a, b) => a + b, 0) / values.length) : null;
}
