import cliProgress from 'cli-progress';
import type { Logger } from '../../functions/ports.ts';

/**
 * A progress bar on stderr (cli-progress), drawn only when stderr is a terminal: piped or redirected,
 * stderr gets no progress at all (no lines per percent in a log file).
 */
export function progressBar(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): { update(done: number, what: string): void; stop(): void } {
  if (!stream.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% {what}`,
      stream,
      hideCursor: true,
      clearOnComplete: false,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(100, 0, { what: '' });
  return {
    update(done, what) {
      bar.update(Math.min(100, Math.round(done * 100)), { what });
    },
    stop() {
      bar.stop();
    },
  };
}

/** A line for one statement or one action of a run (DDL, a maintenance step, a what-if evaluation). */
export function isStatementLine(message: string): boolean {
  return (
    /^optimize: (CREATE|ALTER|DROP|ANALYZE|VACUUM|REINDEX|SET|RESET|COMMENT)\b/.test(message) ||
    /^\[\d+\/\d+\] /.test(message) ||
    /^evaluated (CREATE|DROP) /.test(message)
  );
}

/** The logger without the per-statement lines (kept with --verbose); warnings and errors always pass. */
export function stepLogger(logger: Logger, verbose: boolean): Logger & { hidden: number } {
  const out = {
    hidden: 0,
    info(message: string, fields?: Record<string, unknown>) {
      if (!verbose && isStatementLine(message)) {
        out.hidden++;
        return;
      }
      logger.info(message, fields);
    },
    warn: (message: string, fields?: Record<string, unknown>) => logger.warn(message, fields),
    error: (message: string, fields?: Record<string, unknown>) => logger.error(message, fields),
  };
  return out;
}
