import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { BenchWorkload } from './corpus.ts';

/** A workload whose schema and data come from one SQL script (corpus.ts imports this file: no cycle). */
const fromScript = ({
  script,
  ...rest
}: Omit<BenchWorkload, 'setup'> & { script: string }): BenchWorkload => ({
  ...rest,
  async setup(client: pg.Client) {
    await client.query(script);
  },
});

/**
 * Two more holdouts (issue 15), written as the applications would be, not around what the optimizer
 * handles: a booking system (overlap on start/end timestamps, an anti-join for free resources with a
 * tstzrange `&&`, occupancy by `@>`, `lower(email) = lower($1)` and a prefix search `LIKE $1 || '%'`,
 * `<>` and `NOT IN` status filters, arrivals `ORDER BY ... DESC NULLS LAST`, a reminder job on
 * `NOT reminder_sent`, a grouped daily count, an upcoming list with ORDER BY LIMIT, a batch expiry UPDATE)
 * and a social feed on a declaratively partitioned posts table, sent with bind parameters (uuid keys, a
 * feed through `IN (SELECT ...)`, keyset pagination with a row comparison, replies, a moderation queue on
 * `flagged_at IS NOT NULL`, unread notifications, a purge by date). Each of those written-as-the-app-does
 * shapes found a gap (docs/optimizer.md, Benchmark).
 */

/** The uuid the scripts below give entity `prefix || n`: md5(prefix || n)::uuid. */
const uuidOf = (prefix: string, n: number): string => {
  const h = createHash('md5').update(`${prefix}${n}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

const day = (offsetDays: number, base = Date.UTC(2025, 0, 1)): Date =>
  new Date(base + offsetDays * 86_400_000);

/** The booking system's schema and data: two workloads of it, the front desk's and the back office's. */
const bookingScript = `
      CREATE SCHEMA booking;
      CREATE TABLE booking.resources (
        id int PRIMARY KEY, location_id int NOT NULL, kind text NOT NULL, name text NOT NULL, capacity int NOT NULL);
      CREATE TABLE booking.customers (
        id int PRIMARY KEY, email text NOT NULL, full_name text NOT NULL, created_at timestamptz NOT NULL);
      CREATE TABLE booking.bookings (
        id bigserial PRIMARY KEY,
        resource_id int NOT NULL REFERENCES booking.resources (id),
        customer_id int NOT NULL REFERENCES booking.customers (id),
        starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL,
        status text NOT NULL, price numeric(8, 2) NOT NULL,
        created_at timestamptz NOT NULL, note text,
        -- Set by the front desk when the guest arrives.
        checked_in_at timestamptz,
        -- The reminder job sets it once the guest has been reminded, a day ahead.
        reminder_sent boolean NOT NULL DEFAULT false,
        -- For the overlap checks the application writes with range operators.
        during tstzrange GENERATED ALWAYS AS (tstzrange(starts_at, ends_at)) STORED);
      INSERT INTO booking.resources
      SELECT g, 1 + g % 100, (ARRAY['room', 'desk', 'court', 'studio'])[1 + (g / 100) % 4],
             'Resource ' || g, 1 + g % 12
      FROM generate_series(1, 2000) g;
      INSERT INTO booking.customers
      SELECT g, 'Guest' || g || '@Mail.Example', 'Guest Number ' || g,
             timestamptz '2023-01-01' + g * interval '17 minutes'
      FROM generate_series(1, 60000) g;
      -- Two years of bookings, about 410 a day; 1 to 3 hours each.
      -- Confirmed bookings that have begun (before 2026-06) were checked in a few minutes before their start.
      -- Reminders went out for everything up to a day before 2026-06-01.
      INSERT INTO booking.bookings (resource_id, customer_id, starts_at, ends_at, status, price, created_at, checked_in_at,
                                    reminder_sent)
      SELECT 1 + (g::bigint * 7919) % 2000, 1 + (g::bigint * 104729) % 60000, s, s + (1 + g % 3) * interval '1 hour',
             st, 20 + g % 80, s - (1 + g % 30) * interval '1 day',
             CASE WHEN st = 'confirmed' AND s < timestamptz '2026-06-01' THEN s - (g % 20) * interval '1 minute' END,
             s < timestamptz '2026-06-02'
      FROM generate_series(1, 300000) g,
           LATERAL (SELECT timestamptz '2025-01-01' + g * interval '210 seconds' AS s,
                           CASE WHEN g % 10 = 0 THEN 'cancelled' WHEN g % 33 = 1 THEN 'pending' WHEN g % 97 = 5 THEN 'no_show'
                                ELSE 'confirmed' END AS st) t;`;

/** Every statement the booking system sends; each workload below takes its own (at most 8 shapes each). */
const bookingStatements: BenchWorkload['statements'] = [
  {
    name: 'calendar',
    sql: `SELECT id, customer_id, starts_at, ends_at FROM booking.bookings
            WHERE resource_id = $1 AND status <> 'cancelled' AND starts_at < $3 AND ends_at > $2 ORDER BY starts_at`,
    params: (r) => [1 + ((r * 37) % 2000), day(100 + (r % 300)), day(107 + (r % 300))],
  },
  {
    name: 'free_resources',
    sql: `SELECT r.id, r.name FROM booking.resources r
            WHERE r.location_id = $1 AND r.kind = $2
              AND NOT EXISTS (SELECT 1 FROM booking.bookings b
                              WHERE b.resource_id = r.id AND b.status <> 'cancelled' AND b.during && tstzrange($3, $4))`,
    params: (r) => {
      const from = new Date(day(200 + (r % 300)).getTime() + 10 * 3_600_000);
      return [
        1 + (r % 100),
        ['room', 'desk', 'court', 'studio'][r % 4],
        from,
        new Date(from.getTime() + 7_200_000),
      ];
    },
  },
  {
    name: 'occupied_now',
    // The front desk's board: confirmed bookings under way at a moment, per location.
    sql: `SELECT r.location_id, count(*) FROM booking.bookings b JOIN booking.resources r ON r.id = b.resource_id
            WHERE b.during @> $1::timestamptz AND b.status = 'confirmed' GROUP BY r.location_id`,
    params: (r) => [new Date(day(100 + ((r * 7) % 500)).getTime() + 14 * 3_600_000)],
  },
  {
    name: 'guest_lookup',
    sql: 'SELECT id, full_name FROM booking.customers WHERE lower(email) = lower($1)',
    params: (r) => [`guest${1 + ((r * 7717) % 60000)}@mail.example`],
  },
  {
    name: 'guest_search',
    // The booking form's guest search as the clerk types: the application lower-cases the input.
    sql: `SELECT id, full_name, email FROM booking.customers WHERE lower(email) LIKE $1 || '%' ORDER BY id LIMIT 10`,
    params: (r) => [`guest${1 + ((r * 3331) % 6000)}`],
  },
  {
    name: 'upcoming',
    sql: `SELECT b.id, b.starts_at, b.ends_at, r.name FROM booking.bookings b JOIN booking.resources r ON r.id = b.resource_id
            WHERE b.customer_id = $1 AND b.starts_at >= $2 AND b.status NOT IN ('cancelled', 'no_show')
            ORDER BY b.starts_at LIMIT 10`,
    params: (r) => [1 + ((r * 4099) % 60000), day(300)],
  },
  {
    name: 'daily_counts',
    sql: `SELECT starts_at::date AS day, count(*) FROM booking.bookings
            WHERE starts_at >= $1 AND starts_at < $2 AND status <> 'cancelled' GROUP BY starts_at::date ORDER BY day`,
    params: (r) => [day(50 + (r % 600)), day(57 + (r % 600))],
  },
  {
    name: 'recent_arrivals',
    // The front desk's arrivals list: the latest check-ins first, bookings not checked in (NULL) last.
    sql: `SELECT b.id, b.resource_id, b.customer_id, b.checked_in_at FROM booking.bookings b
            ORDER BY b.checked_in_at DESC NULLS LAST LIMIT 30`,
    params: () => [],
  },
  {
    name: 'due_reminders',
    // The reminder job (a Django app: a boolean filter reads `NOT "reminder_sent"`): what starts within a day.
    sql: `SELECT id, customer_id, starts_at FROM booking.bookings
            WHERE NOT reminder_sent AND starts_at < $1 AND status = 'confirmed' ORDER BY starts_at LIMIT 100`,
    params: (r) => [new Date(Date.UTC(2026, 5, 2) + (r % 24) * 3_600_000)],
  },
  {
    name: 'expire_pending',
    // A batch job: pending bookings not confirmed in time expire, one day's worth at a time.
    sql: `UPDATE booking.bookings SET status = 'expired' WHERE status = 'pending' AND created_at < $1`,
    params: (r) => [day(r - 25)],
  },
  {
    name: 'book',
    sql: `INSERT INTO booking.bookings (resource_id, customer_id, starts_at, ends_at, status, price, created_at)
            VALUES ($1, $2, $3, $4, 'pending', $5, now()) RETURNING id`,
    params: (r) => [1 + (r % 2000), 1 + ((r * 13) % 60000), day(800 + r), day(800.05 + r), 40],
  },
];

const bookingShapes = (names: string[]) => bookingStatements.filter((s) => names.includes(s.name));

export const booking = fromScript({
  name: 'booking',
  description:
    'a reservation system, front desk (holdout): resource calendar by overlap, free resources (anti-join, tstzrange &&), occupancy (tstzrange @>), guest lookup by lower(email) and search by its prefix, upcoming bookings, a booking INSERT',
  rows: 362_000,
  script: bookingScript,
  statements: bookingShapes([
    'calendar',
    'free_resources',
    'occupied_now',
    'guest_lookup',
    'guest_search',
    'upcoming',
    'book',
  ]),
  handIndexes: [
    'CREATE INDEX ON booking.bookings (resource_id, starts_at)',
    // One index for the lookup by equality and the search by prefix (the collation is not C).
    'CREATE INDEX ON booking.customers (lower(email) text_pattern_ops)',
    'CREATE INDEX ON booking.bookings (customer_id, starts_at)',
    'CREATE INDEX ON booking.bookings USING gist (during)',
    // resources has 2000 rows: a DBA leaves free_resources' outer filter to a sequential scan.
  ],
});

export const bookingOffice = fromScript({
  name: 'booking-office',
  description:
    'the same reservation system, back office (holdout): a daily count, arrivals ORDER BY DESC NULLS LAST, due reminders (NOT boolean), batch expiry, a booking INSERT',
  rows: 362_000,
  script: bookingScript,
  statements: bookingShapes(['daily_counts', 'recent_arrivals', 'due_reminders', 'expire_pending', 'book']),
  handIndexes: [
    'CREATE INDEX ON booking.bookings (starts_at)',
    `CREATE INDEX ON booking.bookings (created_at) WHERE status = 'pending'`,
    'CREATE INDEX ON booking.bookings (checked_in_at DESC NULLS LAST)',
    'CREATE INDEX ON booking.bookings (starts_at) WHERE NOT reminder_sent',
  ],
});

export const social = fromScript({
  name: 'social',
  description:
    'a social feed (holdout) on a posts table partitioned by month: uuid keys, feed of followed authors, keyset pages, replies, a moderation queue (IS NOT NULL), unread notifications, a purge by date',
  rows: 480_000,
  // A Node.js service: node-postgres sends every statement with bind parameters.
  protocol: 'extended',
  script: `
      CREATE SCHEMA social;
      CREATE TABLE social.users (id uuid PRIMARY KEY, handle text NOT NULL, created_at timestamptz NOT NULL);
      CREATE TABLE social.follows (
        follower uuid NOT NULL REFERENCES social.users (id), followee uuid NOT NULL REFERENCES social.users (id),
        created_at timestamptz NOT NULL, PRIMARY KEY (follower, followee));
      CREATE TABLE social.posts (
        id uuid NOT NULL, author_id uuid NOT NULL, created_at timestamptz NOT NULL, body text NOT NULL,
        reply_to uuid, likes int NOT NULL DEFAULT 0,
        -- Set when a user reports the post; the moderators' queue reads the reported ones.
        flagged_at timestamptz,
        PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at);
      DO $$
      BEGIN
        FOR m IN 0..12 LOOP
          EXECUTE format('CREATE TABLE social.posts_%s PARTITION OF social.posts FOR VALUES FROM (%L) TO (%L)',
            to_char(date '2025-01-01' + m * interval '1 month', 'YYYY_MM'),
            date '2025-01-01' + m * interval '1 month', date '2025-01-01' + (m + 1) * interval '1 month');
        END LOOP;
      END $$;
      CREATE TABLE social.notifications (
        id bigserial PRIMARY KEY, user_id uuid NOT NULL, kind text NOT NULL, post_id uuid,
        created_at timestamptz NOT NULL, read_at timestamptz);
      INSERT INTO social.users SELECT md5('u' || g)::uuid, 'user' || g, timestamptz '2024-01-01' + g * interval '1 hour'
      FROM generate_series(1, 10000) g;
      -- Everyone follows ten others.
      INSERT INTO social.follows
      SELECT md5('u' || f)::uuid, md5('u' || (1 + (f + k * 997) % 10000))::uuid, timestamptz '2024-06-01' + f * interval '1 minute'
      FROM generate_series(1, 10000) f, generate_series(1, 10) k;
      -- One post in 500 reported.
      INSERT INTO social.posts (id, author_id, created_at, body, reply_to, flagged_at)
      SELECT md5('p' || g)::uuid, md5('u' || (1 + (g::bigint * 7919) % 10000))::uuid,
             c, 'post number ' || g || ' ' || repeat('x', g % 120),
             CASE WHEN g % 10 = 0 THEN md5('p' || (g - 1 - g % 7))::uuid END,
             CASE WHEN g % 500 = 7 THEN c + interval '2 hours' END
      FROM generate_series(1, 250000) g, LATERAL (SELECT timestamptz '2025-01-01' + g * interval '126 seconds' AS c) t;
      -- Notifications of the year; the last two weeks' mostly unread.
      INSERT INTO social.notifications (user_id, kind, post_id, created_at, read_at)
      SELECT md5('u' || (1 + (g::bigint * 104729) % 10000))::uuid, (ARRAY['like', 'reply', 'follow', 'mention'])[1 + g % 4],
             md5('p' || (1 + g * 2))::uuid, c,
             CASE WHEN g > 115000 AND g % 3 <> 0 THEN NULL ELSE c + interval '3 hours' END
      FROM generate_series(1, 120000) g, LATERAL (SELECT timestamptz '2025-01-01' + g * interval '262 seconds' AS c) t;`,
  statements: [
    {
      name: 'feed',
      sql: `SELECT p.id, p.author_id, p.created_at, p.body FROM social.posts p
            WHERE p.author_id IN (SELECT followee FROM social.follows WHERE follower = $1)
            ORDER BY p.created_at DESC LIMIT 20`,
      params: (r) => [uuidOf('u', 1 + ((r * 613) % 10000))],
    },
    {
      name: 'profile_page',
      sql: `SELECT id, created_at, body, likes FROM social.posts
            WHERE author_id = $1 AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT 20`,
      params: (r) => [uuidOf('u', 1 + ((r * 389) % 10000)), day(200 + (r % 100)), uuidOf('p', r)],
    },
    {
      name: 'thread',
      sql: 'SELECT id, author_id, created_at, body FROM social.posts WHERE reply_to = $1 ORDER BY created_at',
      params: (r) => [uuidOf('p', 1 + ((r * 7919) % 249000))],
    },
    {
      name: 'moderation_queue',
      // Reported posts, newest first, a page at a time.
      sql: `SELECT id, author_id, created_at, flagged_at FROM social.posts
            WHERE flagged_at IS NOT NULL ORDER BY created_at DESC LIMIT 50`,
      params: () => [],
    },
    {
      name: 'unread',
      sql: `SELECT id, kind, post_id, created_at FROM social.notifications
            WHERE user_id = $1 AND read_at IS NULL ORDER BY created_at DESC LIMIT 50`,
      params: (r) => [uuidOf('u', 1 + ((r * 211) % 10000))],
    },
    {
      name: 'mark_read',
      sql: 'UPDATE social.notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL',
      params: (r) => [uuidOf('u', 1 + ((r * 3001) % 10000))],
    },
    {
      name: 'new_post',
      sql: 'INSERT INTO social.posts (id, author_id, created_at, body) VALUES ($1, $2, $3, $4)',
      params: (r) => [uuidOf('new', r), uuidOf('u', 1 + (r % 10000)), day(364), `fresh post ${r}`],
    },
    {
      name: 'purge_notifications',
      sql: 'DELETE FROM social.notifications WHERE created_at < $1',
      params: (r) => [new Date(Date.UTC(2025, 0, 1) + r * 7_200_000)],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON social.posts (author_id, created_at DESC, id DESC)',
    'CREATE INDEX ON social.posts (reply_to, created_at) WHERE reply_to IS NOT NULL',
    'CREATE INDEX ON social.notifications (user_id, created_at DESC) WHERE read_at IS NULL',
    'CREATE INDEX ON social.notifications (created_at)',
    `CREATE INDEX ON social.posts (created_at DESC) WHERE flagged_at IS NOT NULL`,
    // follows' primary key (follower, followee) already serves the feed's sub-select.
  ],
});
