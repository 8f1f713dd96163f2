import type { BenchWorkload } from './corpus.ts';
import { pick } from './generate.ts';

const isoDay = (d: Date): string => d.toISOString().slice(0, 10);

/** An IPv4 address from its 32-bit number, as inet arithmetic in the setup script produces it. */
const ipv4 = (n: number): string => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
/** The external address pool of the netsec data: 30,000 hosts from 45.0.0.0 on, 5003 addresses apart. */
const externalIp = (k: number): string => ipv4(45 * 2 ** 24 + (k % 30000) * 5003);
/** A destination server of the netsec data: ten busy ones (a third of the traffic), 2000 quiet ones. */
const serverIp = (k: number): string => ipv4(10 * 2 ** 24 + 200 * 2 ** 16 + k);

/**
 * A holdout workload written before reading the optimizer's candidate rules: a network security product's
 * firewall / IDS event store (the SQL text built by the application, values inlined). Skewed: 82% of the
 * traffic from an internal /16, a scanner /24 with 5%, the rest from a pool of 30,000 external hosts; ten
 * destination servers take a third of the events; severity is an ENUM, 2% 'error' or 'critical'; one event
 * in a thousand flagged. Shapes: the latest events of a source subnet (`src_ip <<= $1::inet`), a server's
 * recent serious alerts (`dst_ip = $1::inet AND severity >= 'error'` ORDER BY ts DESC LIMIT), the analyst's
 * flagged queue (a selective boolean), TLS fingerprint hunting with a jsonpath (`payload @? $1::jsonpath`),
 * a URI prefix search with `LIKE ... ESCAPE '!'`, a user's alert rules in a table with a mixed-case name and
 * reserved-word columns ("AlertRule": "Group", "user" as citext, "order"), the ingest INSERT and an UPDATE
 * flagging a source's recent denies (`src_ip = $1::inet`).
 */
export const netsec: BenchWorkload = {
  name: 'netsec',
  description:
    'a firewall / IDS event store (holdout): inet <<= subnet and = address, ENUM severity >=, selective boolean, jsonb @? jsonpath, LIKE ... ESCAPE prefix, quoted "AlertRule" with "Group", citext "user", "order"',
  rows: 540_000,
  async setup(client) {
    await client.query(`
      CREATE EXTENSION IF NOT EXISTS citext;
      CREATE SCHEMA netsec;
      CREATE TYPE netsec.severity AS ENUM ('debug', 'info', 'notice', 'warning', 'error', 'critical');
      CREATE TABLE netsec.events (
        id bigserial PRIMARY KEY, ts timestamptz NOT NULL, sensor text NOT NULL, src_ip inet NOT NULL,
        dst_ip inet NOT NULL, dst_port int NOT NULL, proto text NOT NULL, action text NOT NULL,
        severity netsec.severity NOT NULL, flagged boolean NOT NULL DEFAULT false, rule_id int, uri text,
        payload jsonb NOT NULL);
      CREATE TABLE netsec."AlertRule" (
        id int PRIMARY KEY, "Group" text NOT NULL, "user" citext NOT NULL, "order" int NOT NULL,
        "Enabled" boolean NOT NULL, "Pattern" text NOT NULL, action text NOT NULL, "createdAt" timestamptz NOT NULL);
      INSERT INTO netsec.events (ts, sensor, src_ip, dst_ip, dst_port, proto, action, severity, flagged, rule_id, uri, payload)
      SELECT timestamptz '2025-03-01' + g * interval '5 seconds', 'fw-' || (g % 12),
             CASE WHEN h < 820 THEN '10.0.0.0'::inet + (g::bigint * 2654435761) % 65536
                  WHEN h < 870 THEN '185.220.101.0'::inet + g % 24
                  ELSE '45.0.0.0'::inet + ((g::bigint * 31337) % 30000) * 5003 END,
             CASE WHEN h2 < 300 THEN '10.200.0.0'::inet + g % 10
                  ELSE '10.200.0.0'::inet + 10 + (g::bigint * 7919) % 1000099 % 2000 END,
             (ARRAY[443, 443, 443, 80, 53, 22, 3389, 8080])[1 + g % 8],
             CASE WHEN g % 5 < 2 THEN 'tls' WHEN g % 5 < 4 THEN 'http' ELSE 'dns' END,
             CASE WHEN h >= 820 AND h < 870 THEN 'deny' WHEN g % 17 = 0 THEN 'deny' ELSE 'allow' END,
             (CASE WHEN x < 2 THEN 'critical' WHEN x < 20 THEN 'error' WHEN x < 70 THEN 'warning'
                   WHEN x < 250 THEN 'notice' WHEN x < 920 THEN 'info' ELSE 'debug' END)::netsec.severity,
             g % 1009 = 0,
             CASE WHEN x < 70 THEN 1 + g % 60000 END,
             CASE WHEN g % 5 IN (2, 3) THEN
                    CASE WHEN g % 4 = 0 THEN '/files/user_' || (g::bigint * 3571) % 1000081 % 3000 || '/' || g || '.pdf'
                         ELSE '/api/v2/' || (ARRAY['items', 'orders', 'search', 'session'])[1 + g % 4] || '/' || g % 100000 END
             END,
             CASE WHEN g % 5 < 2 THEN jsonb_build_object('tls', jsonb_build_object(
                    'sni', 'svc' || g % 700 || '.example.net',
                    'ja4', 't13d' || lpad((CASE WHEN h3 < 700 THEN h3 % 6 ELSE (g::bigint * 48271) % 1000039 % 4000 END)::text, 4, '0') || '_h2'))
                  WHEN g % 5 < 4 THEN jsonb_build_object('http', jsonb_build_object(
                    'method', CASE WHEN g % 10 = 2 THEN 'POST' ELSE 'GET' END, 'status', (ARRAY[200, 200, 200, 304, 404, 500])[1 + g % 6],
                    'ua', 'Mozilla/5.0 (build ' || g % 40 || ')'))
                  ELSE jsonb_build_object('dns', jsonb_build_object('qname', 'host' || g % 9000 || '.corp.example', 'qtype', 'A'))
             END
      FROM generate_series(1, 480000) g,
           -- Independent pseudo-random draws (each modulo its own prime first, so no two are tied to g's residues).
           LATERAL (SELECT (g::bigint * 7919) % 1000003 % 1000 AS h, (g::bigint * 6151) % 999983 % 1000 AS h2,
                           (g::bigint * 104729) % 1000033 % 1000 AS x, (g::bigint * 15485863) % 1000037 % 1000 AS h3) k;
      -- Rules: twenty big groups hold 40% of them, 1500 small ones the rest; three users per group.
      INSERT INTO netsec."AlertRule"
      SELECT g, 'grp-' || lpad(grp::text, 4, '0'), 'SecOps-' || lpad((grp * 3 + (g / 200) % 3)::text, 5, '0'),
             (g::bigint * 104729) % 100000, g % 10 <> 0,
             (ARRAY['sqlmap', 'nikto', '../../', 'union select', 'cmd.exe'])[1 + g % 5] || ' #' || g,
             CASE WHEN g % 4 = 0 THEN 'alert' ELSE 'drop' END,
             timestamptz '2024-01-01' + g * interval '7 minutes'
      FROM generate_series(1, 60000) g,
           LATERAL (SELECT CASE WHEN g % 10 < 4 THEN (g / 10) % 20 ELSE 20 + (g::bigint * 7919) % 1000003 % 1500 END AS grp) k;`);
  },
  statements: [
    {
      name: 'subnet_recent',
      sql: 'SELECT id, ts, dst_ip, dst_port, action FROM netsec.events WHERE src_ip <<= $1::inet ORDER BY ts DESC LIMIT 50',
      params: (r) => [
        r % 3 === 2 ? `${45 + (r % 8)}.${(r * 37) % 256}.0.0/16` : `10.0.${(r * 53) % 256}.0/24`,
      ],
    },
    {
      name: 'server_alerts',
      sql: `SELECT id, ts, src_ip, severity, rule_id FROM netsec.events
            WHERE dst_ip = $1::inet AND severity >= 'error' ORDER BY ts DESC LIMIT 20`,
      params: (r) => [r % 2 === 0 ? serverIp(r % 10) : serverIp(10 + ((r * 7919) % 2000))],
    },
    {
      name: 'flagged_queue',
      sql: 'SELECT id, ts, src_ip, dst_ip, severity FROM netsec.events WHERE flagged ORDER BY ts LIMIT 100',
      params: () => [],
    },
    {
      name: 'ja4_hunt',
      sql: 'SELECT id, ts, src_ip, dst_ip FROM netsec.events WHERE payload @? $1::jsonpath',
      params: (r) => [`$.tls.ja4 ? (@ == "t13d${String(6 + ((r * 131) % 3994)).padStart(4, '0')}_h2")`],
    },
    {
      name: 'uri_prefix',
      sql: `SELECT id, ts, src_ip, uri FROM netsec.events WHERE uri LIKE $1 ESCAPE '!'`,
      params: (r) => [`/files/user!_${(r * 131) % 3000}/%`],
    },
    {
      name: 'user_rules',
      sql: `SELECT id, "order", "Pattern", action FROM netsec."AlertRule"
            WHERE "Group" = $1 AND "user" = $2 AND "Enabled" ORDER BY "order"`,
      params: (r) => {
        const grp = r % 4 === 0 ? r % 20 : 20 + ((r * 7919) % 1500);
        return [
          `grp-${String(grp).padStart(4, '0')}`,
          `secops-${String(grp * 3 + (r % 3)).padStart(5, '0')}`,
        ];
      },
    },
    {
      name: 'ingest',
      sql: `INSERT INTO netsec.events (ts, sensor, src_ip, dst_ip, dst_port, proto, action, severity, payload)
            VALUES (now(), $1, $2::inet, $3::inet, 443, 'tls', 'allow', $4::netsec.severity, $5)`,
      params: (r) => [
        `fw-${r % 12}`,
        externalIp(r * 17),
        serverIp(r % 10),
        pick(['info', 'info', 'notice', 'warning', 'error'], r),
        { tls: { sni: `svc${r % 700}.example.net`, ja4: `t13d${String(r % 4000).padStart(4, '0')}_h2` } },
      ],
    },
    {
      name: 'flag_source',
      sql: `UPDATE netsec.events SET flagged = true
            WHERE src_ip = $1::inet AND ts >= $2 AND action = 'deny'`,
      params: (r) => [externalIp((r * 7717) % 30000), '2025-03-10T00:00:00Z'],
    },
  ],
  handIndexes: [
    // btree serves both the subnet containment (<<= becomes a range on the btree) and the equality.
    'CREATE INDEX ON netsec.events (src_ip)',
    `CREATE INDEX ON netsec.events (dst_ip, ts DESC) WHERE severity >= 'error'`,
    'CREATE INDEX ON netsec.events (ts) WHERE flagged',
    'CREATE INDEX ON netsec.events USING gin (payload jsonb_path_ops)',
    'CREATE INDEX ON netsec.events (uri text_pattern_ops)',
    'CREATE INDEX ON netsec."AlertRule" ("Group", "user", "order")',
  ],
};

const FIRST_A = [
  'Al',
  'Be',
  'Ca',
  'Da',
  'El',
  'Fa',
  'Ga',
  'Ha',
  'Il',
  'Jo',
  'Ka',
  'Le',
  'Ma',
  'Ni',
  'Ol',
  'Pa',
  'Ra',
  'Sa',
  'Ta',
  'Vi',
];
const FIRST_B = [
  'na',
  'bert',
  'rina',
  'vid',
  'ise',
  'tima',
  'bor',
  'nnah',
  'ya',
  'nas',
  'ra',
  'on',
  'rco',
  'dia',
  'iver',
  'blo',
  'fael',
  'rah',
  'mara',
  'ctor',
];
const NICK = [
  'Al',
  'Bee',
  'Cat',
  'Dan',
  'Ellie',
  'Fred',
  'Gus',
  'Hank',
  'Izzy',
  'Jay',
  'Kit',
  'Lou',
  'Max',
  'Nat',
  'Ollie',
  'Pip',
  'Ray',
  'Sam',
  'Tom',
  'Vic',
  'Will',
  'Zed',
  'Bo',
  'Cy',
  'Dot',
  'Eve',
  'Flo',
  'Gil',
  'Hal',
  'Ike',
];
const sqlArray = (xs: readonly string[]): string => `ARRAY[${xs.map((x) => `'${x}'`).join(', ')}]`;

/** The tenants of the payroll data: three big ones (10,000, 5,000 and 3,000 employees), 297 small ones. */
const payrollTenant = (r: number): number => (r % 3 === 0 ? 1 : r % 3 === 1 ? 2 : 4 + ((r * 13) % 297));
const departments = (tenant: number): number =>
  tenant === 1 ? 200 : tenant === 2 ? 100 : tenant === 3 ? 60 : 6;

/**
 * A holdout multi-tenant HR / payroll application sent through the extended protocol (bind parameters):
 * every table keyed by (tenant_id, id), departments and payslips reached through composite foreign keys.
 * Skewed: one tenant holds 10,000 of the 32,000 employees, two more 8,000 together, 297 small tenants the
 * rest; a payslip per employee and month since September 2023 (or the hire); 99% of payslips paid, a few
 * voided, a few never processed (status NULL), the last month still 'draft' at one tenant in five. Shapes:
 * the latest three payslips of each employee of a department (CROSS JOIN LATERAL ... ORDER BY ... LIMIT 3),
 * a name search on `coalesce(preferred_name, first_name) = $2`, a payday total on `paid_at::date =
 * $2::date`, the unsettled payslips (`status IS DISTINCT FROM 'paid'` ORDER BY LIMIT), a void report with
 * `count(*) FILTER (...)` GROUP BY ... HAVING, a hiring cohort per department (`extract(year from hired_on)
 * BETWEEN`, a join through the composite key, rank() OVER), approving a payslip (UPDATE), a new draft
 * payslip (INSERT).
 */
export const payroll: BenchWorkload = {
  name: 'payroll',
  description:
    'multi-tenant payroll (holdout, extended protocol): composite keys and FKs, LATERAL top-3 per employee, coalesce(a, b) = $2, ts::date = $2::date, IS DISTINCT FROM, FILTER + HAVING, extract(year) BETWEEN with rank() OVER',
  rows: 432_000,
  protocol: 'extended',
  async setup(client) {
    await client.query(`
      CREATE SCHEMA payroll;
      CREATE TABLE payroll.tenants (id int PRIMARY KEY, name text NOT NULL);
      CREATE TABLE payroll.departments (tenant_id int NOT NULL REFERENCES payroll.tenants (id), id int NOT NULL,
        name text NOT NULL, PRIMARY KEY (tenant_id, id));
      CREATE TABLE payroll.employees (
        tenant_id int NOT NULL, id int NOT NULL, dept_id int NOT NULL, first_name text NOT NULL,
        preferred_name text, last_name text NOT NULL, email text NOT NULL, hired_on date NOT NULL, terminated_on date,
        PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, dept_id) REFERENCES payroll.departments (tenant_id, id));
      CREATE TABLE payroll.payslips (
        tenant_id int NOT NULL, id bigint GENERATED BY DEFAULT AS IDENTITY, employee_id int NOT NULL,
        period_start date NOT NULL, paid_at timestamp, gross numeric(12, 2) NOT NULL, net numeric(12, 2) NOT NULL,
        tax numeric(12, 2) NOT NULL, status text, bank_ref text,
        PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, employee_id) REFERENCES payroll.employees (tenant_id, id));
      INSERT INTO payroll.tenants SELECT t, 'Tenant ' || t FROM generate_series(1, 300) t;
      INSERT INTO payroll.departments
      SELECT t, d, (ARRAY['Engineering', 'Sales', 'Support', 'Finance', 'Operations', 'People'])[1 + d % 6] || ' ' || d
      FROM generate_series(1, 300) t,
           LATERAL generate_series(1, CASE t WHEN 1 THEN 200 WHEN 2 THEN 100 WHEN 3 THEN 60 ELSE 6 END) d;
      INSERT INTO payroll.employees
      SELECT t, g, 1 + (g::bigint * 7919) % 1000003 % CASE t WHEN 1 THEN 200 WHEN 2 THEN 100 WHEN 3 THEN 60 ELSE 6 END,
             fn, CASE WHEN (g::bigint * 104729) % 10007 % 100 < 18 THEN (${sqlArray(NICK)})[1 + (g::bigint * 7919) % 10009 % 30] END,
             (ARRAY['Smith', 'Miller', 'Schmidt', 'Garcia', 'Rossi', 'Dubois', 'Nowak', 'Jensen', 'Silva', 'Kowalski',
                    'Brown', 'Wilson', 'Meyer', 'Lopez', 'Martin', 'Okafor', 'Tanaka', 'Novak', 'Costa', 'Berg'])[1 + (g * 31) % 20]
               || (ARRAY['', '', '', '-Lee', 'son', 'er'])[1 + (g * 17) % 6],
             lower(fn) || '.' || g || '@t' || t || '.example', hired,
             CASE WHEN (g::bigint * 15485863) % 10037 % 100 < 12 THEN hired + 200 + (g * 7) % 3000 END
      FROM generate_series(1, 32000) g,
           LATERAL (SELECT CASE WHEN g <= 10000 THEN 1 WHEN g <= 15000 THEN 2 WHEN g <= 18000 THEN 3 ELSE 4 + g % 297 END AS t,
                           (${sqlArray(FIRST_A)})[1 + g % 20] || (${sqlArray(FIRST_B)})[1 + (g / 20) % 20] AS fn,
                           date '2024-12-31' - (power(((g::bigint * 104729) % 1000) / 1000.0, 2) * 7300)::int AS hired) k;
      INSERT INTO payroll.payslips (tenant_id, employee_id, period_start, paid_at, gross, net, tax, status, bank_ref)
      SELECT e.tenant_id, e.id, m::date,
             CASE WHEN st IS DISTINCT FROM 'draft' AND st IS NOT NULL
                  THEN m + (24 + e.tenant_id % 3) * interval '1 day' + (8 + e.id % 9) * interval '1 hour' END,
             gross, round(gross * 0.68, 2), round(gross * 0.25, 2), st,
             CASE WHEN st = 'paid' THEN 'BR' || e.id || to_char(m, 'YYYYMM') END
      FROM payroll.employees e,
           LATERAL generate_series(greatest(timestamp '2023-09-01', date_trunc('month', e.hired_on::timestamp)),
                                   timestamp '2024-12-01', interval '1 month') m,
           LATERAL (SELECT (2500 + (e.id * 37) % 9000)::numeric(12, 2) AS gross,
                           CASE WHEN m = timestamp '2024-12-01' AND e.tenant_id % 5 = 0 THEN 'draft'
                                WHEN (e.id * 7 + extract(month from m)::int * 13) % 211 = 0 THEN 'void'
                                WHEN (e.id * 3 + extract(month from m)::int) % 997 = 0 THEN NULL
                                ELSE 'paid' END AS st) x
      WHERE e.terminated_on IS NULL OR m < e.terminated_on
      ORDER BY m, e.id;`);
  },
  statements: [
    {
      name: 'latest_payslips',
      sql: `SELECT e.id, e.last_name, p.period_start, p.net
            FROM payroll.employees e
            CROSS JOIN LATERAL (
              SELECT s.period_start, s.net FROM payroll.payslips s
              WHERE s.tenant_id = e.tenant_id AND s.employee_id = e.id
              ORDER BY s.period_start DESC LIMIT 3) p
            WHERE e.tenant_id = $1 AND e.dept_id = $2
            ORDER BY e.id, p.period_start DESC`,
      params: (r) => {
        const t = payrollTenant(r);
        return [t, 1 + ((r * 7) % departments(t))];
      },
    },
    {
      name: 'by_display_name',
      sql: `SELECT id, email, dept_id FROM payroll.employees
            WHERE tenant_id = $1 AND coalesce(preferred_name, first_name) = $2 AND terminated_on IS NULL`,
      params: (r) => [
        payrollTenant(r),
        r % 3 === 2 ? pick(NICK, r) : pick(FIRST_A, r) + pick(FIRST_B, r * 7),
      ],
    },
    {
      name: 'payday_total',
      sql: 'SELECT count(*), sum(net) FROM payroll.payslips WHERE tenant_id = $1 AND paid_at::date = $2::date',
      params: (r) => {
        const t = payrollTenant(r);
        return [t, isoDay(new Date(Date.UTC(2023, 8 + (r % 15), 25 + (t % 3))))];
      },
    },
    {
      name: 'unsettled',
      sql: `SELECT id, employee_id, period_start, net, status FROM payroll.payslips
            WHERE tenant_id = $1 AND status IS DISTINCT FROM 'paid' ORDER BY period_start LIMIT 100`,
      params: (r) => [r % 2 === 0 ? 1 : 4 + ((r * 13) % 297)],
    },
    {
      name: 'void_report',
      sql: `SELECT employee_id, count(*) AS slips, count(*) FILTER (WHERE status = 'void') AS voided,
                   sum(net) FILTER (WHERE status = 'paid') AS paid
            FROM payroll.payslips
            WHERE tenant_id = $1 AND period_start >= $2::date AND period_start < $3::date
            GROUP BY employee_id HAVING count(*) FILTER (WHERE status = 'void') > 0`,
      params: (r) => [
        payrollTenant(r),
        isoDay(new Date(Date.UTC(2023, 8 + (r % 12), 1))),
        isoDay(new Date(Date.UTC(2023, 11 + (r % 12), 1))),
      ],
    },
    {
      name: 'hire_cohort',
      sql: `SELECT d.name, count(*) AS hires, rank() OVER (ORDER BY count(*) DESC) AS rnk
            FROM payroll.employees e
            JOIN payroll.departments d ON d.tenant_id = e.tenant_id AND d.id = e.dept_id
            WHERE e.tenant_id = $1 AND extract(year from e.hired_on) BETWEEN $2 AND $3
            GROUP BY d.name ORDER BY rnk, d.name LIMIT 10`,
      params: (r) => [payrollTenant(r), 2014 + (r % 9), 2015 + (r % 9)],
    },
    {
      name: 'approve',
      sql: `UPDATE payroll.payslips SET status = 'paid', paid_at = $4::timestamp, bank_ref = $5
            WHERE tenant_id = $1 AND employee_id = $2 AND period_start = $3::date AND status IS DISTINCT FROM 'paid'`,
      params: (r) => {
        const e = 1 + ((r * 37) % 10000);
        return [1, e, '2024-12-01', '2024-12-27 10:00:00', `BR${e}-manual`];
      },
    },
    {
      name: 'new_payslip',
      sql: `INSERT INTO payroll.payslips (tenant_id, employee_id, period_start, gross, net, tax, status)
            VALUES ($1, $2, $3::date, $4, $5, $6, 'draft') RETURNING id`,
      params: (r) => {
        const e = 18001 + ((r * 53) % 14000);
        return [4 + (e % 297), e, '2025-01-01', 4200, 2856, 1050];
      },
    },
  ],
  handIndexes: [
    // The LATERAL outer side (a department's employees); also the composite FK to departments.
    'CREATE INDEX ON payroll.employees (tenant_id, dept_id)',
    // The composite FK to employees, the LATERAL top-3 (and the UPDATE by employee and period).
    'CREATE INDEX ON payroll.payslips (tenant_id, employee_id, period_start DESC) INCLUDE (net)',
    'CREATE INDEX ON payroll.employees (tenant_id, coalesce(preferred_name, first_name))',
    'CREATE INDEX ON payroll.payslips (tenant_id, (paid_at::date)) INCLUDE (net)',
    `CREATE INDEX ON payroll.payslips (tenant_id, period_start) WHERE status IS DISTINCT FROM 'paid'`,
    'CREATE INDEX ON payroll.payslips (tenant_id, period_start) INCLUDE (employee_id, status, net)',
    'CREATE INDEX ON payroll.employees (tenant_id, (extract(year from hired_on)))',
  ],
};
