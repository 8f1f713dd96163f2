import type pg from 'pg';
import { pick } from './generate.ts';
import { booking, bookingOffice, social } from './holdout-a.ts';
import { iot, logistics } from './holdout-b.ts';
import { forum, marketing } from './holdout-c.ts';
import { jobs, ledger } from './holdout-d.ts';
import { netsec, payroll } from './holdout-e.ts';
import { metrics, storefront } from './holdout-f.ts';
import { chat, realty } from './holdout-g.ts';
import { events, lms } from './holdout-h.ts';
import { depot, pharmacy } from './holdout-i.ts';
import { salesdw, telematics } from './holdout-j.ts';
import { orm, sync, tickets } from './holdout-lead.ts';

/**
 * The optimizer benchmark's corpus: applications built for it, each with its own schema, data (a few
 * hundred thousand rows, generated deterministically), 4 to 8 statement shapes mixing the candidate
 * kinds (multi-column btree with ORDER BY DESC and LIMIT, IN lists, IS NULL, expression indexes on
 * function calls, casts and jsonb paths, LIKE prefix and infix, jsonb containment and existence, array
 * operators, joins through foreign keys, partial indexes, covering indexes), writes included, and the
 * index set a DBA would hand-write for it. Nothing here is known to the optimizer: it sees only what the
 * server sees.
 */
export interface BenchStatement {
  name: string;
  /** $n stand for the values params() returns; the runner sends them inlined as literals, as an
   * application that builds its SQL text (psycopg2-style client-side binding) does. */
  sql: string;
  params(round: number): unknown[];
}

export interface BenchWorkload {
  name: string;
  description: string;
  /** Creates the schema and loads the data. */
  setup(client: pg.Client): Promise<void>;
  statements: BenchStatement[];
  /** The indexes a DBA would write for this workload (CREATE INDEX statements). */
  handIndexes: string[];
  /** Rows loaded (for the table). */
  rows: number;
  /**
   * How the application sends its statements: SQL text with the values inlined (the default; psycopg2-style
   * client-side binding), or the extended protocol with bind parameters (node-postgres, JDBC, asyncpg).
   */
  protocol?: 'literal' | 'extended';
}

/** A workload whose schema and data come from one SQL script. */
function fromScript(w: Omit<BenchWorkload, 'setup'> & { script: string }): BenchWorkload {
  const { script, ...rest } = w;
  return {
    ...rest,
    async setup(client) {
      await client.query(script);
    },
  };
}

export const helpdesk = fromScript({
  name: 'helpdesk',
  description: 'support tickets: an open queue per organization, requester lookup, subject search, tags',
  rows: 300_000,
  script: `
      CREATE EXTENSION IF NOT EXISTS pg_trgm;
      CREATE SCHEMA helpdesk;
      CREATE TABLE helpdesk.tickets (
        id bigserial PRIMARY KEY, org_id int NOT NULL, requester_email text NOT NULL, status text NOT NULL,
        priority int NOT NULL, subject text NOT NULL, created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL, custom jsonb NOT NULL, tags text[] NOT NULL);
      INSERT INTO helpdesk.tickets (org_id, requester_email, status, priority, subject, created_at, updated_at, custom, tags)
      SELECT 1 + (g::bigint * 7919) % 2000, 'User' || ((g::bigint * 104729) % 150000) || '@Example.com',
        CASE WHEN g % 40 = 0 THEN 'open' WHEN g % 40 = 1 THEN 'pending' WHEN g % 3 = 0 THEN 'solved' ELSE 'closed' END,
        g % 4,
        'Issue ' || g || ' with ' || (ARRAY['login', 'billing', 'export', 'sync', 'printer'])[1 + g % 5]
          || CASE WHEN g % 5000 = 0 THEN ' refund request' ELSE '' END,
        timestamptz '2023-01-01' + g * interval '2 minutes',
        timestamptz '2023-01-01' + g * interval '2 minutes' + (g % 100) * interval '1 hour',
        jsonb_build_object('channel', (ARRAY['email', 'chat', 'phone'])[1 + g % 3], 'region', 'r' || (g % 50),
                           'external_ref', 'EXT-' || g),
        ARRAY['t' || (g % 500)] || CASE WHEN g % 1000 = 0 THEN ARRAY['vip'] ELSE ARRAY[]::text[] END
      FROM generate_series(1, 300000) g;`,
  statements: [
    {
      name: 'open_queue',
      sql: `SELECT id, subject, updated_at FROM helpdesk.tickets WHERE org_id = $1 AND status = 'open' ORDER BY updated_at DESC LIMIT 50`,
      params: (r) => [1 + ((r * 37) % 2000)],
    },
    {
      name: 'by_requester',
      sql: 'SELECT id, status FROM helpdesk.tickets WHERE lower(requester_email) = $1',
      params: (r) => [`user${(r * 7717) % 150000}@example.com`],
    },
    {
      name: 'refund_search',
      sql: 'SELECT id, subject FROM helpdesk.tickets WHERE subject ILIKE $1',
      params: () => ['%refund%'],
    },
    {
      name: 'vip_tickets',
      sql: 'SELECT count(*) FROM helpdesk.tickets WHERE tags @> $1',
      params: () => [['vip']],
    },
    {
      name: 'by_external_ref',
      sql: `SELECT id, status FROM helpdesk.tickets WHERE custom ->> 'external_ref' = $1`,
      params: (r) => [`EXT-${1 + ((r * 9973) % 300000)}`],
    },
    {
      name: 'new_ticket',
      sql: `INSERT INTO helpdesk.tickets (org_id, requester_email, status, priority, subject, created_at, updated_at, custom, tags)
            VALUES ($1, $2, 'open', 1, $3, now(), now(), $4, $5)`,
      params: (r) => [
        1 + (r % 2000),
        `new${r}@example.com`,
        `New issue ${r}`,
        { channel: 'chat', region: 'r1', external_ref: `NEW-${r}` },
        ['t1'],
      ],
    },
    {
      name: 'set_status',
      sql: 'UPDATE helpdesk.tickets SET status = $1, updated_at = now() WHERE id = $2',
      params: (r) => [pick(['pending', 'solved'], r), 1 + ((r * 4391) % 300000)],
    },
  ],
  handIndexes: [
    `CREATE INDEX ON helpdesk.tickets (org_id, updated_at DESC) WHERE status = 'open'`,
    'CREATE INDEX ON helpdesk.tickets (lower(requester_email))',
    'CREATE INDEX ON helpdesk.tickets USING gin (subject gin_trgm_ops)',
    'CREATE INDEX ON helpdesk.tickets USING gin (tags)',
    `CREATE INDEX ON helpdesk.tickets ((custom ->> 'external_ref'))`,
  ],
});

export const shop = fromScript({
  name: 'shop',
  description: 'an online shop: customer order history, a join by e-mail, the shipping queue, revenue',
  rows: 360_000,
  script: `
      CREATE SCHEMA shop;
      CREATE TABLE shop.customers (id int PRIMARY KEY, email text NOT NULL, country text NOT NULL,
        created_at timestamptz NOT NULL);
      CREATE TABLE shop.orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES shop.customers (id),
        status text NOT NULL, total numeric(10, 2) NOT NULL, created_at timestamptz NOT NULL, shipped_at timestamptz);
      INSERT INTO shop.customers
      SELECT g, 'c' || g || '@mail.test', (ARRAY['de', 'fr', 'us', 'uk', 'jp'])[1 + g % 5],
        timestamptz '2022-01-01' + g * interval '10 minutes'
      FROM generate_series(1, 60000) g;
      INSERT INTO shop.orders (customer_id, status, total, created_at, shipped_at)
      SELECT 1 + (g::bigint * 7919) % 60000,
        CASE WHEN g % 50 = 0 THEN 'paid' WHEN g % 200 = 1 THEN 'refunded' WHEN g % 33 = 2 THEN 'cancelled' ELSE 'shipped' END,
        (g % 50000) / 100.0 + 1,
        timestamptz '2023-01-01' + g * interval '3 minutes',
        CASE WHEN g % 50 = 0 OR g % 33 = 2 THEN NULL ELSE timestamptz '2023-01-02' + g * interval '3 minutes' END
      FROM generate_series(1, 300000) g;`,
  statements: [
    {
      name: 'customer_orders',
      sql: 'SELECT id, status, total, created_at FROM shop.orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20',
      params: (r) => [1 + ((r * 131) % 60000)],
    },
    {
      name: 'orders_by_email',
      sql: 'SELECT o.id, o.total FROM shop.customers c JOIN shop.orders o ON o.customer_id = c.id WHERE c.email = $1',
      params: (r) => [`c${1 + ((r * 997) % 60000)}@mail.test`],
    },
    {
      name: 'to_ship',
      sql: `SELECT id, customer_id FROM shop.orders WHERE status = 'paid' AND shipped_at IS NULL ORDER BY created_at LIMIT 100`,
      params: () => [],
    },
    {
      name: 'daily_revenue',
      sql: 'SELECT sum(total) FROM shop.orders WHERE created_at >= $1 AND created_at < $2',
      params: (r) => {
        const day = new Date(Date.UTC(2023, 1, 1 + (r % 300)));
        return [day, new Date(day.getTime() + 86_400_000)];
      },
    },
    {
      name: 'refunds_since',
      sql: `SELECT count(*) FROM shop.orders WHERE status IN ('refunded', 'disputed') AND created_at >= $1`,
      params: () => [new Date(Date.UTC(2024, 0, 1))],
    },
    {
      name: 'place_order',
      sql: `INSERT INTO shop.orders (customer_id, status, total, created_at) VALUES ($1, 'paid', $2, now())`,
      params: (r) => [1 + (r % 60000), 10 + (r % 90)],
    },
    {
      name: 'ship_order',
      sql: `UPDATE shop.orders SET status = 'shipped', shipped_at = now() WHERE id = $1`,
      params: (r) => [50 * (1 + (r % 5000))],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON shop.orders (customer_id, created_at DESC)',
    'CREATE INDEX ON shop.customers (email)',
    `CREATE INDEX ON shop.orders (created_at) WHERE status = 'paid' AND shipped_at IS NULL`,
    'CREATE INDEX ON shop.orders (created_at) INCLUDE (total)',
    'CREATE INDEX ON shop.orders (status, created_at)',
  ],
});

export const telemetry = fromScript({
  name: 'telemetry',
  description: 'IoT readings: latest value per device and metric, windows, bad-quality scan, device lookups',
  rows: 450_000,
  script: `
      CREATE SCHEMA telemetry;
      CREATE TABLE telemetry.devices (id int PRIMARY KEY, serial text NOT NULL, site_id int NOT NULL, attrs jsonb NOT NULL);
      CREATE TABLE telemetry.readings (id bigserial PRIMARY KEY, device_id int NOT NULL, metric text NOT NULL,
        ts timestamp NOT NULL, value double precision NOT NULL, quality smallint NOT NULL);
      INSERT INTO telemetry.devices
      SELECT g, 'sn-' || lpad(g::text, 6, '0'), g % 300,
        jsonb_build_object('firmware', 'fw-' || (g % 200), 'model', 'm' || (g % 12), 'batch', g % 1000)
      FROM generate_series(1, 50000) g;
      INSERT INTO telemetry.readings (device_id, metric, ts, value, quality)
      SELECT 1 + (g::bigint * 7919) % 5000, (ARRAY['temp', 'humidity', 'pressure', 'voltage'])[1 + g % 4],
        timestamp '2024-01-01' + g * interval '30 seconds', (g % 1000) / 10.0,
        CASE WHEN g % 200 = 0 THEN 0 ELSE 1 END
      FROM generate_series(1, 400000) g;`,
  statements: [
    {
      name: 'latest_value',
      sql: 'SELECT ts, value FROM telemetry.readings WHERE device_id = $1 AND metric = $2 ORDER BY ts DESC LIMIT 1',
      params: (r) => [1 + ((r * 53) % 5000), pick(['temp', 'humidity', 'pressure', 'voltage'], r)],
    },
    {
      name: 'device_window',
      sql: 'SELECT avg(value) FROM telemetry.readings WHERE device_id = $1 AND ts >= $2 AND ts < $3',
      params: (r) => [1 + ((r * 71) % 5000), '2024-03-01', '2024-03-08'],
    },
    {
      name: 'bad_quality',
      sql: 'SELECT device_id, ts FROM telemetry.readings WHERE quality = 0 AND ts >= $1',
      params: () => ['2024-04-01'],
    },
    {
      name: 'by_firmware',
      sql: 'SELECT id FROM telemetry.devices WHERE attrs @> $1',
      params: (r) => [{ firmware: `fw-${r % 200}` }],
    },
    {
      name: 'by_serial',
      sql: 'SELECT id, site_id FROM telemetry.devices WHERE upper(serial) = $1',
      params: (r) => [`SN-${String(1 + ((r * 311) % 50000)).padStart(6, '0')}`],
    },
    {
      name: 'daily_count',
      sql: 'SELECT count(*) FROM telemetry.readings WHERE ts::date = $1',
      params: (r) => [`2024-02-${String(1 + (r % 28)).padStart(2, '0')}`],
    },
    {
      name: 'ingest',
      sql: 'INSERT INTO telemetry.readings (device_id, metric, ts, value, quality) VALUES ($1, $2, $3, $4, 1)',
      params: (r) => [1 + (r % 5000), 'temp', '2024-06-01', r % 100],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON telemetry.readings (device_id, metric, ts DESC)',
    'CREATE INDEX ON telemetry.readings (device_id, ts)',
    'CREATE INDEX ON telemetry.readings (ts) WHERE quality = 0',
    'CREATE INDEX ON telemetry.devices USING gin (attrs jsonb_path_ops)',
    'CREATE INDEX ON telemetry.devices (upper(serial))',
    'CREATE INDEX ON telemetry.readings ((ts::date))',
  ],
});

export const cms = fromScript({
  name: 'cms',
  description: 'a publishing platform: slug and title-prefix lookups, language filter, comment threads',
  rows: 550_000,
  script: `
      CREATE SCHEMA cms;
      CREATE TABLE cms.posts (id bigint PRIMARY KEY, author_id int NOT NULL, slug text NOT NULL, title text NOT NULL,
        status text NOT NULL, published_at timestamptz, views int NOT NULL DEFAULT 0, meta jsonb NOT NULL);
      CREATE TABLE cms.comments (id bigserial PRIMARY KEY, post_id bigint NOT NULL REFERENCES cms.posts (id),
        author text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL, approved boolean NOT NULL);
      INSERT INTO cms.posts
      SELECT g, 1 + (g::bigint * 31) % 5000, 'Post-' || g || '-Slug', 'How to ' || md5(g::text) || ' quickly',
        CASE WHEN g % 25 = 0 THEN 'draft' ELSE 'published' END,
        CASE WHEN g % 25 = 0 THEN NULL ELSE timestamptz '2020-01-01' + g * interval '7 minutes' END, g % 1000,
        jsonb_build_object('lang', 'l' || (g % 500), 'words', g % 3000)
      FROM generate_series(1, 250000) g;
      INSERT INTO cms.comments (post_id, author, body, created_at, approved)
      SELECT 1 + (g::bigint * 7919) % 250000, 'reader' || (g % 9000), 'Nice post number ' || g,
        timestamptz '2021-01-01' + g * interval '3 minutes', g % 10 <> 0
      FROM generate_series(1, 300000) g;`,
  statements: [
    {
      name: 'by_slug',
      sql: 'SELECT id, title FROM cms.posts WHERE lower(slug) = $1',
      params: (r) => [`post-${1 + ((r * 4099) % 250000)}-slug`],
    },
    {
      name: 'title_prefix',
      sql: 'SELECT id, title FROM cms.posts WHERE lower(title) LIKE $1',
      params: (r) => [`how to ${(r % 256).toString(16).padStart(2, '0')}a%`],
    },
    {
      name: 'by_language',
      sql: `SELECT count(*) FROM cms.posts WHERE meta ->> 'lang' = $1 AND status = 'published'`,
      params: (r) => [`l${r % 500}`],
    },
    {
      name: 'thread',
      sql: 'SELECT id, author, created_at FROM cms.comments WHERE post_id = $1 AND approved ORDER BY created_at',
      params: (r) => [1 + ((r * 613) % 250000)],
    },
    {
      name: 'author_drafts',
      sql: `SELECT id, title FROM cms.posts WHERE author_id = $1 AND status = 'draft'`,
      params: (r) => [1 + ((r * 17) % 5000)],
    },
    {
      name: 'count_view',
      sql: 'UPDATE cms.posts SET views = views + 1 WHERE id = $1',
      params: (r) => [1 + ((r * 7) % 250000)],
    },
    {
      name: 'add_comment',
      sql: 'INSERT INTO cms.comments (post_id, author, body, created_at, approved) VALUES ($1, $2, $3, now(), true)',
      params: (r) => [1 + ((r * 613) % 250000), `reader${r}`, `Comment ${r}`],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON cms.posts (lower(slug))',
    'CREATE INDEX ON cms.posts (lower(title) text_pattern_ops)',
    `CREATE INDEX ON cms.posts ((meta ->> 'lang'))`,
    'CREATE INDEX ON cms.comments (post_id, created_at)',
    'CREATE INDEX ON cms.posts (author_id)',
  ],
});

export const inventory = fromScript({
  name: 'inventory',
  description: 'a warehouse: SKU lookup, category price range, hazmat flag, stock movement history',
  rows: 600_000,
  script: `
      CREATE SCHEMA inventory;
      CREATE TABLE inventory.products (id int PRIMARY KEY, sku text NOT NULL, category_id int NOT NULL,
        price numeric(10, 2) NOT NULL, attrs jsonb NOT NULL, discontinued boolean NOT NULL);
      CREATE TABLE inventory.movements (id bigserial PRIMARY KEY, product_id int NOT NULL, warehouse_id int NOT NULL,
        qty int NOT NULL, moved_at timestamp NOT NULL, kind text NOT NULL);
      INSERT INTO inventory.products
      SELECT g, 'SKU' || lpad(((g::bigint * 7919) % 1000003)::text, 7, '0'), g % 1000, (g % 10000) / 10.0 + 0.5,
        CASE WHEN g % 500 = 0 THEN jsonb_build_object('hazmat', true, 'weight', g % 40)
             ELSE jsonb_build_object('weight', g % 40, 'color', 'c' || (g % 30)) END,
        g % 20 = 0
      FROM generate_series(1, 200000) g;
      INSERT INTO inventory.movements (product_id, warehouse_id, qty, moved_at, kind)
      SELECT 1 + (g::bigint * 104729) % 200000, g % 8, (g % 21) - 10, timestamp '2023-01-01' + g * interval '2 minutes',
        (ARRAY['receipt', 'pick', 'adjust', 'transfer'])[1 + g % 4]
      FROM generate_series(1, 400000) g;`,
  statements: [
    {
      name: 'by_sku',
      sql: 'SELECT id, price FROM inventory.products WHERE sku = $1',
      params: (r) => [`SKU${String(((1 + ((r * 37) % 200000)) * 7919) % 1000003).padStart(7, '0')}`],
    },
    {
      name: 'category_price',
      sql: 'SELECT id, sku, price FROM inventory.products WHERE category_id = $1 AND price BETWEEN $2 AND $3 ORDER BY price LIMIT 20',
      params: (r) => [r % 1000, 100, 400],
    },
    {
      name: 'hazmat',
      sql: `SELECT count(*) FROM inventory.products WHERE attrs ? 'hazmat'`,
      params: () => [],
    },
    {
      name: 'movement_history',
      sql: 'SELECT moved_at, qty FROM inventory.movements WHERE product_id = $1 AND warehouse_id = $2 ORDER BY moved_at DESC LIMIT 10',
      params: (r) => [1 + ((r * 389) % 200000), r % 8],
    },
    {
      name: 'day_movements',
      sql: 'SELECT kind, sum(qty) FROM inventory.movements WHERE moved_at >= $1 AND moved_at < $2 GROUP BY kind',
      params: (r) => {
        const day = new Date(Date.UTC(2023, 2, 1 + (r % 200)));
        return [
          day.toISOString().slice(0, 10),
          new Date(day.getTime() + 86_400_000).toISOString().slice(0, 10),
        ];
      },
    },
    {
      name: 'record_movement',
      sql: 'INSERT INTO inventory.movements (product_id, warehouse_id, qty, moved_at, kind) VALUES ($1, $2, $3, now(), $4)',
      params: (r) => [1 + (r % 200000), r % 8, 1, 'pick'],
    },
    {
      name: 'reprice',
      sql: 'UPDATE inventory.products SET price = $1 WHERE id = $2',
      params: (r) => [10 + (r % 100), 1 + ((r * 13) % 200000)],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON inventory.products (sku)',
    'CREATE INDEX ON inventory.products (category_id, price)',
    'CREATE INDEX ON inventory.products USING gin (attrs)',
    'CREATE INDEX ON inventory.movements (product_id, warehouse_id, moved_at DESC)',
    'CREATE INDEX ON inventory.movements (moved_at)',
  ],
});

export const saas = fromScript({
  name: 'saas',
  description: 'a multi-tenant SaaS: login by e-mail, tenant activity feed, security events, IP lookup',
  rows: 500_000,
  script: `
      CREATE SCHEMA saas;
      CREATE TABLE saas.users (id int PRIMARY KEY, tenant_id int NOT NULL, email text NOT NULL,
        deleted_at timestamptz, last_login timestamptz);
      CREATE TABLE saas.events (id bigserial PRIMARY KEY, tenant_id int NOT NULL, user_id int NOT NULL REFERENCES saas.users (id),
        action text NOT NULL, created_at timestamptz NOT NULL, payload jsonb NOT NULL);
      INSERT INTO saas.users
      SELECT g, 1 + g % 500, 'Member' || g || '@Tenant' || (1 + g % 500) || '.io',
        CASE WHEN g % 50 = 0 THEN timestamptz '2024-01-01' END, timestamptz '2024-01-01' + g * interval '1 minute'
      FROM generate_series(1, 100000) g;
      INSERT INTO saas.events (tenant_id, user_id, action, created_at, payload)
      SELECT 1 + g % 500, 1 + (g::bigint * 7919) % 100000,
        CASE WHEN g % 100 = 0 THEN 'login_failed' WHEN g % 150 = 1 THEN 'password_reset' ELSE (ARRAY['view', 'edit', 'login', 'export'])[1 + g % 4] END,
        timestamptz '2023-06-01' + g * interval '1 minute',
        jsonb_build_object('ip', '10.' || (g % 250) || '.' || ((g / 250) % 250) || '.' || (g % 7), 'agent', 'ua' || (g % 40))
      FROM generate_series(1, 400000) g;`,
  statements: [
    {
      name: 'login',
      sql: 'SELECT id, tenant_id FROM saas.users WHERE lower(email) = $1 AND deleted_at IS NULL',
      params: (r) => {
        const id = 1 + ((r * 7717) % 100000);
        return [`member${id}@tenant${1 + (id % 500)}.io`];
      },
    },
    {
      name: 'tenant_feed',
      sql: 'SELECT id, action, created_at FROM saas.events WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 50',
      params: (r) => [1 + ((r * 19) % 500)],
    },
    {
      name: 'security_events',
      sql: `SELECT count(*) FROM saas.events WHERE tenant_id = $1 AND action IN ('login_failed', 'password_reset') AND created_at >= $2`,
      params: (r) => [1 + ((r * 23) % 500), '2023-09-01'],
    },
    {
      name: 'by_ip',
      sql: `SELECT id, tenant_id FROM saas.events WHERE payload ->> 'ip' = $1`,
      params: (r) => [`10.${r % 250}.${(r * 3) % 250}.${r % 7}`],
    },
    {
      name: 'user_activity',
      sql: 'SELECT action, created_at FROM saas.events WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20',
      params: (r) => [1 + ((r * 557) % 100000)],
    },
    {
      name: 'log_event',
      sql: 'INSERT INTO saas.events (tenant_id, user_id, action, created_at, payload) VALUES ($1, $2, $3, now(), $4)',
      params: (r) => [1 + (r % 500), 1 + (r % 100000), 'view', { ip: '10.0.0.1', agent: 'ua1' }],
    },
    {
      name: 'touch_login',
      sql: 'UPDATE saas.users SET last_login = now() WHERE id = $1',
      params: (r) => [1 + ((r * 101) % 100000)],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON saas.users (lower(email)) WHERE deleted_at IS NULL',
    'CREATE INDEX ON saas.events (tenant_id, created_at DESC)',
    'CREATE INDEX ON saas.events (tenant_id, action, created_at)',
    `CREATE INDEX ON saas.events ((payload ->> 'ip'))`,
    'CREATE INDEX ON saas.events (user_id, created_at DESC)',
  ],
});

export const queue = fromScript({
  name: 'queue',
  description:
    'a job queue: claim with SKIP LOCKED, job logs, jobs by account, account purge through foreign keys',
  rows: 530_000,
  script: `
      CREATE SCHEMA queue;
      CREATE TABLE queue.accounts (id int PRIMARY KEY, name text NOT NULL, plan text NOT NULL);
      CREATE TABLE queue.jobs (id bigserial PRIMARY KEY,
        account_id int NOT NULL REFERENCES queue.accounts (id) ON DELETE CASCADE, queue text NOT NULL,
        state text NOT NULL, priority int NOT NULL, run_at timestamptz NOT NULL, attempts int NOT NULL,
        payload jsonb NOT NULL);
      CREATE TABLE queue.job_logs (id bigserial PRIMARY KEY,
        job_id bigint NOT NULL REFERENCES queue.jobs (id) ON DELETE CASCADE, at timestamptz NOT NULL,
        message text NOT NULL);
      -- Accounts above 20000 are trials with no jobs yet: the ones purged.
      INSERT INTO queue.accounts
      SELECT g, 'acct-' || g, CASE WHEN g > 20000 THEN 'trial' ELSE 'paid' END FROM generate_series(1, 30000) g;
      INSERT INTO queue.jobs (account_id, queue, state, priority, run_at, attempts, payload)
      SELECT 1 + (g::bigint * 7919) % 20000, 'q' || (g % 20),
        CASE WHEN g % 50 = 0 THEN 'ready' WHEN g % 97 = 0 THEN 'running' ELSE 'done' END,
        g % 10, timestamptz '2024-01-01' + g * interval '1 minute', g % 3, jsonb_build_object('n', g)
      FROM generate_series(1, 300000) g;
      INSERT INTO queue.job_logs (job_id, at, message)
      SELECT 1 + (g::bigint * 104729) % 300000, timestamptz '2024-01-01' + g * interval '90 seconds',
        'step ' || (g % 7)
      FROM generate_series(1, 200000) g;`,
  statements: [
    {
      name: 'claim',
      sql: `SELECT id FROM queue.jobs WHERE queue = $1 AND state = 'ready' AND run_at <= $2
            ORDER BY priority DESC, run_at LIMIT 10 FOR UPDATE SKIP LOCKED`,
      params: (r) => [`q${r % 20}`, '2030-01-01'],
    },
    {
      name: 'finish',
      sql: `UPDATE queue.jobs SET state = 'done', attempts = attempts + 1 WHERE id = $1`,
      params: (r) => [50 * (1 + ((r * 37) % 6000))],
    },
    {
      name: 'enqueue',
      sql: `INSERT INTO queue.jobs (account_id, queue, state, priority, run_at, attempts, payload)
            VALUES ($1, $2, 'ready', $3, now(), 0, $4)`,
      params: (r) => [1 + (r % 20000), `q${r % 20}`, r % 10, { n: r }],
    },
    {
      name: 'job_history',
      sql: 'SELECT at, message FROM queue.job_logs WHERE job_id = $1 ORDER BY at',
      params: (r) => [1 + ((r * 7331) % 300000)],
    },
    {
      name: 'account_jobs',
      sql: `SELECT j.id, j.state, j.run_at FROM queue.accounts a JOIN queue.jobs j ON j.account_id = a.id
            WHERE a.name = $1`,
      params: (r) => [`acct-${1 + ((r * 613) % 20000)}`],
    },
    {
      name: 'purge_trial',
      sql: 'DELETE FROM queue.accounts WHERE id = $1',
      params: (r) => [20001 + r],
    },
  ],
  handIndexes: [
    `CREATE INDEX ON queue.jobs (queue, priority DESC, run_at) WHERE state = 'ready'`,
    'CREATE INDEX ON queue.jobs (account_id)',
    'CREATE INDEX ON queue.accounts (name)',
    'CREATE INDEX ON queue.job_logs (job_id, at)',
  ],
});

export const library = fromScript({
  name: 'library',
  description:
    'a lending library: member lookup by a case-folded card code, overdue loans, full-text search of titles, a date-cast report, a join from loans to books',
  rows: 420_000,
  script: `
      CREATE SCHEMA library;
      CREATE TABLE library.books (
        id int PRIMARY KEY, title text NOT NULL, isbn text NOT NULL, published date NOT NULL, shelf text NOT NULL);
      CREATE TABLE library.loans (
        id bigserial PRIMARY KEY, book_id int NOT NULL REFERENCES library.books (id), member_code text NOT NULL,
        loaned_at timestamptz NOT NULL, due_at timestamptz NOT NULL, returned_at timestamptz);
      INSERT INTO library.books
      SELECT g, (ARRAY['River', 'Garden', 'Winter', 'Harbor', 'Stone', 'Atlas'])[1 + g % 6] || ' '
               || (ARRAY['of Glass', 'at Dawn', 'Tales', 'Letters', 'Chronicle'])[1 + (g / 6) % 5] || ' ' || g
               || CASE WHEN g % 2000 = 0 THEN ' lighthouse' ELSE '' END,
             '978' || lpad(g::text, 10, '0'), date '1950-01-01' + (g % 25000), 'S' || (g % 300)
      FROM generate_series(1, 120000) g;
      INSERT INTO library.loans (book_id, member_code, loaned_at, due_at, returned_at)
      SELECT 1 + (g::bigint * 7919) % 120000, 'M-' || ((g::bigint * 104729) % 40000),
             timestamptz '2024-01-01' + g * interval '90 seconds',
             timestamptz '2024-01-15' + g * interval '90 seconds',
             CASE WHEN g % 200 = 0 THEN NULL ELSE timestamptz '2024-01-10' + g * interval '90 seconds' END
      FROM generate_series(1, 300000) g;`,
  statements: [
    {
      name: 'member_loans',
      sql: 'SELECT id, book_id, loaned_at FROM library.loans WHERE upper(member_code) = $1 ORDER BY loaned_at DESC LIMIT 10',
      params: (r) => [`M-${(r * 7717) % 40000}`],
    },
    {
      name: 'overdue',
      sql: 'SELECT id, member_code, due_at FROM library.loans WHERE returned_at IS NULL AND due_at < $1 ORDER BY due_at LIMIT 100',
      params: (r) => [new Date(Date.UTC(2024, 3, 1 + (r % 20)))],
    },
    {
      name: 'title_search',
      sql: `SELECT id, title FROM library.books WHERE to_tsvector('simple', title) @@ plainto_tsquery('simple', $1)`,
      params: () => ['lighthouse'],
    },
    {
      name: 'published_on',
      sql: 'SELECT count(*) FROM library.books WHERE published = $1::date',
      params: (r) => [`19${50 + (r % 40)}-03-0${1 + (r % 8)}`],
    },
    {
      name: 'book_history',
      sql: 'SELECT l.loaned_at, l.member_code FROM library.loans l JOIN library.books b ON b.id = l.book_id WHERE b.isbn = $1',
      params: (r) => [`978${String(1 + ((r * 9973) % 120000)).padStart(10, '0')}`],
    },
    {
      name: 'return_book',
      sql: 'UPDATE library.loans SET returned_at = now() WHERE id = $1',
      params: (r) => [1 + ((r * 4391) % 300000)],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON library.loans (upper(member_code), loaned_at DESC)',
    'CREATE INDEX ON library.loans (due_at) WHERE returned_at IS NULL',
    `CREATE INDEX ON library.books USING gin (to_tsvector('simple', title))`,
    'CREATE INDEX ON library.books (published)',
    'CREATE INDEX ON library.books (isbn)',
    'CREATE INDEX ON library.loans (book_id)',
  ],
});

export const crm = fromScript({
  name: 'crm',
  description:
    'a sales CRM (holdout): ANY($1) arrays, OR of two columns, top-N without a filter, date_trunc, an anti-join, a grouped count',
  rows: 450_000,
  script: `
      CREATE SCHEMA crm;
      CREATE TABLE crm.accounts (id int PRIMARY KEY, name text NOT NULL, owner_id int NOT NULL, region text NOT NULL);
      CREATE TABLE crm.deals (
        id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES crm.accounts (id), owner_id int NOT NULL,
        stage text NOT NULL, amount numeric NOT NULL, contact_email text NOT NULL, phone text NOT NULL,
        created_at timestamptz NOT NULL);
      INSERT INTO crm.accounts
      SELECT g, 'Account ' || g, g % 400, 'r' || (g % 12) FROM generate_series(1, 50000) g;
      INSERT INTO crm.deals (account_id, owner_id, stage, amount, contact_email, phone, created_at)
      SELECT 1 + (g::bigint * 7919) % 45000, g % 400,
             (ARRAY['lead', 'qualified', 'proposal', 'won', 'lost'])[1 + g % 5], (g % 1000) * 10,
             'c' || g || '@mail.test', '+1-555-' || lpad((g % 9999999)::text, 7, '0'),
             timestamptz '2023-06-01' + g * interval '70 seconds'
      FROM generate_series(1, 400000) g;`,
  statements: [
    {
      name: 'team_deals',
      sql: 'SELECT id, amount FROM crm.deals WHERE owner_id = ANY($1) AND stage = $2',
      params: (r) => [[r % 400, (r * 7) % 400, (r * 13) % 400], 'proposal'],
    },
    {
      name: 'contact_lookup',
      sql: 'SELECT id FROM crm.deals WHERE contact_email = $1 OR phone = $2',
      params: (r) => [
        `c${1 + ((r * 9973) % 400000)}@mail.test`,
        `+1-555-${String((r * 7717) % 400000).padStart(7, '0')}`,
      ],
    },
    {
      name: 'newest',
      sql: 'SELECT id, stage, amount FROM crm.deals ORDER BY created_at DESC LIMIT 20',
      params: () => [],
    },
    {
      name: 'deals_on_day',
      sql: `SELECT count(*) FROM crm.deals WHERE date_trunc('day', created_at) = $1`,
      params: (r) => [new Date(Date.UTC(2023, 6, 1 + (r % 28)))],
    },
    {
      name: 'accounts_without_deals',
      sql: 'SELECT a.id FROM crm.accounts a WHERE a.region = $1 AND NOT EXISTS (SELECT 1 FROM crm.deals d WHERE d.account_id = a.id)',
      params: (r) => [`r${r % 12}`],
    },
    {
      name: 'move_stage',
      sql: 'UPDATE crm.deals SET stage = $1 WHERE id = $2',
      params: (r) => ['won', 1 + ((r * 4391) % 400000)],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON crm.deals (owner_id, stage)',
    'CREATE INDEX ON crm.deals (contact_email)',
    'CREATE INDEX ON crm.deals (phone)',
    'CREATE INDEX ON crm.deals (created_at DESC)',
    // date_trunc on a timestamptz is not immutable: no index serves deals_on_day as written.
    'CREATE INDEX ON crm.deals (account_id)',
  ],
});

export const CORPUS: readonly BenchWorkload[] = [
  helpdesk,
  shop,
  telemetry,
  cms,
  inventory,
  saas,
  queue,
  library,
  crm,
  booking,
  bookingOffice,
  social,
  tickets,
  orm,
  sync,
  logistics,
  iot,
  marketing,
  forum,
  jobs,
  ledger,
  storefront,
  metrics,
  netsec,
  payroll,
  chat,
  realty,
  lms,
  events,
  pharmacy,
  depot,
  salesdw,
  telematics,
];
