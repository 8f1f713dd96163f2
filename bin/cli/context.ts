import type pg from 'pg';
import {
  type EmbeddedServer,
  startEmbeddedPostgres,
} from '../../functions/adapters/local/embedded-postgres.ts';
import type { RuntimeConfig } from '../../functions/config.ts';
import {
  connect,
  DatabaseUnreachableError,
  parseDatabaseUrl,
  withClient,
} from '../../functions/db/connection.ts';
import { BadInputError } from '../../functions/errors.ts';
import { redactLines } from '../../functions/format/redact.ts';
import { migrate } from '../../functions/jobs/migrate.ts';
import type { Logger } from '../../functions/ports.ts';
import type { CommandContext } from './types.ts';

/** Logs to stderr (so stdout stays one JSON document with --json), each line redacted. */
export function stderrLoggerFor(io: { stderr(text: string): void }): Logger {
  return {
    info: (m) => io.stderr(`${redactLines(m)}\n`),
    warn: (m) => io.stderr(`warning: ${redactLines(m)}\n`),
    error: (m) => io.stderr(`error: ${redactLines(m)}\n`),
  };
}

export const stderrLogger: Logger = stderrLoggerFor({ stderr: (t) => process.stderr.write(t) });

/**
 * Connects to the given URL, or starts an embedded PostgreSQL 18 (schema installed) when none is given;
 * the embedded server is stopped on every path, Ctrl-C included.
 */
export async function withDatabase<T>(
  databaseUrl: string | undefined,
  config: RuntimeConfig,
  logger: Logger,
  fn: (client: pg.Client, url: string) => Promise<T>,
): Promise<T> {
  let server: EmbeddedServer | undefined;
  let url = databaseUrl;
  if (url) {
    parseDatabaseUrl(url);
  } else {
    logger.info('no --database-url or DATABASE_URL: starting an embedded PostgreSQL 18');
    server = await startEmbeddedPostgres();
    url = server.url;
  }
  try {
    let client: pg.Client;
    try {
      client = await connect({ url, applicationName: 'dgm-db-ops-cli' });
    } catch (err) {
      // A wrong address or login is bad input; a server that cannot take a connection now (shutting
      // down, starting up, full) is a failed run.
      if (err instanceof DatabaseUnreachableError && databaseUrl && err.isWrongTarget)
        throw new BadInputError(`--database-url: ${err.message}`);
      throw err;
    }
    try {
      if (server) await migrate(client, config);
      return await fn(client, url);
    } finally {
      await client.end().catch(() => {});
    }
  } finally {
    if (server) {
      await server.stop();
      logger.info('embedded PostgreSQL stopped');
    }
  }
}

/**
 * Runs fn on a connection of its own, opened as the sampler Lambda opens one: its statement timeout, a
 * lock timeout of at most a second, the sampler's application_name.
 */
export function withSamplerConnection<T>(
  ctx: Pick<CommandContext, 'config' | 'withDatabase'>,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const m = ctx.config.monitoring;
  return ctx.withDatabase((_client, url) =>
    withClient(
      {
        url,
        applicationName: 'dgm-db-ops-sampler',
        statementTimeoutMs: m.statementTimeoutMs,
        lockTimeoutMs: Math.min(1_000, m.statementTimeoutMs),
      },
      fn,
    ),
  );
}
