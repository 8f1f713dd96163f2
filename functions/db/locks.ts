import type pg from 'pg';

/** Advisory lock keys: one per kind of run, so a migration and a maintenance run exclude themselves only. */
export const ADVISORY_LOCKS = {
  migrate: 0x44474d01,
  maintain: 0x44474d02,
  optimize: 0x44474d03,
} as const;

/**
 * How often the server checks, during a long statement, that the client of a lock-holding session is
 * still there (client_connection_check_interval, PostgreSQL 14+): a run killed in the middle of an
 * ANALYZE or a concurrent build has its session ended, and its lock released, within about this time.
 */
export const CLIENT_CHECK_INTERVAL_MS = 1000;
/** Server-side TCP keepalives (seconds) for a session holding a run lock: a vanished host is noticed too. */
const KEEPALIVES = { idle: 10, interval: 5, count: 3 };

export interface LockHolder {
  pid: number;
  applicationName: string;
  state: string;
  /** Seconds since the holder's session started. */
  sessionSeconds: number;
  /** Its current (or last) statement, cut. */
  query: string;
}

export type LockOutcome<T> = { acquired: true; value: T } | { acquired: false; holder?: LockHolder };

/** One line naming who holds a run lock, for the skip message. */
export function describeHolder(holder: LockHolder | undefined): string {
  if (!holder) return '';
  const q = holder.query.replace(/\s+/g, ' ').trim();
  return ` (pid ${holder.pid}${holder.applicationName ? `, ${holder.applicationName}` : ''}, ${holder.state}${
    q ? `: ${q.length > 60 ? `${q.slice(0, 60)}...` : q}` : ''
  }; a killed run's session ends within ${CLIENT_CHECK_INTERVAL_MS / 1000} s on PostgreSQL 14+)`;
}

async function lockHolder(client: pg.Client, key: number): Promise<LockHolder | undefined> {
  const { rows } = await client.query<{
    pid: number;
    application_name: string;
    state: string;
    seconds: number;
    query: string;
  }>(
    `SELECT a.pid, a.application_name, coalesce(a.state, '') AS state,
            extract(epoch FROM now() - a.backend_start)::float8 AS seconds, left(coalesce(a.query, ''), 200) AS query
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND ((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint
     LIMIT 1`,
    [key],
  );
  const r = rows[0];
  return r
    ? {
        pid: r.pid,
        applicationName: r.application_name,
        state: r.state,
        sessionSeconds: Math.round(r.seconds),
        query: r.query,
      }
    : undefined;
}

/**
 * Runs fn while holding a session-level advisory lock. Taking the lock also makes the server watch
 * the client (client_connection_check_interval where the server has it, TCP keepalives elsewhere), in
 * the same round trip, so a killed run releases the lock promptly instead of holding it until its
 * statement ends. With waitMs the lock is waited for (under lock_timeout) that long; without, the
 * answer is immediate. When another session holds it: { acquired: false, holder }.
 */
export async function withAdvisoryLock<T>(
  client: pg.Client,
  key: number,
  fn: () => Promise<T>,
  options: { waitMs?: number } = {},
): Promise<LockOutcome<T>> {
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT (SELECT set_config(name, $2, false) FROM pg_settings WHERE name = 'client_connection_check_interval') AS checks,
            set_config('tcp_keepalives_idle', $3, false) AS idle,
            set_config('tcp_keepalives_interval', $4, false) AS intvl,
            set_config('tcp_keepalives_count', $5, false) AS cnt,
            pg_try_advisory_lock($1) AS ok`,
    [
      key,
      String(CLIENT_CHECK_INTERVAL_MS),
      String(KEEPALIVES.idle),
      String(KEEPALIVES.interval),
      String(KEEPALIVES.count),
    ],
  );
  let ok = rows[0]?.ok === true;
  if (!ok && options.waitMs && options.waitMs > 0) ok = await waitForLock(client, key, options.waitMs);
  if (!ok) return { acquired: false, holder: await lockHolder(client, key).catch(() => undefined) };
  try {
    return { acquired: true, value: await fn() };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => {});
  }
}

/** Waits for the lock at most waitMs (lock_timeout on pg_advisory_lock), restoring lock_timeout. */
async function waitForLock(client: pg.Client, key: number, waitMs: number): Promise<boolean> {
  const { rows } = await client.query<{ lt: string }>(`SELECT current_setting('lock_timeout') AS lt`);
  try {
    await client.query(`SELECT set_config('lock_timeout', $1, false)`, [String(Math.trunc(waitMs))]);
    await client.query('SELECT pg_advisory_lock($1)', [key]);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '55P03') return false;
    throw err;
  } finally {
    await client.query(`SELECT set_config('lock_timeout', $1, false)`, [rows[0]!.lt]).catch(() => {});
  }
}
