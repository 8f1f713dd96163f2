import { readFileSync } from 'node:fs';
import pg from 'pg';
import { BadInputError, errorMessage } from '../errors.ts';
import { showValue } from '../format/redact.ts';

export type Client = pg.Client;

/** libpq's sslmode values, with libpq's meaning (see connect). */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];
/** An sslmode, or `verify` (= verify-full: what the Lambdas use against RDS). */
export type TlsMode = SslMode | 'verify';

export interface ConnectOptions {
  url: string;
  applicationName?: string;
  /** Applied to every statement of the session; keep it below the Lambda timeout. */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  lockTimeoutMs?: number;
  /**
   * TLS, as libpq's sslmode: `disable` plain; `allow` plain first, TLS if the server insists; `prefer`
   * TLS first, plain if the server offers no TLS; `require` TLS without checking the certificate;
   * `verify-ca` TLS with the certificate checked against the trusted CAs (Lambda: NODE_EXTRA_CA_CERTS
   * holds the RDS CA bundle; a URL may name a CA file with sslrootcert); `verify-full` (or `verify`) also
   * checks the host name. Default: the URL's sslmode, else `disable` for loopback hosts and `verify-full`
   * elsewhere.
   */
  tls?: TlsMode;
  password?: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** The URL query parameters a database URL may carry (libpq refuses unknown ones as well). */
const URL_PARAMETERS = ['sslmode', 'sslrootcert'] as const;

/** A database URL, checked and decoded. */
export interface DatabaseUrl {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  sslmode?: SslMode;
  sslrootcert?: string;
}

function decodePart(value: string, what: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new BadInputError(`--database-url: the ${what} has an invalid %-escape`);
  }
}

/**
 * Checks a database URL completely (shape, %-escapes, port, query parameters, sslmode) and returns it
 * decoded; a one-line BadInputError that never shows the password otherwise.
 */
export function parseDatabaseUrl(url: string): DatabaseUrl {
  if (url.trim() === '') throw new BadInputError('--database-url is empty');
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
      `--database-url must start with postgres:// or postgresql://, got ${showValue(parsed.protocol, 20)}//`,
    );
  }
  if (!parsed.hostname) throw new BadInputError('--database-url has no host');
  if (parsed.port && !/^\d+$/.test(parsed.port))
    throw new BadInputError('--database-url has an invalid port');
  const port = parsed.port ? Number(parsed.port) : 5432;
  if (port < 1 || port > 65535) throw new BadInputError('--database-url has an invalid port');
  const database = decodePart(parsed.pathname.replace(/^\//, ''), 'database name');
  if (database.includes('/')) throw new BadInputError('--database-url: the database name contains a /');
  const user = decodePart(parsed.username, 'user name');
  const password = decodePart(parsed.password, 'password');
  for (const [what, v] of [
    ['user name', user],
    ['password', password],
    ['database name', database],
  ] as const) {
    if (v.includes('\u0000')) throw new BadInputError(`--database-url: the ${what} contains a NUL character`);
  }
  const out: DatabaseUrl = {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port,
    user: user || 'postgres',
    password,
    database: database || 'postgres',
  };
  const seen = new Set<string>();
  for (const [key, value] of parsed.searchParams) {
    if (!(URL_PARAMETERS as readonly string[]).includes(key)) {
      throw new BadInputError(
        `--database-url: unsupported parameter ${showValue(key, 40)} (supported: ${URL_PARAMETERS.join(', ')})`,
      );
    }
    if (seen.has(key)) throw new BadInputError(`--database-url: parameter ${key} is given twice`);
    seen.add(key);
    if (key === 'sslmode') {
      if (!(SSL_MODES as readonly string[]).includes(value)) {
        throw new BadInputError(
          `--database-url: sslmode must be one of ${SSL_MODES.join(', ')}, got ${showValue(value, 40)}`,
        );
      }
      out.sslmode = value as SslMode;
    } else if (key === 'sslrootcert') {
      if (value === '') throw new BadInputError('--database-url: sslrootcert is empty');
      out.sslrootcert = value;
    }
  }
  return out;
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

/** The TLS mode a connection to this URL uses: its sslmode, else plain on loopback, else verify-full. */
export function sslModeFor(url: DatabaseUrl | string): SslMode {
  const parsed = typeof url === 'string' ? parseDatabaseUrl(url) : url;
  if (parsed.sslmode) return parsed.sslmode;
  return LOOPBACK.has(parsed.host) ? 'disable' : 'verify-full';
}

type SslConfig = false | { rejectUnauthorized: boolean; ca?: string; checkServerIdentity?: () => undefined };

function tlsConfig(mode: 'require' | 'verify-ca' | 'verify-full', rootCert: string | undefined): SslConfig {
  if (mode === 'require') return { rejectUnauthorized: false };
  return {
    rejectUnauthorized: true,
    ...(rootCert !== undefined ? { ca: rootCert } : {}),
    // verify-ca: the chain is checked, the host name is not.
    ...(mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
  };
}

/** node-postgres' error when TLS was asked for and the server answered the SSLRequest with 'N'. */
function serverRefusedTls(err: unknown): boolean {
  return err instanceof Error && /does not support SSL/i.test(err.message);
}

/** The server refused a plain connection but may take a TLS one (pg_hba hostssl: 28000 "no encryption"). */
function serverWantsTls(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '28000' || e?.code === '28P01' || /no encryption|SSL/i.test(e?.message ?? '');
}

/**
 * Opens one connection with timeouts set at connect time (no extra round trip). Connection failures
 * surface as a one-line error that never contains the password.
 */
export async function connect(options: ConnectOptions): Promise<pg.Client> {
  const parsed = parseDatabaseUrl(options.url);
  const requested = options.tls === 'verify' ? 'verify-full' : options.tls;
  const mode = requested ?? sslModeFor(parsed);
  let rootCert: string | undefined;
  if (parsed.sslrootcert !== undefined && (mode === 'verify-ca' || mode === 'verify-full')) {
    try {
      rootCert = readFileSync(parsed.sslrootcert, 'utf8');
    } catch {
      throw new BadInputError(`--database-url: cannot read sslrootcert ${showValue(parsed.sslrootcert)}`);
    }
  }
  const sessionOptions: string[] = [];
  if (options.statementTimeoutMs)
    sessionOptions.push(`-c statement_timeout=${Math.trunc(options.statementTimeoutMs)}`);
  if (options.lockTimeoutMs) sessionOptions.push(`-c lock_timeout=${Math.trunc(options.lockTimeoutMs)}`);
  const attempt = async (ssl: SslConfig): Promise<pg.Client> => {
    const client = new pg.Client({
      host: parsed.host,
      port: parsed.port,
      user: parsed.user,
      password: options.password ?? parsed.password,
      database: parsed.database,
      application_name: options.applicationName ?? 'dgm-db-ops',
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      options: sessionOptions.length > 0 ? sessionOptions.join(' ') : undefined,
      ssl,
    });
    // An idle client's socket error must not crash the process; the next query reports it.
    client.on('error', () => {});
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
  };
  try {
    switch (mode) {
      case 'disable':
        return await attempt(false);
      case 'allow':
        // libpq: plain first; TLS only when the server refuses the plain connection.
        try {
          return await attempt(false);
        } catch (err) {
          if (!serverWantsTls(err)) throw err;
          return await attempt(tlsConfig('require', undefined));
        }
      case 'prefer':
        // libpq: TLS first (unverified); plain only when the server offers no TLS.
        try {
          return await attempt(tlsConfig('require', undefined));
        } catch (err) {
          if (!serverRefusedTls(err)) throw err;
          return await attempt(false);
        }
      default:
        return await attempt(tlsConfig(mode, rootCert));
    }
  } catch (err) {
    const where = `${parsed.host}:${parsed.port}/${parsed.database}`;
    throw new DatabaseUnreachableError(`cannot connect to ${where}: ${errorMessage(err)}`, err);
  }
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
  /**
   * True when the address or credentials given are wrong (no such host or database, nothing listening,
   * login or TLS refused): bad input. A server that is there but cannot take the connection now
   * (shutting down, starting up, too many connections, a timeout, a dropped socket) is not.
   */
  get isWrongTarget(): boolean {
    const e = this.causeError as { code?: string; message?: string } | undefined;
    const code = e?.code ?? '';
    if (WRONG_TARGET_CODES.has(code)) return true;
    return serverRefusedTls(e) || /certificate|self[- ]signed|altnames/i.test(e?.message ?? '');
  }
}

/** Connection error codes that mean the URL (host, port, database, user, password, TLS) is wrong. */
const WRONG_TARGET_CODES = new Set([
  '28P01', // invalid_password
  '28000', // invalid_authorization_specification (pg_hba)
  '3D000', // invalid_catalog_name: no such database
  '42704', // undefined_object (e.g. a role that does not exist on some versions)
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

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
