import type { BenchWorkload } from './corpus.ts';
import { pick } from './generate.ts';

// ---------------------------------------------------------------------------------------------------------
// pharmacy: the data's generating functions, mirrored here so that the statements' values hit real rows.

const PATIENTS = 50_000;
const DRUGS = 20_000;
const PRESCRIPTIONS = 300_000;
const STORES = 200;
const pad = (n: number, w: number): string => String(n).padStart(w, '0');
/** A patient's phone number, digits only (the table stores it in three formats). */
const phoneDigits = (id: number): string => String(2_125_550_000 + id);
/** A drug's NDC code, 'ddddd-ddd-dd'. */
const ndc = (id: number): string => `${pad(id, 5)}-${pad((id * 37) % 1000, 3)}-${pad(id % 100, 2)}`;
/** The prescription number of the g-th prescription: 'RX' and seven digits, scattered. */
const rxNumber = (g: number): string => `RX${pad((g * 7919) % 10_000_000, 7)}`;

/**
 * A holdout pharmacy system (literal protocol), written blind (without reading the optimizer's code): every
 * table in a mixed-case schema "Pharma"; patients whose phone is stored in three formats and searched through
 * a user-defined IMMUTABLE SQL function ("Pharma".digits(phone) = '...'); prescriptions with a scattered
 * prescription number searched by an anchored regex (~ '^RX00123'), bit flags ((flags & 4) <> 0, 1% of the
 * rows) on the open prescriptions (5%), a window on now() - '2 days'::interval, a recall UPDATE ... FROM drugs
 * by NDC code, a purge DELETE ... USING prescriptions of a patient's old refill requests, a store report GROUP
 * BY ROLLUP, and the INSERT of a new prescription.
 */
export const pharmacy: BenchWorkload = {
  name: 'pharmacy',
  description:
    "a pharmacy (holdout, blind): mixed-case schema \"Pharma\", user-defined IMMUTABLE SQL function in WHERE, anchored regex ~ '^RX..', bit flags (flags & 4) <> 0, now() - '2 days'::interval, UPDATE ... FROM, DELETE ... USING, GROUP BY ROLLUP, INSERT",
  rows: PATIENTS + DRUGS + PRESCRIPTIONS + 80_000,
  async setup(client) {
    await client.query(`
      CREATE SCHEMA "Pharma";
      CREATE FUNCTION "Pharma".digits(p text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT regexp_replace(p, '[^0-9]', '', 'g') $$;
      CREATE TABLE "Pharma".patients (id int PRIMARY KEY, mrn text NOT NULL, full_name text NOT NULL,
        phone text NOT NULL, created_at timestamptz NOT NULL);
      CREATE TABLE "Pharma".drugs (id int PRIMARY KEY, ndc text NOT NULL, name text NOT NULL, schedule int NOT NULL);
      CREATE SEQUENCE "Pharma".prescriptions_id_seq;
      CREATE TABLE "Pharma".prescriptions (id bigint PRIMARY KEY DEFAULT nextval('"Pharma".prescriptions_id_seq'),
        patient_id int NOT NULL REFERENCES "Pharma".patients (id), drug_id int NOT NULL REFERENCES "Pharma".drugs (id),
        store_id int NOT NULL, pharmacist_id int NOT NULL, rx_number text NOT NULL, status smallint NOT NULL,
        flags int NOT NULL, written_at timestamptz NOT NULL, filled_at timestamptz);
      CREATE TABLE "Pharma".refill_requests (id bigserial PRIMARY KEY,
        prescription_id bigint NOT NULL REFERENCES "Pharma".prescriptions (id), requested_at timestamptz NOT NULL,
        channel text NOT NULL);
      INSERT INTO "Pharma".patients
      SELECT g, 'MRN' || lpad(g::text, 7, '0'), 'Patient ' || g,
             CASE g % 3 WHEN 0 THEN '(' || substr(p, 1, 3) || ') ' || substr(p, 4, 3) || '-' || substr(p, 7, 4)
                        WHEN 1 THEN substr(p, 1, 3) || '.' || substr(p, 4, 3) || '.' || substr(p, 7, 4)
                        ELSE substr(p, 1, 3) || '-' || substr(p, 4, 3) || '-' || substr(p, 7, 4) END,
             timestamptz '2020-01-01 00:00:00+00' + g * interval '1 hour'
      FROM generate_series(1, ${PATIENTS}) g, LATERAL (SELECT (2125550000 + g)::text AS p) x;
      INSERT INTO "Pharma".drugs
      SELECT d, lpad(d::text, 5, '0') || '-' || lpad(((d * 37) % 1000)::text, 3, '0') || '-' || lpad((d % 100)::text, 2, '0'),
             'Drug ' || d, d % 6
      FROM generate_series(1, ${DRUGS}) d;
      INSERT INTO "Pharma".prescriptions
      SELECT g, 1 + (g::bigint * 7919) % ${PATIENTS}, 1 + (g::bigint * 104729) % ${DRUGS}, 1 + (g * 31) % ${STORES},
             (((g * 31) % ${STORES}) * 4) + 1 + g % 4, 'RX' || lpad(((g::bigint * 7919) % 10000000)::text, 7, '0'),
             CASE WHEN g % 20 = 0 THEN 1 WHEN g % 53 = 0 THEN 3 ELSE 2 END,
             (CASE WHEN g % 10 = 0 THEN 1 ELSE 0 END) | (CASE WHEN g % 3 = 0 THEN 2 ELSE 0 END)
               | (CASE WHEN g % 97 = 0 THEN 4 ELSE 0 END) | (CASE WHEN g % 50 = 0 THEN 8 ELSE 0 END),
             w, CASE WHEN g % 20 = 0 OR g % 53 = 0 THEN NULL ELSE w + interval '5 hours' END
      FROM generate_series(1, ${PRESCRIPTIONS}) g,
           LATERAL (SELECT now() - ((g::bigint * 104723) % 525600) * interval '1 minute' AS w) x
      ORDER BY g;
      SELECT setval('"Pharma".prescriptions_id_seq', ${PRESCRIPTIONS});
      INSERT INTO "Pharma".refill_requests (prescription_id, requested_at, channel)
      SELECT 1 + (g::bigint * 7717) % ${PRESCRIPTIONS}, now() - (g % 90) * interval '1 day' - (g % 1440) * interval '1 minute',
             (ARRAY['app', 'phone', 'counter'])[1 + g % 3]
      FROM generate_series(1, 80000) g;`);
  },
  statements: [
    {
      name: 'patient_by_phone',
      sql: `SELECT id, full_name, mrn FROM "Pharma".patients WHERE "Pharma".digits(phone) = $1`,
      params: (r) => [phoneDigits(1 + ((r * 7717) % PATIENTS))],
    },
    {
      name: 'rx_lookup',
      sql: `SELECT id, patient_id, drug_id, status FROM "Pharma".prescriptions WHERE rx_number ~ $1`,
      params: (r) => [`^${rxNumber(1 + ((r * 7717) % PRESCRIPTIONS)).slice(0, 7)}`],
    },
    {
      name: 'prior_auth_queue',
      sql: `SELECT id, patient_id, drug_id, written_at FROM "Pharma".prescriptions
            WHERE (flags & 4) <> 0 AND status = 1 ORDER BY written_at LIMIT 50`,
      params: () => [],
    },
    {
      name: 'recent_by_drug',
      sql: `SELECT drug_id, count(*) AS n FROM "Pharma".prescriptions WHERE written_at > now() - $1::interval
            GROUP BY drug_id ORDER BY n DESC, drug_id LIMIT 20`,
      params: (r) => [pick(['2 days', '36 hours', '1 day', '3 days'], r)],
    },
    {
      name: 'recall',
      sql: `UPDATE "Pharma".prescriptions p SET status = 3 FROM "Pharma".drugs d
            WHERE d.id = p.drug_id AND d.ndc = $1 AND p.status = 1`,
      params: (r) => [ndc(1 + ((r * 4391) % DRUGS))],
    },
    {
      name: 'purge_refills',
      sql: `DELETE FROM "Pharma".refill_requests r USING "Pharma".prescriptions p
            WHERE r.prescription_id = p.id AND p.patient_id = $1 AND r.requested_at < now() - interval '30 days'`,
      params: (r) => [1 + ((r * 7717) % PATIENTS)],
    },
    {
      name: 'store_report',
      sql: `SELECT pharmacist_id, status, count(*) FROM "Pharma".prescriptions
            WHERE store_id = $1 AND written_at >= current_date - 30 GROUP BY ROLLUP (pharmacist_id, status)`,
      params: (r) => [1 + ((r * 37) % STORES)],
    },
    {
      name: 'new_rx',
      sql: `INSERT INTO "Pharma".prescriptions (patient_id, drug_id, store_id, pharmacist_id, rx_number, status, flags, written_at)
            VALUES ($1, $2, $3, $4, $5, 1, $6, now())`,
      params: (r) => {
        const store = 1 + (r % STORES);
        return [
          1 + ((r * 131) % PATIENTS),
          1 + ((r * 977) % DRUGS),
          store,
          (store - 1) * 4 + 1 + (r % 4),
          `RN${pad(r, 7)}`,
          r % 5 === 0 ? 2 : 0,
        ];
      },
    },
  ],
  handIndexes: [
    // The function is IMMUTABLE SQL: an expression index on the call serves the lookup.
    'CREATE INDEX ON "Pharma".patients ("Pharma".digits(phone))',
    // An anchored regex uses a btree only through the pattern opclass (unless the collation is C).
    'CREATE INDEX ON "Pharma".prescriptions (rx_number text_pattern_ops)',
    // The prior-authorization queue: 150 rows, read in order.
    'CREATE INDEX ON "Pharma".prescriptions (written_at) WHERE (flags & 4) <> 0 AND status = 1',
    'CREATE INDEX ON "Pharma".prescriptions (written_at) INCLUDE (drug_id)',
    // The recall: the drug by its code, then its open prescriptions.
    'CREATE INDEX ON "Pharma".drugs (ndc)',
    'CREATE INDEX ON "Pharma".prescriptions (drug_id) WHERE status = 1',
    // The purge: a patient's prescriptions, then their refill requests (the foreign key's index).
    'CREATE INDEX ON "Pharma".prescriptions (patient_id)',
    'CREATE INDEX ON "Pharma".refill_requests (prescription_id)',
    'CREATE INDEX ON "Pharma".prescriptions (store_id, written_at) INCLUDE (pharmacist_id, status)',
  ],
};

// ---------------------------------------------------------------------------------------------------------
// depot: the data's generating functions, mirrored here.

const VEHICLES = 50_000;
const PARTS = 30_000;
const SITES = 5;
const MECHANICS = 500;
const WORK_ORDERS = 250_000;
const FAULTS = 120_000;
const vin = (id: number): string => `WVW${pad((id * 7919) % 100_000_000_000_000, 14)}`;
const sku = (part: number): string => `P${pad((part * 7919) % 100_000, 5)}`;

/**
 * A holdout fleet-maintenance depot (extended protocol), written blind: vehicles whose VIN is a DOMAIN over
 * text, locked by it (SELECT ... FOR UPDATE by a natural key); per-site stock kept by a MERGE on (sku,
 * site_id) with no unique key declared; a MATERIALIZED VIEW of monthly costs per vehicle that the app reads;
 * a mechanic's recent work orders in a CTE AS MATERIALIZED joined back to vehicles; the orphan check of
 * faults with no work order (work_order_id IS NULL, 1.5%); a high-ingest GPS ping table (an INSERT per
 * round) read only for a vehicle's last ping, where the DBA keeps a single index; and an UPDATE assigning a
 * fault to a work order.
 */
export const depot: BenchWorkload = {
  name: 'depot',
  description:
    'fleet maintenance (holdout, blind, extended protocol): DOMAIN column + SELECT ... FOR UPDATE by natural key, MERGE on (sku, site), index on a MATERIALIZED VIEW, CTE AS MATERIALIZED, orphan fk IS NULL, high-ingest append table, INSERT, UPDATE',
  rows: VEHICLES + PARTS * SITES + WORK_ORDERS + FAULTS + 200_000,
  protocol: 'extended',
  async setup(client) {
    await client.query(`
      CREATE SCHEMA depot;
      CREATE DOMAIN depot.vin AS text CHECK (VALUE ~ '^[A-HJ-NPR-Z0-9]{17}$');
      CREATE TABLE depot.vehicles (id int PRIMARY KEY, vin depot.vin NOT NULL, depot_id int NOT NULL,
        model text NOT NULL, odometer int NOT NULL, locked_by text);
      CREATE TABLE depot.stock (id bigserial PRIMARY KEY, sku text NOT NULL, site_id int NOT NULL, qty int NOT NULL,
        updated_at timestamptz NOT NULL);
      CREATE TABLE depot.work_orders (id bigserial PRIMARY KEY, vehicle_id int NOT NULL REFERENCES depot.vehicles (id),
        mechanic_id int NOT NULL, kind text NOT NULL, part_sku text, cost numeric(10, 2) NOT NULL,
        opened_at timestamptz NOT NULL, done_at timestamptz);
      CREATE TABLE depot.faults (id bigserial PRIMARY KEY, vehicle_id int NOT NULL REFERENCES depot.vehicles (id),
        code text NOT NULL, reported_at timestamptz NOT NULL, work_order_id bigint REFERENCES depot.work_orders (id));
      CREATE TABLE depot.gps_pings (vehicle_id int NOT NULL, recorded_at timestamptz NOT NULL, lat double precision NOT NULL,
        lon double precision NOT NULL, speed real NOT NULL);
      INSERT INTO depot.vehicles
      SELECT g, 'WVW' || lpad(((g::bigint * 7919) % 100000000000000)::text, 14, '0'), 1 + g % 40,
             (ARRAY['van', 'truck', 'bus', 'car'])[1 + g % 4], (g * 37) % 400000, NULL
      FROM generate_series(1, ${VEHICLES}) g;
      INSERT INTO depot.stock (sku, site_id, qty, updated_at)
      SELECT 'P' || lpad(((((g - 1) / ${SITES})::bigint * 7919) % 100000)::text, 5, '0'), 1 + (g - 1) % ${SITES},
             g % 200, timestamptz '2026-01-01 00:00:00+00' + (g % 1000) * interval '1 hour'
      FROM generate_series(1, ${PARTS * SITES}) g
      ORDER BY (g::bigint * 104729) % ${PARTS * SITES};
      INSERT INTO depot.work_orders (vehicle_id, mechanic_id, kind, part_sku, cost, opened_at, done_at)
      SELECT 1 + (g::bigint * 104729) % ${VEHICLES}, 1 + (g * 7) % ${MECHANICS},
             (ARRAY['service', 'repair', 'tyres', 'inspection'])[1 + g % 4],
             CASE WHEN g % 3 = 0 THEN NULL ELSE 'P' || lpad((((g::bigint * 31) % ${PARTS}) * 7919 % 100000)::text, 5, '0') END,
             20 + (g * 7919) % 2000 + (g % 100) / 100.0, o, o + interval '6 hours'
      FROM generate_series(1, ${WORK_ORDERS}) g,
           LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00' + g * interval '4 minutes' AS o) x;
      INSERT INTO depot.faults (vehicle_id, code, reported_at, work_order_id)
      SELECT 1 + (g::bigint * 7919) % ${VEHICLES}, 'F' || (g % 300),
             timestamptz '2025-01-01 00:00:00+00' + g * interval '8 minutes',
             CASE WHEN g % 67 = 0 THEN NULL ELSE 1 + (g::bigint * 7717) % ${WORK_ORDERS} END
      FROM generate_series(1, ${FAULTS}) g;
      INSERT INTO depot.gps_pings
      SELECT 1 + (g::bigint * 7919) % ${VEHICLES}, timestamptz '2026-10-01 00:00:00+00' + g * interval '10 seconds',
             48 + (g % 1000) / 1000.0, 11 + (g % 777) / 777.0, (g % 130)::real
      FROM generate_series(1, 200000) g;
      CREATE MATERIALIZED VIEW depot.vehicle_monthly AS
      SELECT vehicle_id, date_trunc('month', opened_at, 'UTC') AS month, count(*) AS orders, sum(cost) AS cost
      FROM depot.work_orders GROUP BY 1, 2;`);
  },
  statements: [
    {
      name: 'vehicle_lock',
      sql: 'SELECT id, odometer, locked_by FROM depot.vehicles WHERE vin = $1 FOR UPDATE',
      params: (r) => [vin(1 + ((r * 7717) % VEHICLES))],
    },
    {
      name: 'stock_merge',
      sql: `MERGE INTO depot.stock s
            USING (SELECT $1::text AS sku, $2::int AS site_id, $3::int AS delta) v
            ON s.sku = v.sku AND s.site_id = v.site_id
            WHEN MATCHED THEN UPDATE SET qty = s.qty + v.delta, updated_at = now()
            WHEN NOT MATCHED THEN INSERT (sku, site_id, qty, updated_at) VALUES (v.sku, v.site_id, v.delta, now())`,
      params: (r) =>
        r % 10 === 0
          ? [`Q${pad(r, 5)}`, 1 + (r % SITES), 5]
          : [sku((r * 131) % PARTS), 1 + (r % SITES), r % 2 === 0 ? -1 : 3],
    },
    {
      name: 'vehicle_history',
      sql: `SELECT month, orders, cost FROM depot.vehicle_monthly WHERE vehicle_id = $1 ORDER BY month DESC LIMIT 12`,
      params: (r) => [1 + ((r * 4391) % VEHICLES)],
    },
    {
      name: 'mechanic_top',
      sql: `WITH recent AS MATERIALIZED (
              SELECT id, vehicle_id, cost FROM depot.work_orders WHERE mechanic_id = $1 AND opened_at >= $2)
            SELECT r.id, v.vin, r.cost FROM recent r JOIN depot.vehicles v ON v.id = r.vehicle_id
            ORDER BY r.cost DESC LIMIT 10`,
      params: (r) => [1 + ((r * 37) % MECHANICS), pick(['2026-04-01', '2026-05-15', '2026-03-01'], r)],
    },
    {
      name: 'unassigned_faults',
      sql: `SELECT id, vehicle_id, code, reported_at FROM depot.faults
            WHERE work_order_id IS NULL AND reported_at >= $1 ORDER BY reported_at LIMIT 50`,
      params: (r) => [pick(['2025-03-01', '2025-09-01', '2026-01-01', '2025-06-01'], r)],
    },
    {
      name: 'last_ping',
      sql: `SELECT recorded_at, lat, lon, speed FROM depot.gps_pings WHERE vehicle_id = $1
            ORDER BY recorded_at DESC LIMIT 1`,
      params: (r) => [1 + ((r * 131) % VEHICLES)],
    },
    {
      name: 'ping',
      sql: 'INSERT INTO depot.gps_pings (vehicle_id, recorded_at, lat, lon, speed) VALUES ($1, now(), $2, $3, $4)',
      params: (r) => [1 + ((r * 7) % VEHICLES), 48 + (r % 100) / 100, 11 + (r % 77) / 77, r % 120],
    },
    {
      name: 'assign_fault',
      sql: 'UPDATE depot.faults SET work_order_id = $1 WHERE id = $2',
      params: (r) => [1 + ((r * 97) % WORK_ORDERS), 1 + ((r * 4391) % FAULTS)],
    },
  ],
  handIndexes: [
    // The natural key (unique in reality; a plain index keeps the bench's writes unconstrained).
    'CREATE INDEX ON depot.vehicles (vin)',
    // MERGE's join condition: one row per (sku, site).
    'CREATE INDEX ON depot.stock (sku, site_id)',
    // The app reads the materialized view by vehicle, newest month first.
    'CREATE INDEX ON depot.vehicle_monthly (vehicle_id, month DESC)',
    // The materialized CTE: a mechanic's work orders in a window, the join's key and the cost from the index.
    'CREATE INDEX ON depot.work_orders (mechanic_id, opened_at) INCLUDE (vehicle_id, cost)',
    // The orphan check: faults with no work order, oldest first.
    'CREATE INDEX ON depot.faults (reported_at) WHERE work_order_id IS NULL',
    // The append table: one index only, for the last ping of a vehicle.
    'CREATE INDEX ON depot.gps_pings (vehicle_id, recorded_at DESC)',
  ],
};
