import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maintain } from '../../functions/jobs/maintain.ts';
import { silentLogger } from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

/**
 * Property: whatever rows arrive (on partition boundaries, a microsecond either side, far ahead in the
 * default partition, behind retention, with every status), repeated maintenance runs keep exactly the
 * rows not past retention: row count and checksum after a run equal those of the rows before it that
 * retention keeps. Runs alternate between the job's executor and the psql one over the same planner.
 */

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.client.query(`
    CREATE SCHEMA prop;
    CREATE TABLE prop.monthly (id bigint NOT NULL, ts timestamptz NOT NULL, status text NOT NULL, payload text)
      PARTITION BY RANGE (ts);
    CREATE TABLE prop.monthly_default PARTITION OF prop.monthly DEFAULT;
    CREATE INDEX ON prop.monthly (status, ts);
    CREATE TABLE prop.daily (id bigint NOT NULL, ts timestamp NOT NULL, payload text) PARTITION BY RANGE (ts);
    CREATE TABLE prop.daily_default PARTITION OF prop.daily DEFAULT;
    INSERT INTO dgm.partition_config (parent_table, control_column, partition_interval, premake, retention,
      sub_partition_column, sub_partition_values)
    VALUES ('prop.monthly', 'ts', '1 month', 2, '6 months', 'status', ARRAY['a', 'b', 'c']),
           ('prop.daily', 'ts', '1 day', 3, '20 days', NULL, NULL)`);
});
afterAll(async () => db?.drop());

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DAY = 86_400_000;
const monthStart = (t: number, add = 0) => {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + add, 1);
};
const dayStart = (t: number) => Math.floor(t / DAY) * DAY;
/** PostgreSQL's timestamptz - interval 'N months' in UTC for days up to 28 (no month-end clamping). */
const minusMonths = (t: number, n: number) => {
  const d = new Date(t);
  return Date.UTC(
    d.getUTCFullYear(),
    d.getUTCMonth() - n,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
  );
};
const iso = (t: number) => new Date(t).toISOString();
/** A microsecond-precision timestamp text: ms from t, plus extra microseconds. */
const micro = (t: number, us: number) => `${iso(t).slice(0, 23)}${String(us).padStart(3, '0')}`;

async function fingerprint(sql: string, params: unknown[] = []) {
  const { rows } = await db.client.query<{ n: string; s: string | null }>(
    `SELECT count(*) AS n, coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS s FROM (${sql}) t`,
    params,
  );
  return rows[0]!;
}

describe('partition maintenance never loses a row', () => {
  it('keeps exactly the rows within retention over repeated runs with random data', async () => {
    const random = prng(20_261_128);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    let now = Date.UTC(2026, 0, 20, 9, 30);
    let id = 0;
    // The property must be exercised, not hold vacuously: rows are dropped by retention along the way.
    let lost = 0;
    for (let round = 1; round <= 8; round++) {
      // Rows: monthly boundaries exactly and a microsecond either side, random times from 9 months
      // back to 9 months ahead (beyond the premade partitions: they wait in the default), every status.
      const monthly: Array<[number, string, string, string]> = [];
      const daily: Array<[number, string, string]> = [];
      for (let i = 0; i < 600; i++) {
        const kind = random();
        let ts: string;
        if (kind < 0.3) {
          const b = monthStart(now, Math.floor(random() * 19) - 9);
          const r = random();
          // 1 µs before a month boundary, 1 µs after it, or on it.
          ts = r < 0.33 ? micro(b - 1, 999) : r < 0.66 ? micro(b, 1) : micro(b, 0);
        } else {
          ts = micro(now + (random() * 18 - 9) * 30 * DAY, Math.floor(random() * 1000));
        }
        monthly.push([++id, `${ts}Z`, pick(['a', 'b', 'c', 'zz', 'A b', "q'uote"]), `m${round}-${i}`]);
      }
      for (let i = 0; i < 400; i++) {
        const base = dayStart(now) + (Math.floor(random() * 60) - 40) * DAY;
        const t =
          random() < 0.4
            ? micro(base, 0)
            : random() < 0.5
              ? micro(base - 1, 999)
              : micro(base + random() * DAY, 7);
        daily.push([++id, t, `d${round}-${i}`]);
      }
      await db.client.query(
        `INSERT INTO prop.monthly SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[])`,
        [
          monthly.map((r) => r[0]),
          monthly.map((r) => r[1]),
          monthly.map((r) => r[2]),
          monthly.map((r) => r[3]),
        ],
      );
      await db.client.query(
        `INSERT INTO prop.daily SELECT * FROM unnest($1::bigint[], $2::timestamp[], $3::text[])`,
        [daily.map((r) => r[0]), daily.map((r) => r[1]), daily.map((r) => r[2])],
      );

      // Retention keeps a row when its period ends after now - retention, i.e. when it is at or after the
      // start of the period holding that cutoff.
      const keepMonthlyFrom = monthStart(minusMonths(now, 6));
      const keepDailyFrom = dayStart(now - 20 * DAY);
      const expectMonthly = await fingerprint('SELECT * FROM prop.monthly WHERE ts >= $1', [
        iso(keepMonthlyFrom),
      ]);
      const expectDaily = await fingerprint(
        `SELECT * FROM prop.daily WHERE ts >= $1::timestamptz AT TIME ZONE 'UTC'`,
        [iso(keepDailyFrom)],
      );
      const before =
        Number((await fingerprint('SELECT * FROM prop.monthly')).n) +
        Number((await fingerprint('SELECT * FROM prop.daily')).n);
      lost += before - Number(expectMonthly.n) - Number(expectDaily.n);
      const waiting = await fingerprint('SELECT * FROM prop.monthly_default');
      expect(Number(waiting.n)).toBeGreaterThan(0);

      if (round % 2 === 1) {
        const result = await maintain(db.client, db.config, {
          task: 'partitions',
          clock: { now: () => new Date(now) },
          logger: silentLogger,
        });
        expect(result.actions.filter((a) => a.status !== 'succeeded')).toEqual([]);
      } else {
        // The psql executor over the same planner, in a session far from UTC.
        await db.client.query(`SET TimeZone = 'Asia/Kolkata'`);
        const { rows } = await db.client.query<{ r: { status: string } }>(
          `SELECT dgm.run_partition_plan('test', coalesce((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.step)
             FROM dgm.partition_maintenance_plan(p_now => $1) p), '[]')) AS r`,
          [iso(now)],
        );
        expect(rows[0]!.r.status).toBe('succeeded');
        await db.client.query('RESET TimeZone');
      }

      expect(await fingerprint('SELECT * FROM prop.monthly')).toEqual(expectMonthly);
      expect(await fingerprint('SELECT * FROM prop.daily')).toEqual(expectDaily);
      expect((await fingerprint('SELECT * FROM prop.monthly_default')).n).toBe('0');
      expect((await fingerprint('SELECT * FROM prop.daily_default')).n).toBe('0');
      // Every listed status sits in its own sub-partition, the others in the month's default one.
      const { rows: misplaced } = await db.client.query(
        `SELECT status, tableoid::regclass::text AS part FROM prop.monthly
         WHERE NOT (tableoid::regclass::text LIKE '%\\_' || CASE WHEN status IN ('a', 'b', 'c') THEN status ELSE 'default' END)
         LIMIT 5`,
      );
      expect(misplaced).toEqual([]);
      // The month ahead advances by 20 to 45 days; day of month stays within 1..28.
      now += Math.floor(20 + random() * 25) * DAY;
      const d = new Date(now);
      if (d.getUTCDate() > 28) now -= (d.getUTCDate() - 28) * DAY;
    }
    expect(lost).toBeGreaterThan(1000);
  });
});
