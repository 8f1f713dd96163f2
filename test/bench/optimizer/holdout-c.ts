import type { BenchWorkload } from './corpus.ts';

const day = (offsetDays: number, base = Date.UTC(2025, 0, 1)): Date =>
  new Date(base + offsetDays * 86_400_000);
const forumDay = (offsetDays: number): Date => day(offsetDays, Date.UTC(2024, 0, 1));
const isoDay = (offsetDays: number): string => day(offsetDays).toISOString().slice(0, 10);

/**
 * A holdout workload written before reading the optimizer's candidate rules: an email-marketing and
 * analytics application (accounts with contacts of very different sizes, campaigns, the events each send
 * produces, SMS). The SQL text is built by the application with the values inlined. Shapes: the top three
 * clicked links per campaign of an account (an aggregate ranked by row_number() OVER (PARTITION BY ...)),
 * a contact's recent activity as a UNION ALL of two tables, a case-insensitive regex over names, a citext
 * email lookup (in an UPDATE), a daily report on date(timestamp) = day, the repeat openers of one
 * campaign (GROUP BY ... HAVING count(*) > n), an OFFSET page of an account's contacts, an INSERT.
 */
export const marketing: BenchWorkload = {
  name: 'marketing',
  description:
    'email marketing (holdout): row_number() top-3 per campaign, UNION ALL activity of a contact, name ~* regex, citext email, date(ts) = day, GROUP BY HAVING, OFFSET pages',
  rows: 670_000,
  async setup(client) {
    await client.query(`
      CREATE EXTENSION IF NOT EXISTS pg_trgm;
      CREATE EXTENSION IF NOT EXISTS citext;
      CREATE SCHEMA mkt;
      CREATE TABLE mkt.contacts (
        id bigint PRIMARY KEY, account_id int NOT NULL, email citext NOT NULL, full_name text NOT NULL,
        country char(2) NOT NULL, created_at timestamptz NOT NULL, unsubscribed_at timestamptz);
      CREATE TABLE mkt.campaigns (
        id int PRIMARY KEY, account_id int NOT NULL, name text NOT NULL, subject text NOT NULL,
        sent_at timestamp NOT NULL);
      CREATE TABLE mkt.email_events (
        id bigserial PRIMARY KEY, campaign_id int NOT NULL REFERENCES mkt.campaigns (id),
        contact_id bigint NOT NULL REFERENCES mkt.contacts (id), kind text NOT NULL,
        occurred_at timestamp NOT NULL, url text);
      CREATE TABLE mkt.sms_messages (
        id bigserial PRIMARY KEY, contact_id bigint NOT NULL REFERENCES mkt.contacts (id), body text NOT NULL,
        status text NOT NULL, sent_at timestamp NOT NULL);
      -- 400 accounts, a few big ones: account k holds the contacts with x in [sqrt((k-1)/400), sqrt(k/400)).
      INSERT INTO mkt.contacts
      SELECT g, 1 + floor(400 * power(((g::bigint * 7919) % 150000) / 150000.0, 2))::int,
             (ARRAY['Anna', 'Ben', 'Chloe', 'David', 'Emma', 'Felix', 'Grace', 'Hugo', 'Ines', 'Jonas',
                    'Karin', 'Liam', 'Mia', 'Noah', 'Olga', 'Paul', 'Rosa', 'Sam', 'Tina', 'Uwe'])[1 + g % 20]
               || '.' || g || '@' || (ARRAY['Gmail.com', 'yahoo.com', 'Outlook.com', 'Corp.Example', 'web.de'])[1 + g % 5],
             CASE WHEN g % 1500 = 0 THEN 'Siobhan Okonkwo-Whitfield'
                  ELSE (ARRAY['Anna', 'Ben', 'Chloe', 'David', 'Emma', 'Felix', 'Grace', 'Hugo', 'Ines', 'Jonas',
                              'Karin', 'Liam', 'Mia', 'Noah', 'Olga', 'Paul', 'Rosa', 'Sam', 'Tina', 'Uwe'])[1 + g % 20]
                       || ' ' || (ARRAY['Smith', 'Miller', 'Schmidt', 'Garcia', 'Rossi', 'Dubois', 'Nowak', 'Jensen',
                                        'Silva', 'Kowalski', 'Brown', 'Wilson', 'Meyer', 'Lopez', 'Martin'])[1 + (g / 20) % 15]
             END,
             (ARRAY['DE', 'US', 'FR', 'GB', 'NL', 'PL', 'ES'])[1 + (g / 3) % 7],
             timestamptz '2022-01-01' + g * interval '10 minutes',
             CASE WHEN g % 17 = 0 THEN timestamptz '2022-01-01' + g * interval '10 minutes' + interval '40 days' END
      FROM generate_series(1, 150000) g;
      INSERT INTO mkt.campaigns
      SELECT g, 1 + (g * 37) % 400, 'Campaign ' || g,
             (ARRAY['Spring sale', 'Your weekly digest', 'New arrivals', 'Last chance', 'We miss you'])[1 + g % 5],
             timestamp '2025-01-01' + g * interval '2 hours'
      FROM generate_series(1, 4000) g;
      -- Each campaign goes to 20 to 200 recipients: every one is delivered, some open (a few several times),
      -- a few click one of 40 links, some bounce.
      INSERT INTO mkt.email_events (campaign_id, contact_id, kind, occurred_at, url)
      SELECT c.id, 1 + ((c.id::bigint * 7919 + r) * 104729) % 150000, e.kind,
             c.sent_at + e.after, CASE WHEN e.kind = 'click' THEN 'https://shop.example/p/' || ((c.id + k) % 40) END
      FROM mkt.campaigns c,
           LATERAL generate_series(1, 20 + (c.id * 7919) % 180) k,
           LATERAL (SELECT CASE WHEN k % 10 < 6 THEN k ELSE k % 7 END AS r) rr,
           LATERAL (SELECT CASE WHEN k % 10 < 6 THEN 'delivered' WHEN k % 10 < 8 THEN 'open'
                                WHEN k % 10 = 8 THEN 'click' ELSE 'bounce' END AS kind,
                           (k * 37 % 4320) * interval '1 minute' AS after) e;
      INSERT INTO mkt.sms_messages (contact_id, body, status, sent_at)
      SELECT 1 + (g::bigint * 7919) % 150000, 'Your code is ' || (g * 31 % 1000000),
             (ARRAY['sent', 'delivered', 'delivered', 'failed'])[1 + g % 4],
             timestamp '2025-01-01' + g * interval '6 minutes'
      FROM generate_series(1, 80000) g;`);
  },
  statements: [
    {
      name: 'top_links',
      sql: `SELECT campaign_id, url, clicks FROM (
              SELECT e.campaign_id, e.url, count(*) AS clicks,
                     row_number() OVER (PARTITION BY e.campaign_id ORDER BY count(*) DESC, e.url) AS rn
              FROM mkt.email_events e JOIN mkt.campaigns c ON c.id = e.campaign_id
              WHERE c.account_id = $1 AND c.sent_at >= $2 AND e.kind = 'click'
              GROUP BY e.campaign_id, e.url) ranked
            WHERE rn <= 3 ORDER BY campaign_id, rn`,
      params: (r) => [1 + ((r * 53) % 400), isoDay(r % 60)],
    },
    {
      name: 'activity',
      sql: `SELECT * FROM (
              SELECT 'email' AS channel, kind AS what, occurred_at AS at FROM mkt.email_events
              WHERE contact_id = $1 AND occurred_at >= $2
              UNION ALL
              SELECT 'sms', status, sent_at FROM mkt.sms_messages WHERE contact_id = $1 AND sent_at >= $2) a
            ORDER BY at DESC LIMIT 20`,
      params: (r) => [1 + ((r * 7717) % 150000), isoDay(30 + (r % 60))],
    },
    {
      name: 'find_contact',
      sql: 'SELECT id, account_id, email, full_name FROM mkt.contacts WHERE full_name ~* $1 ORDER BY id LIMIT 25',
      params: (r) => [['okonkwo', 'whitfield', 'siobhan o'][r % 3]!],
    },
    {
      name: 'daily_report',
      sql: `SELECT kind, count(*) FROM mkt.email_events WHERE date(occurred_at) = $1 GROUP BY kind ORDER BY kind`,
      params: (r) => [isoDay(5 + ((r * 11) % 300))],
    },
    {
      name: 'repeat_openers',
      sql: `SELECT contact_id, count(*) AS opens FROM mkt.email_events
            WHERE campaign_id = $1 AND kind = 'open' GROUP BY contact_id HAVING count(*) > 2 ORDER BY opens DESC`,
      params: (r) => [1 + ((r * 389) % 4000)],
    },
    {
      name: 'contact_page',
      sql: `SELECT id, email, full_name, created_at FROM mkt.contacts
            WHERE account_id = $1 AND unsubscribed_at IS NULL ORDER BY created_at DESC LIMIT 50 OFFSET $2`,
      params: (r) => [1 + ((r * 7) % 40), 50 * (r % 12)],
    },
    {
      name: 'unsubscribe',
      sql: 'UPDATE mkt.contacts SET unsubscribed_at = now() WHERE email = $1 AND unsubscribed_at IS NULL',
      params: (r) => {
        const g = 1 + ((r * 4391) % 150000);
        const first = [
          'anna',
          'ben',
          'chloe',
          'david',
          'emma',
          'felix',
          'grace',
          'hugo',
          'ines',
          'jonas',
          'karin',
        ].concat(['liam', 'mia', 'noah', 'olga', 'paul', 'rosa', 'sam', 'tina', 'uwe'])[g % 20];
        return [
          `${first}.${g}@${['gmail.com', 'yahoo.com', 'outlook.com', 'corp.example', 'web.de'][g % 5]}`,
        ];
      },
    },
    {
      name: 'track',
      sql: `INSERT INTO mkt.email_events (campaign_id, contact_id, kind, occurred_at, url)
            VALUES ($1, $2, 'open', now()::timestamp, NULL)`,
      params: (r) => [1 + (r % 4000), 1 + ((r * 31) % 150000)],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON mkt.email_events (campaign_id, kind)',
    'CREATE INDEX ON mkt.email_events (contact_id, occurred_at)',
    'CREATE INDEX ON mkt.email_events (date(occurred_at))',
    'CREATE INDEX ON mkt.sms_messages (contact_id, sent_at)',
    'CREATE INDEX ON mkt.campaigns (account_id)',
    'CREATE INDEX ON mkt.contacts (account_id, created_at)',
    'CREATE INDEX ON mkt.contacts (email)',
    'CREATE INDEX ON mkt.contacts USING gin (full_name gin_trgm_ops)',
  ],
};

/**
 * A holdout workload written before reading the optimizer's candidate rules: a discussion forum served
 * by a Node.js backend (node-postgres, so bind parameters over the extended protocol). Forums of very
 * different sizes, threads, posts with a stored generated tsvector. Shapes: a keyset-paginated feed of a
 * forum with a row comparison, the search indexer's changed-since on coalesce(edited_at, created_at),
 * unanswered threads (NOT EXISTS), full-text search with websearch_to_tsquery, the best posts ORDER BY
 * score DESC NULLS LAST, the latest post of each thread (DISTINCT ON), a batch vote with id = ANY(array),
 * a reply INSERT.
 */
export const forum: BenchWorkload = {
  name: 'forum',
  description:
    'a forum (holdout, extended protocol): keyset (created_at, id) < row, coalesce(edited_at, created_at), NOT EXISTS, websearch_to_tsquery on a generated tsvector, score DESC NULLS LAST, DISTINCT ON, id = ANY(array)',
  rows: 340_000,
  protocol: 'extended',
  async setup(client) {
    await client.query(`
      CREATE SCHEMA forum;
      CREATE TABLE forum.users (id int PRIMARY KEY, name text NOT NULL, joined_at timestamptz NOT NULL);
      CREATE TABLE forum.threads (
        id bigint PRIMARY KEY, forum_id int NOT NULL, author_id int NOT NULL REFERENCES forum.users (id),
        title text NOT NULL, created_at timestamptz NOT NULL, locked boolean NOT NULL DEFAULT false);
      CREATE TABLE forum.posts (
        id bigserial PRIMARY KEY, thread_id bigint NOT NULL REFERENCES forum.threads (id), forum_id int NOT NULL,
        author_id int NOT NULL REFERENCES forum.users (id), body text NOT NULL, created_at timestamptz NOT NULL,
        edited_at timestamptz, score int,
        tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED);
      INSERT INTO forum.users SELECT g, 'user' || g, timestamptz '2023-01-01' + g * interval '20 minutes'
      FROM generate_series(1, 20000) g;
      -- 120 forums, a few busy ones.
      INSERT INTO forum.threads
      SELECT g, 1 + floor(120 * power(((g::bigint * 7919) % 40000) / 40000.0, 2))::int, 1 + (g::bigint * 104729) % 20000,
             (ARRAY['Help with', 'Question about', 'Thoughts on', 'Problem with', 'Announcing'])[1 + g % 5] || ' '
               || (ARRAY['backups', 'the new release', 'performance', 'my setup', 'networking', 'docker'])[1 + (g / 5) % 6],
             timestamptz '2024-01-01' + g * interval '12 minutes', g % 50 = 0
      FROM generate_series(1, 40000) g;
      -- One thread in five has only its opening post; the others 2 to 15 posts. Ids follow time.
      INSERT INTO forum.posts (thread_id, forum_id, author_id, body, created_at, edited_at, score)
      SELECT t.id, t.forum_id, CASE WHEN k = 1 THEN t.author_id ELSE 1 + ((t.id * 31 + k) * 7919) % 20000 END,
             (ARRAY['I think', 'In my experience', 'Have you tried', 'Not sure but', 'Thanks,'])[1 + (t.id + k) % 5] || ' '
               || (ARRAY['the config', 'the logs', 'this setting', 'a restart', 'the docs', 'the cache'])[1 + (t.id * k) % 6] || ' '
               || (ARRAY['fixed it', 'shows the error', 'is the culprit', 'helps a lot', 'did nothing'])[1 + (t.id * 3 + k) % 5]
               || CASE WHEN (t.id * 7 + k) % 900 = 0 THEN ' after the kubernetes upgrade'
                       WHEN (t.id * 7 + k) % 1300 = 1 THEN ' vacuum freeze on postgres was slow'
                       WHEN (t.id * 7 + k) % 2000 = 2 THEN ' my raspberry pi overheats' ELSE '' END
               || repeat(' and so on', (t.id % 4)::int),
             c, CASE WHEN (t.id + k) % 12 = 0 THEN c + interval '3 hours' END,
             CASE WHEN (t.id + k) % 3 = 0 THEN NULL ELSE ((t.id * 7 + k * 13) % 60)::int - 5 END
      FROM forum.threads t,
           LATERAL generate_series(1, CASE WHEN t.id % 5 = 0 THEN 1 ELSE 2 + (t.id * 7919) % 14 END) k,
           LATERAL (SELECT t.created_at + (k - 1) * interval '37 minutes' * (1 + t.id % 5) AS c) cc
      ORDER BY c;`);
  },
  statements: [
    {
      name: 'forum_feed',
      sql: `SELECT id, thread_id, author_id, created_at FROM forum.posts
            WHERE forum_id = $1 AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT 30`,
      params: (r) => [1 + ((r * 7) % 60), forumDay(60 + ((r * 17) % 250)), '9000000000'],
    },
    {
      name: 'changed_since',
      sql: `SELECT id, thread_id, body FROM forum.posts WHERE coalesce(edited_at, created_at) > $1
            ORDER BY coalesce(edited_at, created_at) LIMIT 500`,
      params: (r) => [forumDay(330 + (r % 3))],
    },
    {
      name: 'unanswered',
      sql: `SELECT t.id, t.title, t.created_at FROM forum.threads t
            WHERE t.forum_id = $1 AND NOT t.locked
              AND NOT EXISTS (SELECT 1 FROM forum.posts p WHERE p.thread_id = t.id AND p.author_id <> t.author_id)
            ORDER BY t.created_at DESC LIMIT 20`,
      params: (r) => [1 + ((r * 11) % 120)],
    },
    {
      name: 'search',
      sql: `SELECT id, thread_id, created_at FROM forum.posts WHERE tsv @@ websearch_to_tsquery('english', $1)
            ORDER BY created_at DESC LIMIT 20`,
      params: (r) => [['kubernetes upgrade', 'postgres vacuum', '"raspberry pi"'][r % 3]!],
    },
    {
      name: 'top_posts',
      sql: 'SELECT id, thread_id, score FROM forum.posts WHERE forum_id = $1 ORDER BY score DESC NULLS LAST LIMIT 10',
      params: (r) => [1 + ((r * 13) % 120)],
    },
    {
      name: 'latest_per_thread',
      sql: `SELECT DISTINCT ON (thread_id) thread_id, id, author_id, created_at FROM forum.posts
            WHERE forum_id = $1 ORDER BY thread_id, created_at DESC`,
      params: (r) => [1 + ((r * 19) % 120)],
    },
    {
      name: 'vote',
      sql: 'UPDATE forum.posts SET score = coalesce(score, 0) + 1 WHERE id = ANY($1::bigint[])',
      params: (r) => [[1, 2, 3, 4, 5].map((i) => String(1 + ((r * 7919 + i * 104729) % 280000)))],
    },
    {
      name: 'reply',
      sql: `INSERT INTO forum.posts (thread_id, forum_id, author_id, body, created_at)
            SELECT id, forum_id, $2, $3, now() FROM forum.threads WHERE id = $1`,
      params: (r) => [
        1 + ((r * 4391) % 40000),
        1 + (r % 20000),
        `Same here, the kubernetes logs show it (${r})`,
      ],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON forum.posts (forum_id, created_at DESC, id DESC)',
    'CREATE INDEX ON forum.posts (thread_id)',
    'CREATE INDEX ON forum.posts ((coalesce(edited_at, created_at)))',
    'CREATE INDEX ON forum.posts USING gin (tsv)',
    'CREATE INDEX ON forum.posts (forum_id, score DESC NULLS LAST)',
    'CREATE INDEX ON forum.posts (forum_id, thread_id, created_at DESC)',
    'CREATE INDEX ON forum.threads (forum_id, created_at DESC)',
  ],
};
