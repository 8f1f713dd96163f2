import pg from 'pg';
import { BadInputError, errorMessage } from '../errors.ts';

export type Client = pg.Client;

export interface ConnectOptions {
  url: string;
  applicationName?: string;
  /** Applied to every statement of the session; keep it below the Lambda timeout. */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  lockTimeoutMs?: number;
  /**
   * TLS: `verify` checks the server certificate (RDS: Lambda's NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem
   * holds the RDS CA bundle), `require` encrypts without verifying, `disable` is plain. Default: the URL's
   * sslmode, else `disable` for loopback hosts and `verify` elsewhere.
   */
  tls?: 'verify' | 'require' | 'disable';
  password?: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** Checks a database URL's shape and returns it parsed; a one-line BadInputError otherwise. */
export function parseDatabaseUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BadInputError(
      '--database-url is not a valid URL (expected postgres://user:password@host:port/database)',
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new BadInputError(
      `--database-url must start with postgres:// or postgresql://, got ${parsed.protocol}//`,
    );
  }
  if (!parsed.hostname) throw new BadInputError('--database-url has no host');
  if (parsed.port && !/^\d+$/.test(parsed.port))
    throw new BadInputError('--database-url has an invalid port');
  return parsed;
}

/** The URL with its password masked, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}

function tlsMode(parsed: URL, requested?: ConnectOptions['tls']): 'verify' | 'require' | 'disable' {
  if (requested) return requested;
  const mode = parsed.searchParams.get('sslmode');
  if (mode === 'disable' || mode === 'allow' || mode === 'prefer') return 'disable';
  if (mode === 'require') return 'require';
  if (mode === 'verify-ca' || mode === 'verify-full') return 'verify';
  return LOOPBACK.has(parsed.hostname) ? 'disable' : 'verify';
}

/**
 * Opens one connection with timeouts set at connect time (no extra round trip). Connection failures
 * surface as a one-line error that never contains the password.
 */
export async function connect(options: ConnectOptions): Promise<pg.Client> {
  const parsed = parseDatabaseUrl(options.url);
  const mode = tlsMode(parsed, options.tls);
  const sessionOptions: string[] = [];
  if (options.statementTimeoutMs)
    sessionOptions.push(`-c statement_timeout=${Math.trunc(options.statementTimeoutMs)}`);
  if (options.lockTimeoutMs) sessionOptions.push(`-c lock_timeout=${Math.trunc(options.lockTimeoutMs)}`);
  const client = new pg.Client({
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : 5432,
    user: decodeURIComponent(parsed.username || 'postgres'),
    password: options.password ?? decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '') || 'postgres'),
    application_name: options.applicationName ?? 'dgm-db-ops',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    options: sessionOptions.length > 0 ? sessionOptions.join(' ') : undefined,
    ssl: mode === 'disable' ? false : { rejectUnauthorized: mode === 'verify' },
  });
  // An idle client's socket error must not crash the process; the next query reports it.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    const where = `${parsed.hostname}:${parsed.port || 5432}/${parsed.pathname.replace(/^\//, '') || 'postgres'}`;
    throw new DatabaseUnreachableError(`cannot connect to ${where}: ${errorMessage(err)}`, err);
  }
  return client;
}

/** The database could not be reached or refused the login. */
export class DatabaseUnreachableError extends Error {
  override name = 'DatabaseUnreachableError';
  readonly causeError?: unknown;

  constructor(message: string, causeError?: unknown) {
    super(message);
    this.causeError = causeError;
  }
  /** True when the server rejected the credentials (28P01/28000): a rotated secret, fetch it again. */
  get isAuthFailure(): boolean {
    const code = (this.causeError as { code?: string } | undefined)?.code;
    return code === '28P01' || code === '28000';
  }
}

/** Runs fn with a connection that is closed on every path. */
export async function withClient<T>(
  options: ConnectOptions,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await connect(options);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs fn inside BEGIN/COMMIT, rolling back on any error. */
export async function inTransaction<T>(client: pg.Client, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
