import type { BenchWorkload } from './corpus.ts';

/**
 * A holdout workload written by someone who had not looked at the optimizer's candidate rules: an event
 * ticketing application (tenants, events, tickets). Shapes: a BETWEEN window per tenant grouped by hour,
 * a FILTER count and max() per event, a case-insensitive holder lookup joined to upcoming events, a cast
 * of a jsonb path compared with a range, top-N per tenant on now(), a check-in UPDATE with IS NULL, an
 * INSERT.
 */
export const tickets: BenchWorkload = {
  name: 'tickets',
  description:
    'event ticketing (holdout): BETWEEN per tenant, FILTER count and max() per event, lower() joined to upcoming events, (jsonb ->> key)::int range, now() top-N',
  rows: 460_000,
  async setup(client) {
    await client.query(`
      CREATE SCHEMA tix;
      CREATE TABLE tix.events (
        id int PRIMARY KEY, tenant_id int NOT NULL, venue text NOT NULL, title text NOT NULL,
        starts_at timestamptz NOT NULL, meta jsonb NOT NULL DEFAULT '{}');
      CREATE TABLE tix.tickets (
        id bigserial PRIMARY KEY, event_id int NOT NULL REFERENCES tix.events (id), tenant_id int NOT NULL,
        holder_email text NOT NULL, status smallint NOT NULL, price_cents int NOT NULL,
        purchased_at timestamptz NOT NULL, checked_in_at timestamptz, info jsonb NOT NULL);
      INSERT INTO tix.events
      SELECT g, g % 300, 'Venue ' || (g % 900), 'Show ' || g,
             now() - interval '200 days' + (g % 20000) * interval '31 minutes', jsonb_build_object('cap', 100 + g % 500)
      FROM generate_series(1, 60000) g;
      INSERT INTO tix.tickets (event_id, tenant_id, holder_email, status, price_cents, purchased_at, checked_in_at, info)
      SELECT e, e % 300, 'Fan' || (g % 150000) || '@Mail.Test', (g % 4)::smallint, 1000 + (g * 37) % 20000,
             timestamptz '2025-01-01' + g * interval '61 seconds',
             CASE WHEN g % 3 = 0 THEN timestamptz '2025-01-01' + g * interval '62 seconds' END,
             jsonb_build_object('tier', CASE WHEN g % 97 = 0 THEN 9 ELSE g % 5 END, 'seat', 'R' || (g % 40))
      FROM generate_series(1, 400000) g, LATERAL (SELECT 1 + (g::bigint * 7919) % 60000 AS e) x;`);
  },
  statements: [
    {
      name: 'tenant_sales',
      sql: `SELECT date_trunc('hour', purchased_at) AS h, sum(price_cents) FROM tix.tickets
            WHERE tenant_id = $1 AND purchased_at BETWEEN $2 AND $3 GROUP BY 1 ORDER BY 1`,
      params: (r) => {
        const from = new Date(Date.UTC(2025, 1 + (r % 6), 1 + (r % 20)));
        return [r % 300, from, new Date(from.getTime() + 3 * 86400_000)];
      },
    },
    {
      name: 'event_dashboard',
      sql: 'SELECT count(*) FILTER (WHERE checked_in_at IS NOT NULL) AS in_, count(*) AS sold, max(purchased_at) FROM tix.tickets WHERE event_id = $1',
      params: (r) => [1 + ((r * 4391) % 60000)],
    },
    {
      name: 'my_tickets',
      sql: `SELECT t.id, e.title, e.starts_at FROM tix.tickets t JOIN tix.events e ON e.id = t.event_id
            WHERE lower(t.holder_email) = lower($1) AND e.starts_at >= now() ORDER BY e.starts_at`,
      params: (r) => [`fan${(r * 7717) % 150000}@mail.test`],
    },
    {
      name: 'top_tier',
      sql: `SELECT id, price_cents FROM tix.tickets WHERE (info ->> 'tier')::int >= $1 ORDER BY price_cents DESC LIMIT 50`,
      params: () => [9],
    },
    {
      name: 'upcoming',
      sql: 'SELECT id, title, starts_at FROM tix.events WHERE tenant_id = $1 AND starts_at > now() ORDER BY starts_at LIMIT 10',
      params: (r) => [(r * 13) % 300],
    },
    {
      name: 'check_in',
      sql: 'UPDATE tix.tickets SET checked_in_at = now() WHERE id = $1 AND checked_in_at IS NULL',
      params: (r) => [1 + ((r * 6007) % 400000)],
    },
    {
      name: 'buy',
      sql: `INSERT INTO tix.tickets (event_id, tenant_id, holder_email, status, price_cents, purchased_at, info)
            VALUES ($1, $2, $3, 0, $4, now(), '{"tier": 1}')`,
      params: (r) => [1 + (r % 60000), (1 + (r % 60000)) % 300, `fan${r}@mail.test`, 2500],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON tix.tickets (tenant_id, purchased_at)',
    'CREATE INDEX ON tix.tickets (event_id)',
    'CREATE INDEX ON tix.tickets (lower(holder_email))',
    `CREATE INDEX ON tix.tickets (((info ->> 'tier')::int))`,
    'CREATE INDEX ON tix.events (tenant_id, starts_at)',
  ],
};

/**
 * The SQL that ORMs send, on a schema an ORM created: quoted CamelCase tables and columns, columns
 * qualified by schema and table (Prisma), table aliases equal to the model name (Sequelize), Django's
 * case-insensitive contains (`UPPER("col"::text) LIKE UPPER($1)`) on a varchar, a view the application
 * reads through, an inner join ordered by the joined table's column, a count per parent, a counter UPDATE
 * and an INSERT ... RETURNING.
 */
export const orm: BenchWorkload = {
  name: 'orm',
  description:
    'an ORM-built blog (holdout): quoted CamelCase identifiers, schema.table.column references, Django icontains on varchar, a view, join ordered by the other table',
  rows: 550_000,
  async setup(client) {
    await client.query(`
      CREATE EXTENSION IF NOT EXISTS pg_trgm;
      CREATE SCHEMA app;
      CREATE TABLE app."User" (id serial PRIMARY KEY, email varchar(200) NOT NULL, name varchar(100) NOT NULL,
        "createdAt" timestamp(3) NOT NULL DEFAULT now());
      CREATE TABLE app."Post" (id serial PRIMARY KEY, "authorId" int NOT NULL REFERENCES app."User" (id),
        "categoryId" int NOT NULL, title varchar(200) NOT NULL, "viewCount" int NOT NULL DEFAULT 0,
        "createdAt" timestamp(3) NOT NULL, "deletedAt" timestamp(3));
      CREATE TABLE app."Comment" (id serial PRIMARY KEY, "postId" int NOT NULL REFERENCES app."Post" (id),
        "authorId" int NOT NULL REFERENCES app."User" (id), body text NOT NULL, "createdAt" timestamp(3) NOT NULL);
      CREATE VIEW app.active_posts AS SELECT * FROM app."Post" WHERE "deletedAt" IS NULL;
      INSERT INTO app."User" (email, name)
      SELECT 'user' || g || '@example.org', 'User ' || g FROM generate_series(1, 100000) g;
      INSERT INTO app."Post" ("authorId", "categoryId", title, "createdAt", "deletedAt")
      SELECT 1 + (g * 7919) % 100000, g % 500,
             (ARRAY['Notes on', 'Thoughts about', 'A guide to', 'Why I like', 'Against'])[1 + g % 5] || ' ' ||
             (ARRAY['gardens', 'rust', 'sailing', 'databases', 'tea', 'chess', 'trains'])[1 + (g / 5) % 7] || ' #' || g
             || CASE WHEN g % 1000 = 0 THEN ' lighthouse' ELSE '' END,
             timestamp '2024-01-01' + g * interval '3 minutes',
             CASE WHEN g % 10 = 0 THEN timestamp '2025-01-01' END
      FROM generate_series(1, 150000) g;
      INSERT INTO app."Comment" ("postId", "authorId", body, "createdAt")
      SELECT 1 + (g::bigint * 104729) % 150000, 1 + (g * 31) % 100000, 'comment ' || g,
             timestamp '2024-01-01' + g * interval '90 seconds'
      FROM generate_series(1, 300000) g;`);
  },
  statements: [
    {
      name: 'prisma_user',
      sql: 'SELECT "app"."User"."id", "app"."User"."email", "app"."User"."name" FROM "app"."User" WHERE ("app"."User"."email" = $1 AND 1=1) LIMIT $2 OFFSET $3',
      params: (r) => [`user${1 + ((r * 9973) % 100000)}@example.org`, 1, 0],
    },
    {
      name: 'sequelize_posts',
      sql: 'SELECT "Post"."id", "Post"."title", "Post"."createdAt" FROM "app"."Post" AS "Post" WHERE "Post"."authorId" = $1 AND "Post"."deletedAt" IS NULL ORDER BY "Post"."createdAt" DESC LIMIT 20',
      params: (r) => [1 + ((r * 4391) % 100000)],
    },
    {
      name: 'django_icontains',
      sql: 'SELECT "Post"."id", "Post"."title" FROM "app"."Post" "Post" WHERE UPPER("Post"."title"::text) LIKE UPPER($1) ORDER BY "Post"."id" DESC LIMIT 21',
      params: () => ['%lighthouse%'],
    },
    {
      name: 'category_view',
      sql: 'SELECT id, title FROM app.active_posts WHERE "categoryId" = $1 ORDER BY "createdAt" DESC LIMIT 10',
      params: (r) => [(r * 13) % 500],
    },
    {
      name: 'author_comments',
      sql: 'SELECT "Comment".* FROM "app"."Comment" INNER JOIN "app"."Post" ON "Post"."id" = "Comment"."postId" WHERE "Post"."authorId" = $1 ORDER BY "Comment"."createdAt" DESC LIMIT 50',
      params: (r) => [1 + ((r * 6007) % 100000)],
    },
    {
      name: 'comment_count',
      sql: 'SELECT COUNT(*) AS "_count" FROM "app"."Comment" WHERE "Comment"."postId" = $1',
      params: (r) => [1 + ((r * 7717) % 150000)],
    },
    {
      name: 'view_post',
      sql: 'UPDATE "app"."Post" SET "viewCount" = "viewCount" + 1 WHERE "id" = $1',
      params: (r) => [1 + ((r * 1231) % 150000)],
    },
    {
      name: 'add_comment',
      sql: 'INSERT INTO "app"."Comment" ("postId", "authorId", "body", "createdAt") VALUES ($1, $2, $3, $4) RETURNING "id"',
      params: (r) => [
        1 + (r % 150000),
        1 + (r % 100000),
        `new comment ${r}`,
        new Date(Date.UTC(2025, 5, 1, 0, r)),
      ],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON app."User" (email)',
    'CREATE INDEX ON app."Post" ("authorId", "createdAt" DESC)',
    'CREATE INDEX ON app."Post" USING gin (upper(title::text) gin_trgm_ops)',
    'CREATE INDEX ON app."Post" ("categoryId", "createdAt" DESC) WHERE "deletedAt" IS NULL',
    'CREATE INDEX ON app."Comment" ("postId")',
  ],
};

/**
 * A sync service: clients poll for rows changed since their last sync (`updated_at > $1 ORDER BY
 * updated_at LIMIT`), and every write sets updated_at (so an index on it stops HOT updates, and the write
 * cost matters); a per-owner listing and count, a tombstone filter, upserts with ON CONFLICT.
 */
export const sync: BenchWorkload = {
  name: 'sync',
  description:
    'a sync service (holdout): changed-since polling ORDER BY updated_at LIMIT, HOT-breaking updates of updated_at, per-owner count, ON CONFLICT upsert',
  rows: 420_000,
  async setup(client) {
    await client.query(`
      CREATE SCHEMA sync;
      CREATE TABLE sync.items (id bigint PRIMARY KEY, owner_id int NOT NULL, kind text NOT NULL,
        payload jsonb NOT NULL, version int NOT NULL DEFAULT 1, deleted boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL);
      INSERT INTO sync.items (id, owner_id, kind, payload, version, deleted, updated_at)
      SELECT g, (g::bigint * 7919) % 20000, (ARRAY['note', 'task', 'contact', 'event'])[1 + g % 4],
             jsonb_build_object('v', g), 1 + g % 9, g % 40 = 0,
             timestamptz '2025-01-01' + g * interval '40 seconds'
      FROM generate_series(1, 400000) g;
      CREATE TABLE sync.devices (id int PRIMARY KEY, owner_id int NOT NULL, last_sync timestamptz NOT NULL);
      INSERT INTO sync.devices SELECT g, g % 20000, timestamptz '2025-06-01' + g * interval '1 minute'
      FROM generate_series(1, 20000) g;`);
  },
  statements: [
    {
      name: 'changed_since',
      sql: 'SELECT id, version, deleted FROM sync.items WHERE updated_at > $1 ORDER BY updated_at LIMIT 500',
      params: (r) => [new Date(Date.UTC(2025, 5, 1 + (r % 25), 10))],
    },
    {
      name: 'owner_changes',
      sql: 'SELECT id, kind, payload FROM sync.items WHERE owner_id = $1 AND updated_at > $2 AND NOT deleted',
      params: (r) => [(r * 131) % 20000, new Date(Date.UTC(2025, 2, 1))],
    },
    {
      name: 'owner_count',
      sql: 'SELECT kind, count(*) FROM sync.items WHERE owner_id = $1 GROUP BY kind',
      params: (r) => [(r * 977) % 20000],
    },
    {
      name: 'touch',
      sql: `UPDATE sync.items SET payload = payload || $1::jsonb, version = version + 1, updated_at = now() WHERE id = $2`,
      params: (r) => [JSON.stringify({ r }), 1 + ((r * 4391) % 400000)],
    },
    {
      name: 'upsert',
      sql: `INSERT INTO sync.items (id, owner_id, kind, payload, updated_at) VALUES ($1, $2, 'note', '{}', now())
            ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload, version = sync.items.version + 1, updated_at = now()`,
      params: (r) => [400000 + (r % 500), r % 20000],
    },
    {
      name: 'device_sync',
      sql: 'UPDATE sync.devices SET last_sync = now() WHERE id = $1',
      params: (r) => [1 + (r % 20000)],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON sync.items (updated_at)',
    'CREATE INDEX ON sync.items (owner_id, updated_at)',
  ],
};
