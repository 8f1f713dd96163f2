import { createHash } from 'node:crypto';
import type { BenchWorkload } from './corpus.ts';
import { addDays, pick } from './generate.ts';

// ---------------------------------------------------------------------------------------------------------
// salesdw: the data's generating functions, mirrored here so that the statements' values hit real rows.

const FIRST_NAMES = [
  'Ada',
  'Bo',
  'Cleo',
  'Dan',
  'Eva',
  'Finn',
  'Gus',
  'Hana',
  'Ivo',
  'Jill',
  'Kai',
  'Lena',
] as const;
const LAST_NAMES = [
  'Adler',
  'Berg',
  'Costa',
  'Dahl',
  'Eriksen',
  'Ferro',
  'Gallo',
  'Holm',
  'Ito',
  'Jovanovic',
  'Keller',
  'Lind',
  'Marsh',
  'Nagy',
  'Ortiz',
  'Park',
] as const;
const sqlArray = (xs: readonly string[]): string => `ARRAY[${xs.map((x) => `'${x}'`).join(', ')}]`;

const DW_SALES = 400_000;
const DW_STORES = 300;
const DW_PRODUCTS = 8_000;
const DW_CUSTOMERS = 60_000;
const DW_CATEGORIES = 40;
const REGIONS = ['north', 'south', 'east', 'west', 'central', 'coast', 'alps', 'islands'] as const;
const SEGMENTS = ['consumer', 'smb', 'enterprise', 'gov', 'edu'] as const;

/**
 * A holdout sales data mart (literal protocol), written blind (before reading the optimizer's code): a star
 * schema with a 400,000-row sales fact table and four dimensions (dates keyed yyyymmdd, 300 stores in eight
 * regions, 8,000 products in 40 categories and 400 brands, 60,000 customers in five skewed segments with a
 * nickname that is NULL for 70%). Products are bought on a squared distribution (low ids popular); 95% of
 * the sales are completed, 4% returned, 1% pending; amounts are spread over 0.01 to 2,000.00. Shapes: a star
 * join filtered on three dimensions' attributes GROUP BY brand; an index-only count by status of one store;
 * a numeric BETWEEN on the money column ORDER BY amount LIMIT; a segment's directory ORDER BY
 * coalesce(nickname, first_name), last_name LIMIT; NOT IN (subquery) for products a store never sold; a
 * correlated scalar subquery (max(sold_at)) in the SELECT list; a sale INSERT and a return UPDATE.
 */
export const salesdw: BenchWorkload = {
  name: 'salesdw',
  description:
    'a sales data mart (holdout): star join on three dimension filters GROUP BY, index-only count by status, numeric BETWEEN on a money column, ORDER BY coalesce() LIMIT, NOT IN (subquery), correlated scalar subquery in SELECT, INSERT, status UPDATE',
  rows: 470_000,
  async setup(client) {
    await client.query(`
      CREATE SCHEMA dw;
      CREATE TABLE dw.dates (id int PRIMARY KEY, day date NOT NULL, year int NOT NULL, quarter int NOT NULL,
        month int NOT NULL, dow int NOT NULL);
      CREATE TABLE dw.stores (id int PRIMARY KEY, name text NOT NULL, region text NOT NULL, city text NOT NULL,
        format text NOT NULL);
      CREATE TABLE dw.products (id int PRIMARY KEY, name text NOT NULL, category text NOT NULL, brand text NOT NULL,
        list_price numeric(10, 2) NOT NULL);
      CREATE TABLE dw.customers (id int PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL,
        nickname text, segment text NOT NULL, city text NOT NULL, created_at timestamptz NOT NULL);
      CREATE TABLE dw.sales (id bigserial PRIMARY KEY, date_id int NOT NULL REFERENCES dw.dates (id),
        store_id int NOT NULL REFERENCES dw.stores (id), product_id int NOT NULL REFERENCES dw.products (id),
        customer_id int NOT NULL REFERENCES dw.customers (id), quantity int NOT NULL, amount numeric(12, 2) NOT NULL,
        status text NOT NULL, sold_at timestamptz NOT NULL);
      INSERT INTO dw.dates
      SELECT to_char(d, 'YYYYMMDD')::int, d, extract(year FROM d)::int, extract(quarter FROM d)::int,
             extract(month FROM d)::int, extract(isodow FROM d)::int
      FROM generate_series(date '2023-01-01', date '2026-12-31', interval '1 day') d;
      INSERT INTO dw.stores
      SELECT s, 'Store ' || s, (${sqlArray(REGIONS)})[1 + s % ${REGIONS.length}], 'city-' || (s % 120),
             (ARRAY['mall', 'street', 'outlet'])[1 + s % 3]
      FROM generate_series(1, ${DW_STORES}) s;
      INSERT INTO dw.products
      SELECT p, 'Product ' || p, 'cat-' || (p % ${DW_CATEGORIES}), 'brand-' || ((p * 7) % 400),
             round((1 + (p * 7919) % 50000) / 100.0, 2)
      FROM generate_series(1, ${DW_PRODUCTS}) p;
      INSERT INTO dw.customers
      SELECT g, (${sqlArray(FIRST_NAMES)})[1 + g % ${FIRST_NAMES.length}],
             (${sqlArray(LAST_NAMES)})[1 + (g * 7) % ${LAST_NAMES.length}],
             CASE WHEN g % 10 < 3 THEN 'nick' || (g * 31) % 5000 END,
             CASE WHEN h < 60 THEN 'consumer' WHEN h < 85 THEN 'smb' WHEN h < 95 THEN 'enterprise'
                  WHEN h < 99 THEN 'gov' ELSE 'edu' END,
             'city-' || (g % 2000), timestamptz '2020-01-01 00:00:00+00' + g * interval '37 minutes'
      FROM generate_series(1, ${DW_CUSTOMERS}) g, LATERAL (SELECT (g::bigint * 7919) % 100 AS h) x;
      INSERT INTO dw.sales (date_id, store_id, product_id, customer_id, quantity, amount, status, sold_at)
      SELECT to_char(d, 'YYYYMMDD')::int, 1 + (g::bigint * 104729) % ${DW_STORES},
             1 + floor(${DW_PRODUCTS - 1} * power(((g::bigint * 15485863) % 10007) / 10007.0, 2))::int,
             1 + (g::bigint * 48611) % ${DW_CUSTOMERS}, 1 + g % 5,
             round((1 + (g::bigint * 7907) % 199999) / 100.0, 2),
             CASE WHEN g % 100 < 95 THEN 'completed' WHEN g % 100 < 99 THEN 'returned' ELSE 'pending' END,
             (d::timestamp AT TIME ZONE 'UTC') + (g % 86400) * interval '1 second'
      FROM generate_series(1, ${DW_SALES}) g,
           LATERAL (SELECT date '2023-01-01' + ((g::bigint * 7919) % 1461)::int AS d) x
      ORDER BY 8;`);
  },
  statements: [
    {
      name: 'brand_sales',
      sql: `SELECT p.brand, sum(f.amount) AS revenue, count(*) AS sales
            FROM dw.sales f
            JOIN dw.products p ON p.id = f.product_id
            JOIN dw.stores s ON s.id = f.store_id
            JOIN dw.dates d ON d.id = f.date_id
            WHERE p.category = $1 AND s.region = $2 AND d.year = $3 AND d.quarter = $4
            GROUP BY p.brand ORDER BY revenue DESC`,
      params: (r) => [`cat-${(r * 7) % DW_CATEGORIES}`, pick(REGIONS, r), 2023 + (r % 4), 1 + ((r * 3) % 4)],
    },
    {
      name: 'store_status_counts',
      sql: 'SELECT status, count(*) FROM dw.sales WHERE store_id = $1 GROUP BY status',
      params: (r) => [1 + ((r * 37) % DW_STORES)],
    },
    {
      name: 'amount_band',
      sql: `SELECT id, sold_at, amount, store_id FROM dw.sales WHERE amount BETWEEN $1 AND $2
            ORDER BY amount LIMIT 100`,
      params: (r) => {
        const lo = 5 + ((r * 7919) % 190_000) / 100;
        return [lo.toFixed(2), (lo + 0.4).toFixed(2)];
      },
    },
    {
      name: 'segment_directory',
      sql: `SELECT id, first_name, last_name, nickname FROM dw.customers WHERE segment = $1
            ORDER BY coalesce(nickname, first_name), last_name LIMIT 25`,
      params: (r) => [pick(SEGMENTS, r)],
    },
    {
      name: 'unsold_products',
      sql: `SELECT p.id, p.name FROM dw.products p
            WHERE p.category = $1 AND p.id NOT IN (SELECT f.product_id FROM dw.sales f WHERE f.store_id = $2)`,
      params: (r) => [`cat-${(r * 11) % DW_CATEGORIES}`, 1 + ((r * 53) % DW_STORES)],
    },
    {
      name: 'last_purchase',
      sql: `SELECT c.id, c.first_name, c.last_name,
                   (SELECT max(f.sold_at) FROM dw.sales f WHERE f.customer_id = c.id) AS last_purchase
            FROM dw.customers c WHERE c.segment = $1 AND c.id BETWEEN $2 AND $3`,
      params: (r) => {
        const lo = 1 + ((r * 7717) % (DW_CUSTOMERS - 100));
        return [pick(['consumer', 'smb'], r), lo, lo + 40];
      },
    },
    {
      name: 'record_sale',
      sql: `INSERT INTO dw.sales (date_id, store_id, product_id, customer_id, quantity, amount, status, sold_at)
            VALUES ($1, $2, $3, $4, $5, $6, 'pending', now())`,
      params: (r) => [
        20261201 + (r % 28),
        1 + (r % DW_STORES),
        1 + ((r * 13) % DW_PRODUCTS),
        1 + ((r * 17) % DW_CUSTOMERS),
        1 + (r % 3),
        (10 + (r % 500)).toFixed(2),
      ],
    },
    {
      name: 'mark_returned',
      sql: `UPDATE dw.sales SET status = 'returned' WHERE id = $1`,
      params: (r) => [1 + ((r * 104729) % DW_SALES)],
    },
  ],
  handIndexes: [
    // The star join: a category's products (about 200), then their sales with the other keys and the amount
    // from the index alone; the dimension filters on stores and dates are cheap hash joins.
    'CREATE INDEX ON dw.products (category)',
    'CREATE INDEX ON dw.sales (product_id) INCLUDE (store_id, date_id, amount)',
    // One store's sales by status, counted from the index alone; the NOT IN subquery's product ids too.
    'CREATE INDEX ON dw.sales (store_id, status, product_id)',
    'CREATE INDEX ON dw.sales (amount)',
    'CREATE INDEX ON dw.customers (segment, (coalesce(nickname, first_name)), last_name)',
    // The correlated max(sold_at) per customer: one descent per row.
    'CREATE INDEX ON dw.sales (customer_id, sold_at)',
  ],
};

// ---------------------------------------------------------------------------------------------------------
// telematics

const md5uuid = (s: string): string => {
  const h = createHash('md5').update(s).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const TM_VEHICLES = 20_000;
const TM_DRIVERS = 50_000;
const TM_POSITIONS = 600_000;
/** Positions are 8.64 seconds apart, starting here: 600,000 of them cover 60 days. */
const TM_START = new Date('2026-09-01T00:00:00Z');
const vehicleId = (v: number): string => md5uuid(`veh-${v}`);
const plateOf = (v: number): string =>
  `${String.fromCharCode(65 + (v % 26))}${String.fromCharCode(65 + ((v * 7) % 26))}-${1000 + ((v * 7919) % 9000)}`;
const TM_FIRST = ['Alex', 'Britt', 'Carl', 'Dora', 'Emil', 'Frida', 'Gert', 'Hilde', 'Ingo', 'Jana'] as const;
const TM_LAST = [
  'Bauer',
  'Dietrich',
  'Engel',
  'Frank',
  'Graf',
  'Haas',
  'Jung',
  'Kraft',
  'Lorenz',
  'Maurer',
  'Otto',
  'Pohl',
  'Roth',
  'Sauer',
  'Thiel',
  'Vogt',
  'Winkler',
  'Ziegler',
  'Arnold',
  'Busch',
] as const;
/** Driver d's name (first and last are independent, so a full name matches about 250 drivers). */
const driverFirst = (d: number): string => pick(TM_FIRST, d);
const driverLast = (d: number): string => pick(TM_LAST, (d * 7) % 97);
/** A license number is reused by a retired driver: only the active drivers' numbers are unique. */
const licenseOf = (d: number): string => `L${String(d % 40_000).padStart(6, '0')}`;

/**
 * A holdout fleet-telematics service (extended protocol, bind parameters), written blind (before reading the
 * optimizer's code): vehicles keyed by random uuids (a status column that is 'active' for 99%, the other
 * three states sharing 1%), 600,000 GPS positions appended over 60 days (about 30 per vehicle, uuid foreign
 * key), drivers whose license numbers are unique among the active ones only (retired drivers keep a reused
 * number), and a per-vehicle counter row updated on every trip. Shapes: the latest position of a vehicle
 * (ORDER BY recorded_at DESC LIMIT 1); date_bin time buckets over a three-hour window of the append table;
 * the rare statuses of the skewed column; a name search on lower(first) || ' ' || lower(last); plate
 * ILIKE ANY($1::text[]) infix patterns; license lookup among the active drivers; the hot counter
 * UPDATE SET trips = trips + 1 (HOT-friendly only if its columns stay unindexed); the position INSERT.
 */
export const telematics: BenchWorkload = {
  name: 'telematics',
  description:
    'fleet telematics (holdout, extended protocol): uuid keys, latest row per key ORDER BY DESC LIMIT 1, date_bin buckets over a recent window, a 99%-skewed status, lower(a) || lower(b) search, ILIKE ANY($1::text[]), partial-unique lookup, hot counter UPDATE n = n + 1, append INSERT',
  rows: 690_000,
  protocol: 'extended',
  async setup(client) {
    await client.query(`
      CREATE EXTENSION IF NOT EXISTS pg_trgm;
      CREATE SCHEMA telem;
      CREATE TABLE telem.vehicles (id uuid PRIMARY KEY, plate text NOT NULL, make text NOT NULL, model text NOT NULL,
        status text NOT NULL, registered_at timestamptz NOT NULL);
      CREATE TABLE telem.drivers (id int PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL,
        license_no text NOT NULL, active boolean NOT NULL, hired_at date NOT NULL);
      CREATE TABLE telem.positions (id bigserial PRIMARY KEY, vehicle_id uuid NOT NULL REFERENCES telem.vehicles (id),
        recorded_at timestamptz NOT NULL, lat double precision NOT NULL, lon double precision NOT NULL,
        speed real NOT NULL, fuel real NOT NULL);
      CREATE TABLE telem.vehicle_stats (vehicle_id uuid PRIMARY KEY REFERENCES telem.vehicles (id),
        trips int NOT NULL, km numeric(12, 1) NOT NULL, last_seen_at timestamptz NOT NULL);
      INSERT INTO telem.vehicles
      SELECT md5('veh-' || v)::uuid,
             chr(65 + v % 26) || chr(65 + (v * 7) % 26) || '-' || (1000 + (v::bigint * 7919) % 9000),
             (ARRAY['Volvo', 'Scania', 'MAN', 'Iveco', 'DAF', 'Ford'])[1 + v % 6], 'M' || (v % 40),
             CASE WHEN h < 990 THEN 'active' WHEN h < 996 THEN 'maintenance' WHEN h < 999 THEN 'retired' ELSE 'stolen' END,
             timestamptz '2018-01-01 00:00:00+00' + v * interval '3 hours'
      FROM generate_series(1, ${TM_VEHICLES}) v, LATERAL (SELECT (v::bigint * 104729) % 1000 AS h) x
      ORDER BY 1;
      INSERT INTO telem.drivers
      SELECT d, (${sqlArray(TM_FIRST)})[1 + d % ${TM_FIRST.length}], (${sqlArray(TM_LAST)})[1 + ((d * 7) % 97) % ${TM_LAST.length}],
             'L' || lpad((d % 40000)::text, 6, '0'), d > 10000, date '2010-01-01' + d % 5000
      FROM generate_series(1, ${TM_DRIVERS}) d;
      INSERT INTO telem.positions (vehicle_id, recorded_at, lat, lon, speed, fuel)
      SELECT md5('veh-' || (1 + (g::bigint * 104729) % ${TM_VEHICLES}))::uuid,
             timestamptz '2026-09-01 00:00:00+00' + g * interval '8.64 seconds',
             47 + ((g * 31) % 1000) / 1000.0, 8 + ((g * 17) % 1000) / 1000.0, (g * 13) % 130, 5 + (g % 95)
      FROM generate_series(1, ${TM_POSITIONS}) g;
      INSERT INTO telem.vehicle_stats
      SELECT md5('veh-' || v)::uuid, v % 500, (v % 9000) * 10.5, timestamptz '2026-10-30 00:00:00+00'
      FROM generate_series(1, ${TM_VEHICLES}) v;`);
  },
  statements: [
    {
      name: 'latest_position',
      sql: `SELECT recorded_at, lat, lon, speed FROM telem.positions WHERE vehicle_id = $1
            ORDER BY recorded_at DESC LIMIT 1`,
      params: (r) => [vehicleId(1 + ((r * 7717) % TM_VEHICLES))],
    },
    {
      name: 'speed_buckets',
      sql: `SELECT date_bin('15 minutes', recorded_at, timestamptz '2026-01-01 00:00:00+00') AS bucket,
                   count(*) AS samples, avg(speed) AS avg_speed
            FROM telem.positions WHERE recorded_at >= $1 AND recorded_at < $2
            GROUP BY bucket ORDER BY bucket`,
      params: (r) => {
        const from = new Date(addDays(TM_START, 50 + (r % 9)).getTime() + (r % 24) * 3600_000);
        return [from.toISOString(), new Date(from.getTime() + 3 * 3600_000).toISOString()];
      },
    },
    {
      name: 'flagged_vehicles',
      sql: 'SELECT id, plate, make, model FROM telem.vehicles WHERE status = $1 ORDER BY plate',
      params: (r) => [pick(['stolen', 'retired', 'maintenance'], r)],
    },
    {
      name: 'driver_by_name',
      sql: `SELECT id, license_no, active FROM telem.drivers
            WHERE lower(first_name) || ' ' || lower(last_name) = $1`,
      params: (r) => {
        const d = 1 + ((r * 104729) % TM_DRIVERS);
        return [`${driverFirst(d).toLowerCase()} ${driverLast(d).toLowerCase()}`];
      },
    },
    {
      name: 'plate_search',
      sql: 'SELECT id, plate, status FROM telem.vehicles WHERE plate ILIKE ANY($1::text[])',
      params: (r) => {
        const a = plateOf(1 + ((r * 7919) % TM_VEHICLES));
        const b = plateOf(1 + ((r * 104729) % TM_VEHICLES));
        return [[`%${a.slice(1, 6).toLowerCase()}%`, `%${b.slice(3)}%`]];
      },
    },
    {
      name: 'license_lookup',
      sql: 'SELECT id, first_name, last_name FROM telem.drivers WHERE license_no = $1 AND active',
      params: (r) => [licenseOf(10_001 + ((r * 7717) % (TM_DRIVERS - 10_000)))],
    },
    {
      name: 'bump_trips',
      sql: `UPDATE telem.vehicle_stats SET trips = trips + 1, km = km + $2, last_seen_at = now()
            WHERE vehicle_id = $1`,
      params: (r) => [vehicleId(1 + ((r * 31) % TM_VEHICLES)), (r % 200) / 10],
    },
    {
      name: 'record_position',
      sql: `INSERT INTO telem.positions (vehicle_id, recorded_at, lat, lon, speed, fuel)
            VALUES ($1, now(), $2, $3, $4, $5)`,
      params: (r) => [vehicleId(1 + ((r * 13) % TM_VEHICLES)), 47.5, 8.5, r % 120, 50],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON telem.positions (vehicle_id, recorded_at DESC)',
    // The buckets over a recent window: the window's rows and the speed from the index alone.
    'CREATE INDEX ON telem.positions (recorded_at) INCLUDE (speed)',
    // Only the rare statuses are ever asked for: a partial index leaves the 99% out.
    `CREATE INDEX ON telem.vehicles (status) WHERE status <> 'active'`,
    `CREATE INDEX ON telem.drivers ((lower(first_name) || ' ' || lower(last_name)))`,
    'CREATE INDEX ON telem.vehicles USING gin (plate gin_trgm_ops)',
    'CREATE UNIQUE INDEX ON telem.drivers (license_no) WHERE active',
    // Nothing on vehicle_stats: trips, km and last_seen_at stay unindexed so that bump_trips stays HOT.
  ],
};
