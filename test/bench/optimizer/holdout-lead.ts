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
