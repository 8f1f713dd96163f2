import type { BenchWorkload } from './corpus.ts';
import { pick } from './generate.ts';

/** An order's checkout token in the storefront's data (unique: 48271 is a primitive root of 2^31 - 1). */
const checkoutToken = (g: number): string => `ck_${(g * 48271) % 2147483647}`;

/** $from..$to as a list of bind parameters: `$3, $4, $5`. */
const binds = (from: number, count: number): string =>
  Array.from({ length: count }, (_, i) => `$${from + i}`).join(', ');

/**
 * A holdout workload written without looking at the optimizer's candidate rules: an ORM-driven storefront
 * (catalog, stock, images, orders) sending its statements through the extended protocol with every value
 * bound, as Prisma or Django do. Skewed: three categories hold a quarter of the products, 30% of the order
 * lines go to 500 products, a hundred business customers place a fifth of the orders, 30% of stock rows are
 * empty, 14% of products were never restocked. Shapes: a category page with an ORM-style correlated
 * `EXISTS (... LIMIT 1)` on stock, ordered by a nullable column `ASC NULLS FIRST` with LIMIT/OFFSET
 * parameters; a relation load `product_id IN ($1, ..., $20)`; full-text search on a stored generated
 * tsvector with `websearch_to_tsquery` ranked by ts_rank; "popular" badges for the products of a page
 * (`= ANY($1::bigint[])`, GROUP BY ... HAVING count(*)); a customer's history as a UNION ALL of orders and
 * refunds; `SELECT ... FOR UPDATE` of an order by its checkout token (unique in practice, not declared);
 * a view counter UPDATE; an INSERT ... RETURNING.
 */
export const storefront: BenchWorkload = {
  name: 'storefront',
  description:
    'an ORM storefront (holdout, extended protocol): EXISTS (... LIMIT 1) + ORDER BY nullable ASC NULLS FIRST + LIMIT/OFFSET params, IN ($1..$20), websearch_to_tsquery on a generated tsvector, = ANY($1::bigint[]) + HAVING, UNION ALL, FOR UPDATE by token',
  rows: 690_000,
  protocol: 'extended',
  async setup(client) {
    await client.query(`
      CREATE SCHEMA storefront;
      CREATE TABLE storefront.product (
        id bigserial PRIMARY KEY, sku text NOT NULL UNIQUE, category_id int NOT NULL, brand text NOT NULL,
        title text NOT NULL, description text, price_cents int NOT NULL, status text NOT NULL,
        last_restocked_at timestamptz, view_count int NOT NULL DEFAULT 0, created_at timestamptz NOT NULL,
        search tsvector GENERATED ALWAYS AS (to_tsvector('english', title || ' ' || coalesce(description, ''))) STORED);
      CREATE TABLE storefront.stock (
        id bigserial PRIMARY KEY, warehouse_id int NOT NULL, product_id bigint NOT NULL REFERENCES storefront.product (id),
        quantity int NOT NULL, UNIQUE (warehouse_id, product_id));
      CREATE TABLE storefront.product_image (
        id bigserial PRIMARY KEY, product_id bigint NOT NULL REFERENCES storefront.product (id), position int NOT NULL,
        url text NOT NULL, alt text);
      CREATE TABLE storefront."order" (
        id bigserial PRIMARY KEY, customer_id int NOT NULL, checkout_token text NOT NULL, status text NOT NULL,
        total_cents int NOT NULL, created_at timestamptz NOT NULL);
      CREATE TABLE storefront.refund (
        id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES storefront."order" (id), customer_id int NOT NULL,
        amount_cents int NOT NULL, created_at timestamptz NOT NULL);
      CREATE TABLE storefront.order_line (
        id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES storefront."order" (id),
        product_id bigint NOT NULL REFERENCES storefront.product (id), quantity int NOT NULL,
        unit_price_cents int NOT NULL, created_at timestamptz NOT NULL);
      INSERT INTO storefront.product (sku, category_id, brand, title, description, price_cents, status, last_restocked_at, created_at)
      SELECT 'SKU-' || lpad(g::text, 7, '0'),
             CASE WHEN h < 25 THEN 1 + g % 3 WHEN h < 45 THEN 4 + g % 12 ELSE 16 + (g * 31) % 284 END,
             br,
             (ARRAY['waterproof', 'lightweight', 'insulated', 'breathable', 'vintage', 'classic', 'compact', 'ergonomic',
                    'wireless', 'foldable', 'reflective', 'organic', 'rugged', 'slim', 'oversized', 'quilted', 'stretch',
                    'thermal', 'recycled', 'handmade'])[1 + g % 20]
               || ' ' || (ARRAY['cotton', 'merino wool', 'leather', 'denim', 'nylon', 'bamboo', 'steel', 'canvas', 'linen',
                                'fleece', 'silk', 'cork', 'titanium', 'walnut', 'ceramic'])[1 + (g / 500) % 15]
               || ' ' || (ARRAY['jacket', 'boots', 'backpack', 'socks', 'lamp', 'kettle', 'headphones', 'tent', 'mug',
                                'scarf', 'wallet', 'chair', 'blanket', 'sneakers', 'gloves', 'bottle', 'watch', 'speaker',
                                'duffel', 'hoodie', 'notebook', 'umbrella', 'belt', 'pillow', 'vest'])[1 + (g / 20) % 25]
               || ' by ' || br,
             CASE WHEN g % 9 = 0 THEN NULL
                  ELSE 'Made for ' || (ARRAY['everyday use', 'travel', 'the outdoors', 'the office', 'kids', 'sport',
                                             'winter', 'the beach'])[1 + (g * 3) % 8] || '. Free returns within 30 days.' END,
             499 + (g * 37) % 30000,
             CASE WHEN s < 850 THEN 'active' WHEN s < 950 THEN 'archived' ELSE 'draft' END,
             CASE WHEN (g * 13) % 7 = 0 THEN NULL
                  ELSE timestamptz '2024-01-01' + g * interval '10 minutes' + ((g * 17) % 400) * interval '1 day' END,
             timestamptz '2024-01-01' + g * interval '10 minutes'
      FROM generate_series(1, 60000) g,
           LATERAL (SELECT (g::bigint * 7919) % 100 AS h, (g::bigint * 104729) % 997 AS s,
                           'Brand' || ((g * 13) % 40) AS br) x;
      INSERT INTO storefront.stock (warehouse_id, product_id, quantity)
      SELECT 1 + (g + 2 * k) % 6, g, CASE WHEN (g * (k + 3) * 7) % 10 < 3 THEN 0 ELSE 1 + (g * k) % 50 END
      FROM generate_series(1, 60000) g, generate_series(1, 1 + g % 3) k
      ORDER BY k, g;
      INSERT INTO storefront.product_image (product_id, position, url, alt)
      SELECT g, k, 'https://cdn.example.com/p/' || g || '/' || k || '.jpg', 'Picture ' || k
      FROM generate_series(1, 60000) g, generate_series(1, 1 + g % 4) k
      ORDER BY k > 2, g, k;
      INSERT INTO storefront."order" (customer_id, checkout_token, status, total_cents, created_at)
      SELECT CASE WHEN (g::bigint * 7919) % 100 < 20 THEN 1 + g % 100 ELSE 101 + (g::bigint * 6151) % 40000 END,
             'ck_' || ((g::bigint * 48271) % 2147483647),
             CASE WHEN g > 99000 AND g % 3 = 0 THEN 'pending' WHEN g % 50 = 0 THEN 'cancelled' ELSE 'paid' END,
             500 + (g * 37) % 20000,
             timestamptz '2025-01-01' + g * interval '4 minutes'
      FROM generate_series(1, 100000) g;
      INSERT INTO storefront.refund (order_id, customer_id, amount_cents, created_at)
      SELECT id, customer_id, total_cents / 2, created_at + interval '5 days'
      FROM storefront."order" WHERE id % 12 = 0 ORDER BY id;
      INSERT INTO storefront.order_line (order_id, product_id, quantity, unit_price_cents, created_at)
      SELECT o, CASE WHEN (g::bigint * 7919) % 100 < 30 THEN 1 + (g * 31) % 500 ELSE 1 + (g::bigint * 104729) % 60000 END,
             1 + g % 3, 499 + (g * 37) % 30000, timestamptz '2025-01-01' + o * interval '4 minutes'
      FROM generate_series(1, 250000) g, LATERAL (SELECT 1 + (g - 1) * 2 / 5 AS o) x;`);
  },
  statements: [
    {
      // Prisma/Django style: every value bound, the EXISTS as the ORM writes it (SELECT 1 AS "a" ... LIMIT 1).
      name: 'category_page',
      sql: `SELECT "product"."id", "product"."sku", "product"."title", "product"."price_cents", "product"."last_restocked_at"
            FROM "storefront"."product"
            WHERE "product"."category_id" = $1 AND "product"."status" = $2
              AND EXISTS (SELECT 1 AS "a" FROM "storefront"."stock" U0
                          WHERE U0."product_id" = ("product"."id") AND U0."quantity" > $3 LIMIT 1)
            ORDER BY "product"."last_restocked_at" ASC NULLS FIRST, "product"."id" ASC
            LIMIT $4 OFFSET $5`,
      params: (r) => [pick([1, 2, 7, 3, 40, 1, 11, 150], r), 'active', 0, 24, 24 * ((r * 3) % 11)],
    },
    {
      // The page's images loaded as a relation: one IN list of the 20 product ids shown.
      name: 'page_images',
      sql: `SELECT "id", "product_id", "position", "url" FROM "storefront"."product_image"
            WHERE "product_id" IN (${binds(1, 20)}) ORDER BY "product_id" ASC, "position" ASC`,
      params: (r) => Array.from({ length: 20 }, (_, i) => 1 + (((r * 20 + i) * 2903) % 60000)),
    },
    {
      name: 'search',
      sql: `SELECT "id", "title", "price_cents" FROM "storefront"."product"
            WHERE "search" @@ websearch_to_tsquery('english', $1) AND "status" = $2
            ORDER BY ts_rank("search", websearch_to_tsquery('english', $1)) DESC LIMIT 20`,
      params: (r) => [
        pick(
          [
            'waterproof jacket',
            '"merino wool" socks',
            'wireless headphones -steel',
            'leather wallet or belt',
            'titanium watch',
            'insulated bottle',
            'foldable chair -kids',
            'vintage walnut lamp',
          ],
          r,
        ),
        'active',
      ],
    },
    {
      // "Popular" badges for the products of a page: sold at least 5 times in the last month.
      name: 'popular_badges',
      sql: `SELECT "product_id", count(*) AS "sold" FROM "storefront"."order_line"
            WHERE "product_id" = ANY($1::bigint[]) AND "created_at" >= $2
            GROUP BY "product_id" HAVING count(*) >= $3`,
      params: (r) => [
        Array.from({ length: 24 }, (_, i) =>
          i < 8 ? 1 + (((r * 24 + i) * 97) % 500) : 1 + (((r * 24 + i) * 2903) % 60000),
        ),
        new Date(Date.UTC(2025, 8, 1)),
        5,
      ],
    },
    {
      name: 'customer_history',
      sql: `SELECT "id", "created_at", "total_cents" AS "amount", 'order' AS "kind" FROM "storefront"."order"
            WHERE "customer_id" = $1
            UNION ALL
            SELECT "id", "created_at", -"amount_cents", 'refund' FROM "storefront"."refund" WHERE "customer_id" = $1
            ORDER BY "created_at" DESC LIMIT 20`,
      params: (r) => [r % 3 === 0 ? 1 + (r % 100) : 101 + ((r * 7717) % 40000)],
    },
    {
      name: 'lock_order',
      sql: `SELECT "id", "status", "total_cents" FROM "storefront"."order" WHERE "checkout_token" = $1 FOR UPDATE`,
      params: (r) => [checkoutToken(90000 + ((r * 37) % 10000))],
    },
    {
      name: 'count_view',
      sql: `UPDATE "storefront"."product" SET "view_count" = "view_count" + 1 WHERE "id" = $1`,
      params: (r) => [1 + ((r * 4391) % 60000)],
    },
    {
      name: 'add_line',
      sql: `INSERT INTO "storefront"."order_line" ("order_id", "product_id", "quantity", "unit_price_cents", "created_at")
            VALUES ($1, $2, $3, $4, now()) RETURNING "id"`,
      params: (r) => [99000 + (r % 1000), 1 + ((r * 31) % 500), 1, 1999],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON storefront.product (category_id, status, last_restocked_at NULLS FIRST, id)',
    'CREATE INDEX ON storefront.stock (product_id, quantity)',
    'CREATE INDEX ON storefront.product_image (product_id, position) INCLUDE (url)',
    'CREATE INDEX ON storefront.product USING gin (search)',
    'CREATE INDEX ON storefront.order_line (product_id, created_at)',
    'CREATE INDEX ON storefront."order" (customer_id, created_at)',
    'CREATE INDEX ON storefront.refund (customer_id, created_at)',
    'CREATE UNIQUE INDEX ON storefront."order" (checkout_token)',
  ],
};

/** The analytics data's "now": events run up to it, 120 days back. */
const T0 = Date.UTC(2026, 5, 30);
/** A timestamp without time zone as the application writes it (UTC, no offset). */
const ts = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const HOUR = 3_600_000;

const INGEST_ROWS = 20;

/**
 * A holdout analytics application (literal SQL): a wide append-only events table (18 columns, 700k rows,
 * in time order; occurred_at a timestamp without time zone holding UTC; props a json, not jsonb, column)
 * and weekly latency histograms with a daterange period and an int4range bucket. Skewed: one project sends
 * 40% of the events, another 20%, 48 share the rest; 60% page views, 4% errors, 1.5% purchases; fifteen
 * heavy users; bots flagged on 10% of events, unknown on 70%. Shapes: histogram rows by `period @> date AND
 * latency @> int`; a one-hour window through `occurred_at AT TIME ZONE 'UTC'` with count(DISTINCT); the
 * distinct users of a coupon read through `props ->> 'coupon'`; p95 latency per path over the last day
 * (percentile_cont); a user's first and last seen (min/max); errors per minute over the last three hours
 * (date_bin) excluding bots with `IS NOT TRUE`; a bulk INSERT of 20 rows; the retention DELETE of the oldest
 * range.
 */
export const metrics: BenchWorkload = {
  name: 'metrics',
  description:
    'product analytics (holdout): daterange/int4range @>, AT TIME ZONE window on a timestamp, json ->> with DISTINCT, percentile_cont per path, min/max per user, date_bin + IS NOT TRUE, bulk INSERT, retention DELETE',
  rows: 793_600,
  async setup(client) {
    await client.query(`
      CREATE SCHEMA metrics;
      CREATE TABLE metrics.events (
        id bigserial PRIMARY KEY, project_id int NOT NULL, name text NOT NULL, occurred_at timestamp NOT NULL,
        received_at timestamptz NOT NULL, user_id bigint, session_id text NOT NULL, path text NOT NULL, referrer text,
        device text NOT NULL, os text NOT NULL, browser text NOT NULL, country char(2) NOT NULL,
        sdk_version text NOT NULL, ip inet, duration_ms int, is_bot boolean, props json NOT NULL);
      CREATE TABLE metrics.latency_histograms (
        project_id int NOT NULL, endpoint text NOT NULL, period daterange NOT NULL, latency int4range NOT NULL,
        hits bigint NOT NULL);
      INSERT INTO metrics.events (project_id, name, occurred_at, received_at, user_id, session_id, path, referrer,
                                  device, os, browser, country, sdk_version, ip, duration_ms, is_bot, props)
      SELECT p, n, t, (t AT TIME ZONE 'UTC') + (g % 5) * interval '1 second', u, 's' || u || '-' || (g / 50),
             (ARRAY['/', '/pricing', '/docs', '/blog', '/app', '/settings', '/checkout', '/signup'])[1 + (g / 7) % 8]
               || CASE WHEN (g / 11) % 3 = 0 THEN '/' || ((g / 3) % 40) ELSE '' END,
             CASE WHEN g % 4 = 0 THEN (ARRAY['google', 'twitter', 'newsletter', 'direct'])[1 + (g / 4) % 4] END,
             (ARRAY['desktop', 'mobile', 'tablet'])[1 + (g * 7) % 3], (ARRAY['macOS', 'Windows', 'iOS', 'Android', 'Linux'])[1 + g % 5],
             (ARRAY['Chrome', 'Safari', 'Firefox', 'Edge'])[1 + (g * 3) % 4], (ARRAY['US', 'DE', 'GB', 'FR', 'IN', 'BR'])[1 + (g * 11) % 6],
             '4.' || (g % 12) || '.0', ('10.' || (g % 200) || '.' || (g * 7 % 250) || '.' || (g % 250))::inet,
             CASE WHEN n IN ('page_view', 'api_call', 'error') THEN 20 + (g * 37) % 900 + CASE WHEN g % 50 = 0 THEN 4000 ELSE 0 END END,
             CASE WHEN g % 10 = 0 THEN true WHEN g % 10 < 3 THEN false END,
             (CASE WHEN n = 'purchase'
                   THEN json_build_object('coupon', CASE WHEN g % 10 < 3 THEN 'WELCOME' ELSE 'C' || (g / 10) % 400 END,
                                          'amount', 10 + (g * 37) % 300, 'currency', 'USD')
                   WHEN n = 'page_view' THEN json_build_object('ab', (ARRAY['A', 'B'])[1 + g % 2], 'title', 'Page ' || g % 40)
                   WHEN n = 'error' THEN json_build_object('code', 500 + g % 4, 'message', 'upstream timeout')
                   ELSE json_build_object('button', 'b' || g % 30) END)::json
      FROM generate_series(1, 700000) g,
           LATERAL (SELECT timestamp '2026-06-30' - (700000 - g) * interval '14.8 seconds' AS t,
                           (g::bigint * 7919) % 100 AS h, (g::bigint * 104729) % 997 AS s) x,
           LATERAL (SELECT CASE WHEN h < 40 THEN 1 WHEN h < 60 THEN 2 ELSE 3 + g % 48 END AS p,
                           CASE WHEN s < 600 THEN 'page_view' WHEN s < 800 THEN 'click' WHEN s < 920 THEN 'api_call'
                                WHEN s < 960 THEN 'error' WHEN s < 975 THEN 'purchase' WHEN s < 985 THEN 'signup'
                                ELSE 'session_end' END AS n,
                           CASE WHEN g % 100 < 15 THEN 1 + g % 15 ELSE 1000 + (g::bigint * 48271) % 120000 END AS u) y;
      INSERT INTO metrics.latency_histograms
      SELECT p, e, daterange(d, d + 7), int4range(b.lo, b.hi), (p * 7 + w * 13 + b.lo) % 1000
      FROM generate_series(0, 51) w, generate_series(1, 25) p,
           unnest(ARRAY['/api/events', '/api/users', '/api/search', '/api/export', '/api/login', '/api/billing']) e,
           unnest(ARRAY[0, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000],
                  ARRAY[10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, NULL]) b(lo, hi),
           LATERAL (SELECT date '2025-07-07' + 7 * w AS d) dd
      ORDER BY w, p, e, b.lo;`);
  },
  statements: [
    {
      name: 'histogram',
      sql: `SELECT endpoint, sum(hits) AS hits FROM metrics.latency_histograms
            WHERE period @> $1::date AND latency @> $2::int GROUP BY endpoint ORDER BY hits DESC`,
      params: (r) => [
        new Date(Date.UTC(2025, 6, 8) + ((r * 11) % 360) * 86_400_000).toISOString().slice(0, 10),
        pick([1200, 30, 7000, 450, 40000, 180], r),
      ],
    },
    {
      name: 'hour_window',
      sql: `SELECT count(*) AS events, count(DISTINCT session_id) AS sessions FROM metrics.events
            WHERE project_id = $1 AND occurred_at AT TIME ZONE 'UTC' >= $2 AND occurred_at AT TIME ZONE 'UTC' < $3`,
      params: (r) => {
        const from = T0 - (1 + (r % 48)) * HOUR;
        return [pick([1, 2, 9, 1, 30], r), `${ts(from)}+00`, `${ts(from + HOUR)}+00`];
      },
    },
    {
      name: 'coupon_users',
      sql: `SELECT DISTINCT user_id FROM metrics.events WHERE name = 'purchase' AND props ->> 'coupon' = $1`,
      params: (r) => [r % 5 === 0 ? 'WELCOME' : `C${(r * 37) % 400}`],
    },
    {
      name: 'p95_by_path',
      sql: `SELECT path, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95, count(*) FROM metrics.events
            WHERE project_id = $1 AND name = 'page_view' AND occurred_at >= $2 GROUP BY path ORDER BY p95 DESC`,
      params: (r) => [pick([1, 2, 5, 1, 17], r), ts(T0 - 24 * HOUR)],
    },
    {
      name: 'first_last_seen',
      sql: 'SELECT min(occurred_at) AS first_seen, max(occurred_at) AS last_seen FROM metrics.events WHERE user_id = $1',
      params: (r) => [r % 4 === 0 ? 1 + (r % 15) : 1000 + ((r * 7717) % 120000)],
    },
    {
      name: 'errors_per_minute',
      sql: `SELECT date_bin('1 minute', occurred_at, timestamp '2000-01-01') AS minute, count(*) FROM metrics.events
            WHERE project_id = $1 AND name = 'error' AND is_bot IS NOT TRUE AND occurred_at >= $2
            GROUP BY 1 ORDER BY 1`,
      params: (r) => [pick([1, 2, 1, 8], r), ts(T0 - 3 * HOUR)],
    },
    {
      name: 'ingest',
      sql: `INSERT INTO metrics.events (project_id, name, occurred_at, received_at, user_id, session_id, path, device, os,
                                        browser, country, sdk_version, duration_ms, props)
            VALUES ${Array.from(
              { length: INGEST_ROWS },
              (_, i) =>
                `($${5 * i + 1}, $${5 * i + 2}, $${5 * i + 3}, now(), $${5 * i + 4}, 'live', '/app', 'desktop', 'macOS', 'Chrome', 'US', '4.11.0', 120, $${5 * i + 5})`,
            ).join(', ')}`,
      params: (r) =>
        Array.from({ length: INGEST_ROWS }, (_, i) => [
          1 + (i % 3),
          i % 5 === 0 ? 'click' : 'page_view',
          ts(T0 + (r * INGEST_ROWS + i) * 1000),
          1000 + ((r * 31 + i) % 120000),
          '{"ab": "A"}',
        ]).flat(),
    },
    {
      name: 'retention_purge',
      sql: 'DELETE FROM metrics.events WHERE occurred_at < $1',
      params: (r) => [ts(T0 - 700_000 * 14_800 + (r + 1) * 10 * 60_000)],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON metrics.latency_histograms USING gist (period, latency)',
    `CREATE INDEX ON metrics.events (project_id, (occurred_at AT TIME ZONE 'UTC')) INCLUDE (session_id)`,
    `CREATE INDEX ON metrics.events ((props ->> 'coupon')) WHERE name = 'purchase'`,
    'CREATE INDEX ON metrics.events (project_id, name, occurred_at) INCLUDE (path, duration_ms)',
    'CREATE INDEX ON metrics.events (user_id, occurred_at)',
    `CREATE INDEX ON metrics.events (project_id, occurred_at) WHERE name = 'error' AND is_bot IS NOT TRUE`,
    'CREATE INDEX ON metrics.events USING brin (occurred_at)',
  ],
};
