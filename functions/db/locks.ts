import type pg from 'pg';

/** Advisory lock keys: one per kind of run, so a migration and a maintenance run exclude themselves only. */
export const ADVISORY_LOCKS = {
  migrate: 0x44474d01,
  maintain: 0x44474d02,
  optimize: 0x44474d03,
} as const;

/**
 * Runs fn while holding a session-level advisory lock taken without waiting. Returns
 * { acquired: false } at once when another session holds it.
 */
export async function withAdvisoryLock<T>(
  client: pg.Client,
  key: number,
  fn: () => Promise<T>,
): Promise<{ acquired: true; value: T } | { acquired: false }> {
  const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key]);
  if (!rows[0]?.ok) return { acquired: false };
  try {
    return { acquired: true, value: await fn() };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => {});
  }
}
