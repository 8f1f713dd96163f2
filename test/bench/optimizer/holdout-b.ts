import { createHash } from 'node:crypto';
import type { BenchWorkload } from './corpus.ts';
import { pick } from './generate.ts';

/**
 * Two more holdout applications for the optimizer benchmark, written after the optimizer and not
 * designed around what it handles: a logistics / ERP app (three-table joins, EXISTS and LEFT JOIN ... IS
 * NULL anti-joins, count(DISTINCT), ORDER BY ... NULLS LAST, a numeric range, a text[] tag filter, a
 * jsonb key IN list, an UPDATE by a secondary key) and an IoT app on a declaratively partitioned readings
 * table (weekly range partitions; latest reading per device, windows relative to now(), date_bin and
 * date_trunc on a timestamp without time zone, a case-insensitive serial lookup, ingest).
 */

/** A workload whose schema and data come from one SQL script (as corpus.ts's). */
function fromScript(w: Omit<BenchWorkload, 'setup'> & { script: string }): BenchWorkload {
  const { script, ...rest } = w;
  return {
    ...rest,
    async setup(client) {
      await client.query(script);
    },
  };
}

const SHIPMENTS = 200_000;

/** Tracking number of shipment n, as the load script writes it. */
const trackingNo = (n: number) => `1Z${String((n * 104729) % 10_000_019).padStart(8, '0')}`;

export const logistics = fromScript({
  name: 'logistics',
  description:
    'logistics / ERP (holdout): shipments, items, warehouses, carriers; joins, anti-joins, NULLS LAST, tags, jsonb IN list',
  rows: 200 + 40 + SHIPMENTS + 296_908,
  script: `
      CREATE SCHEMA logistics;
      CREATE TABLE logistics.warehouses (id int PRIMARY KEY, code text NOT NULL, region text NOT NULL, name text NOT NULL);
      CREATE TABLE logistics.carriers (id int PRIMARY KEY, name text NOT NULL, scac text NOT NULL);
      CREATE TABLE logistics.shipments (
        id bigserial PRIMARY KEY,
        warehouse_id int NOT NULL REFERENCES logistics.warehouses (id),
        carrier_id int NOT NULL REFERENCES logistics.carriers (id),
        tracking_no text NOT NULL, customer_ref text NOT NULL, status text NOT NULL,
        weight_kg numeric(10, 2) NOT NULL, created_at timestamptz NOT NULL, promised_at timestamptz,
        delivered_at timestamptz, tags text[] NOT NULL DEFAULT '{}', attrs jsonb NOT NULL DEFAULT '{}');
      CREATE TABLE logistics.shipment_items (
        id bigserial PRIMARY KEY,
        shipment_id bigint NOT NULL REFERENCES logistics.shipments (id) ON DELETE CASCADE,
        sku text NOT NULL, qty int NOT NULL, unit_price numeric(10, 2) NOT NULL);
      INSERT INTO logistics.warehouses
      SELECT g, 'WH-' || lpad(g::text, 3, '0'), 'region-' || (g % 9), 'Warehouse ' || g FROM generate_series(1, 200) g;
      INSERT INTO logistics.carriers
      SELECT g, 'Carrier ' || g, 'SC' || lpad(g::text, 2, '0') FROM generate_series(1, 40) g;
      INSERT INTO logistics.shipments (warehouse_id, carrier_id, tracking_no, customer_ref, status, weight_kg,
        created_at, promised_at, delivered_at, tags, attrs)
      SELECT 1 + (g::bigint * 7919) % 200, 1 + (g::bigint * 31) % 40,
        '1Z' || lpad(((g::bigint * 104729) % 10000019)::text, 8, '0'),
        'CUST-' || ((g::bigint * 6007) % 20000),
        CASE WHEN g % 33 = 0 THEN 'ready' WHEN g % 10 = 1 THEN 'in_transit' WHEN g % 50 = 7 THEN 'exception'
             ELSE 'delivered' END,
        ((g::bigint * 7919) % 100000) / 100.0,
        timestamptz '2025-01-01' + g * interval '2 minutes',
        CASE WHEN g % 7 = 0 THEN NULL ELSE timestamptz '2025-01-04' + g * interval '2 minutes' END,
        CASE WHEN g % 33 = 0 OR g % 10 = 1 OR g % 50 = 7 THEN NULL
             ELSE timestamptz '2025-01-03' + g * interval '2 minutes' + (g % 48) * interval '1 hour' END,
        ARRAY['zone-' || (g % 30)]
          || CASE WHEN g % 400 = 0 THEN ARRAY['hazmat'] WHEN g % 450 = 1 THEN ARRAY['fragile', 'oversize']
                  ELSE ARRAY[]::text[] END,
        jsonb_build_object('incoterm', (ARRAY['DAP', 'DDP', 'EXW', 'FCA'])[1 + g % 4],
          'customs', CASE WHEN g % 500 = 0 THEN 'held' WHEN g % 700 = 3 THEN 'inspection' ELSE 'cleared' END,
          'insured', g % 3 = 0)
      FROM generate_series(1, ${SHIPMENTS}) g;
      -- One or two lines per shipment; every 97th shipment has none yet (a picking error to find).
      INSERT INTO logistics.shipment_items (shipment_id, sku, qty, unit_price)
      SELECT s, 'SKU-' || lpad(((s * 31 + k * 7717) % 20000)::text, 5, '0'), 1 + (s + k) % 12,
        ((s * k) % 5000) / 10.0 + 1
      FROM generate_series(1, ${SHIPMENTS}) s, generate_series(1, 1 + s % 2) k
      WHERE s % 97 <> 0;`,
  statements: [
    {
      // Three tables, count(DISTINCT): which carriers moved a SKU, and in how many shipments.
      name: 'carriers_for_sku',
      sql: `SELECT c.name, count(DISTINCT s.id) AS shipments, sum(i.qty) AS units
            FROM logistics.shipment_items i
            JOIN logistics.shipments s ON s.id = i.shipment_id
            JOIN logistics.carriers c ON c.id = s.carrier_id
            WHERE i.sku = $1
            GROUP BY c.name`,
      params: (r) => [`SKU-${String((r * 1709) % 20000).padStart(5, '0')}`],
    },
    {
      // A carrier's latest deliveries first, shipments not yet delivered at the end.
      name: 'carrier_deliveries',
      sql: `SELECT id, tracking_no, delivered_at FROM logistics.shipments
            WHERE carrier_id = $1 ORDER BY delivered_at DESC NULLS LAST LIMIT 20`,
      params: (r) => [1 + ((r * 7) % 40)],
    },
    {
      // Anti-join: a warehouse's recent shipments that have no item lines.
      name: 'missing_items',
      sql: `SELECT s.id, s.tracking_no FROM logistics.shipments s
            LEFT JOIN logistics.shipment_items i ON i.shipment_id = s.id
            WHERE s.warehouse_id = $1 AND s.created_at >= $2 AND i.id IS NULL`,
      params: (r) => [1 + ((r * 13) % 200), '2025-06-01'],
    },
    {
      // EXISTS: a customer's shipments with a bulk line.
      name: 'customer_bulk',
      sql: `SELECT s.id, s.tracking_no, s.status FROM logistics.shipments s
            WHERE s.customer_ref = $1
              AND EXISTS (SELECT 1 FROM logistics.shipment_items i WHERE i.shipment_id = s.id AND i.qty >= $2)`,
      params: (r) => [`CUST-${(r * 389) % 20000}`, 10],
    },
    {
      // A numeric range: freight in a weight band, heaviest first.
      name: 'weight_band',
      sql: `SELECT id, tracking_no, weight_kg FROM logistics.shipments
            WHERE weight_kg BETWEEN $1 AND $2 ORDER BY weight_kg DESC`,
      params: (r) => {
        const lo = 100 + ((r * 37) % 800);
        return [lo, lo + 0.5];
      },
    },
    {
      // text[] containment: open shipments carrying a handling tag.
      name: 'tagged_open',
      sql: `SELECT id, tracking_no, tags FROM logistics.shipments
            WHERE tags @> $1::text[] AND status <> 'delivered'`,
      params: (r) => [pick([['hazmat'], ['fragile']], r)],
    },
    {
      // jsonb key IN a list: shipments stuck in customs.
      name: 'customs_holds',
      sql: `SELECT id, warehouse_id, created_at FROM logistics.shipments
            WHERE attrs ->> 'customs' IN ($1, $2) ORDER BY created_at`,
      params: () => ['held', 'inspection'],
    },
    {
      // The carrier's webhook: delivered, by tracking number.
      name: 'mark_delivered',
      sql: `UPDATE logistics.shipments SET status = 'delivered', delivered_at = now() WHERE tracking_no = $1`,
      params: (r) => [trackingNo(1 + ((r * 4391) % SHIPMENTS))],
    },
  ],
  handIndexes: [
    'CREATE INDEX ON logistics.shipment_items (sku)',
    'CREATE INDEX ON logistics.shipments (carrier_id, delivered_at DESC NULLS LAST)',
    'CREATE INDEX ON logistics.shipments (warehouse_id, created_at)',
    // Serves both anti-joins' inner side (missing_items, customer_bulk) and the foreign key.
    'CREATE INDEX ON logistics.shipment_items (shipment_id)',
    'CREATE INDEX ON logistics.shipments (customer_ref)',
    'CREATE INDEX ON logistics.shipments (weight_kg)',
    'CREATE INDEX ON logistics.shipments USING gin (tags)',
    `CREATE INDEX ON logistics.shipments ((attrs ->> 'customs'))`,
    'CREATE UNIQUE INDEX ON logistics.shipments (tracking_no)',
  ],
});

/** Days of readings loaded, back from the load's own time, and devices reporting. */
const DAYS = 56;
const ACTIVE_DEVICES = 5000;

/** The UTC day `back` days before today, as 'YYYY-MM-DD' (inside the loaded readings). */
const dayBack = (back: number) => new Date(Date.now() - back * 86_400_000).toISOString().slice(0, 10);

export const iot = fromScript({
  name: 'iot',
  description:
    'IoT metrics (holdout) on a readings table range-partitioned by week: latest per device, windows on now(), date_bin / date_trunc, serial lookup',
  rows: 30_000 + 400_000,
  // Readings are relative to the load's time (the statements' windows are on now()): one every 12 s over
  // the last ~56 days, inserted oldest first, as an ingest would.
  script: `
      CREATE SCHEMA iot;
      CREATE TABLE iot.devices (id int PRIMARY KEY, serial text NOT NULL, model text NOT NULL, site text NOT NULL,
        installed_at date NOT NULL);
      CREATE TABLE iot.readings (device_id int NOT NULL, ts timestamp NOT NULL, value double precision NOT NULL,
        battery smallint NOT NULL) PARTITION BY RANGE (ts);
      DO $$
      DECLARE w timestamp := date_trunc('week', localtimestamp) - interval '${Math.ceil(DAYS / 7) + 1} weeks';
      BEGIN
        WHILE w < date_trunc('week', localtimestamp) + interval '2 weeks' LOOP
          EXECUTE format('CREATE TABLE iot.%I PARTITION OF iot.readings FOR VALUES FROM (%L) TO (%L)',
            'readings_' || to_char(w, 'IYYY_IW'), w, w + interval '1 week');
          w := w + interval '1 week';
        END LOOP;
      END $$;
      INSERT INTO iot.devices
      SELECT g, 'SN-' || upper(substr(md5(g::text), 1, 4)) || '-' || lpad(g::text, 6, '0'),
        'model-' || (g % 17), 'site-' || (g % 250), date '2022-01-01' + g % 900
      FROM generate_series(1, 30000) g;
      INSERT INTO iot.readings (device_id, ts, value, battery)
      SELECT 1 + (g::bigint * 7919) % ${ACTIVE_DEVICES},
        date_trunc('minute', localtimestamp) - interval '1 minute' - (400001 - g) * interval '12 seconds',
        ((g * 37) % 1000) / 10.0, 100 - g % 97
      FROM generate_series(1, 400000) g;`,
  statements: [
    {
      // The device page: its latest reading.
      name: 'latest',
      sql: 'SELECT ts, value, battery FROM iot.readings WHERE device_id = $1 ORDER BY ts DESC LIMIT 1',
      params: (r) => [1 + ((r * 53) % ACTIVE_DEVICES)],
    },
    {
      // The fleet map: each device's latest reading of the last hours.
      name: 'fleet_latest',
      sql: `SELECT DISTINCT ON (device_id) device_id, ts, value FROM iot.readings
            WHERE ts >= now() - interval '3 hours' ORDER BY device_id, ts DESC`,
      params: () => [],
    },
    {
      // A device's chart: 6-hour buckets of the last week.
      name: 'device_chart',
      sql: `SELECT date_bin('6 hours', ts, timestamp '2000-01-01') AS bucket, avg(value), min(battery)
            FROM iot.readings WHERE device_id = $1 AND ts >= now() - interval '7 days' GROUP BY 1 ORDER BY 1`,
      params: (r) => [1 + ((r * 71) % ACTIVE_DEVICES)],
    },
    {
      // A day's report: readings per device on one day.
      name: 'day_counts',
      sql: `SELECT device_id, count(*) FROM iot.readings WHERE date_trunc('day', ts) = $1
            GROUP BY device_id ORDER BY count(*) DESC LIMIT 20`,
      params: (r) => [dayBack(2 + (r % (DAYS - 4)))],
    },
    {
      // Support looks a device up by its serial as the customer reads it out.
      name: 'by_serial',
      sql: 'SELECT id, model, site FROM iot.devices WHERE lower(serial) = lower($1)',
      params: (r) => {
        const id = 1 + ((r * 7717) % 30000);
        const hash = createHash('md5').update(String(id)).digest('hex').slice(0, 4);
        return [`sn-${hash}-${String(id).padStart(6, '0')}`];
      },
    },
    {
      // A site's dashboard: every device of the site with its latest reading (LATERAL, top-1 per row).
      name: 'site_latest',
      sql: `SELECT d.id, d.serial, r.ts, r.value FROM iot.devices d
            CROSS JOIN LATERAL (SELECT ts, value FROM iot.readings WHERE device_id = d.id ORDER BY ts DESC LIMIT 1) r
            WHERE d.site = $1`,
      params: (r) => [`site-${(r * 7) % 250}`],
    },
    {
      // Alerting: a site's devices silent for the last hour (NOT EXISTS on the partitioned table).
      name: 'site_silent',
      sql: `SELECT d.id, d.serial FROM iot.devices d
            WHERE d.site = $1
              AND NOT EXISTS (SELECT 1 FROM iot.readings r WHERE r.device_id = d.id AND r.ts >= now() - interval '1 hour')`,
      params: (r) => [`site-${(r * 11) % 250}`],
    },
    {
      name: 'ingest',
      sql: 'INSERT INTO iot.readings (device_id, ts, value, battery) VALUES ($1, localtimestamp, $2, $3)',
      params: (r) => [1 + (r % ACTIVE_DEVICES), (r % 500) / 10, 90],
    },
  ],
  handIndexes: [
    // latest, device_chart (backward or forward on ts)
    'CREATE INDEX ON iot.readings (device_id, ts DESC)',
    // fleet_latest: the last hours of every device
    'CREATE INDEX ON iot.readings (ts)',
    // date_trunc on a timestamp without time zone is immutable
    `CREATE INDEX ON iot.readings ((date_trunc('day', ts)))`,
    'CREATE INDEX ON iot.devices (lower(serial))',
    // site_latest, site_silent: the site's devices (their readings through (device_id, ts DESC))
    'CREATE INDEX ON iot.devices (site)',
  ],
});
