import { describe, expect, it } from 'vitest';
import { isStatementLine, progressBar, stepLogger } from '../../bin/cli/progress.ts';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  const stream = {
    isTTY,
    columns: 100,
    write: (s: string) => {
      writes.push(String(s));
      return true;
    },
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
    clearScreenDown: () => true,
    on: () => stream,
    removeListener: () => stream,
    once: () => stream,
  };
  return { stream: stream as unknown as NodeJS.WriteStream, writes };
}

describe('progress on stderr', () => {
  it('draws a bar on a terminal, and writes nothing when stderr is not one', () => {
    const tty = fakeStream(true);
    const bar = progressBar('loading', tty.stream);
    bar.update(0.5, 'archive 2026-01');
    bar.update(1, 'done');
    bar.stop();
    const drawn = tty.writes.join('');
    // The first frame, and the last one (cli-progress redraws at most 10 times a second in between).
    expect(drawn).toMatch(/loading \[░{30}\] 0%/);
    expect(drawn).toMatch(/loading \[█{30}\] 100% done/);
    const piped = fakeStream(false);
    const quiet = progressBar('loading', piped.stream);
    quiet.update(0.5, 'x');
    quiet.stop();
    expect(piped.writes).toEqual([]);
  });

  it('keeps per-statement lines for --verbose, and always passes warnings', () => {
    expect(isStatementLine('optimize: CREATE INDEX CONCURRENTLY IF NOT EXISTS "x" ON "dgm"."t" (a)')).toBe(
      true,
    );
    expect(isStatementLine('[3/58] partitions create "dgm"."t_2026_01": done in 4 ms')).toBe(true);
    expect(isStatementLine('evaluated CREATE INDEX "i" ON t (a) (hypopg)')).toBe(true);
    expect(isStatementLine('optimize: reading the workload')).toBe(false);
    const seen: string[] = [];
    const base = {
      info: (m: string) => seen.push(m),
      warn: (m: string) => seen.push(`warn ${m}`),
      error: () => {},
    };
    const quiet = stepLogger(base, false);
    quiet.info('[1/2] vacuum "dgm"."t": done in 3 ms');
    quiet.info('maintain vacuum: 2 action(s)');
    quiet.warn('[2/2] vacuum "dgm"."u": lock timeout');
    expect(seen).toEqual(['maintain vacuum: 2 action(s)', 'warn [2/2] vacuum "dgm"."u": lock timeout']);
    expect(quiet.hidden).toBe(1);
    const verbose = stepLogger(base, true);
    verbose.info('[1/2] vacuum "dgm"."t": done in 3 ms');
    expect(seen.at(-1)).toBe('[1/2] vacuum "dgm"."t": done in 3 ms');
  });
});
