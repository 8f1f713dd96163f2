/** Helpers the corpus's workloads share to generate their parameters deterministically. */

/** The round's item of a list, cycling. */
export const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length]!;

/** A date n days after d. */
export const addDays = (d: Date, n: number): Date => new Date(d.getTime() + n * 86400_000);
