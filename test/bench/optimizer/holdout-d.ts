import type { BenchWorkload } from './corpus.ts';
import { addDays, pick } from './generate.ts';

const day = (d: Date): string => d.toISOString().slice(0, 10);

/**
 * A holdout workload written without looking at the optimizer's candidate rules: a background-job /
 * workflow engine sending its statements through the extended protocol (bind parameters). Skewed data:
 * three big queues and forty small ones; 95% of jobs 'done', a few hundred 'ready' per big queue, some
 * 'ready' jobs scheduled weeks ahead. Shapes: the claim (`FOR UPDATE SKIP LOCKED` under ORDER BY priority
 * DESC, run_at LIMIT, in a CTE feeding UPDATE ... FROM ... RETURNING), a heartbeat by id, the stale-lock
 * sweep, a dashboard count over the last day, a lookup by a jsonb key, a batched cleanup DELETE of old
 * finished jobs, an INSERT.
 */
export const jobs: BenchWorkload = {
  name: 'jobs',
  description:
    'a job queue (holdout, extended protocol): SKIP LOCKED claim by priority DESC, run_at; stale-lock sweep; last-day dashboard; jsonb key lookup; batched cleanup DELETE',
  rows: 400_000,
  protocol: 'extended',
  async setup(client) {
    await client.query(`
      CREATE SCHEMA jobs;
      CREATE TABLE jobs.jobs (
        id bigserial PRIMARY KEY, queue text NOT NULL, state text NOT NULL, priority smallint NOT NULL DEFAULT 0,
        run_at timestamptz NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), heartbeat_at timestamptz,
        finished_at timestamptz, locked_by text, attempts int NOT NULL DEFAULT 0, args jsonb NOT NULL,
        last_error text);
      INSERT INTO jobs.jobs (queue, state, priority, run_at, created_at, heartbeat_at, finished_at, locked_by, attempts, args, last_error)
      SELECT q, st, pr,
             CASE WHEN st = 'ready' AND g <= 392000 THEN ca + interval '90 days' ELSE ca END,
             ca,
             CASE WHEN st = 'running' THEN CASE WHEN s % 4 = 0 THEN now() - interval '20 minutes' ELSE now() END
                  WHEN st IN ('done', 'failed') THEN ca + interval '40 seconds' END,
             CASE WHEN st IN ('done', 'failed') THEN ca + interval '45 seconds' END,
             CASE WHEN st = 'running' THEN 'worker-' || (g % 8) END,
             CASE WHEN st = 'failed' THEN 5 WHEN st = 'ready' THEN 0 ELSE 1 END,
             CASE WHEN q IN ('default', 'mail') THEN jsonb_build_object('order_id', 'O' || (g % 250000), 'step', g % 6)
                  ELSE jsonb_build_object('report', g % 1000, 'format', 'pdf') END,
             CASE WHEN st = 'failed' THEN 'timeout after 30s' END
      FROM generate_series(1, 400000) g,
           LATERAL (SELECT now() - (400000 - g) * interval '13 seconds' AS ca,
                           (g::bigint * 104729) % 1000 AS s, (g::bigint * 7919) % 100 AS h) x,
           LATERAL (SELECT CASE WHEN h < 50 THEN 'default' WHEN h < 75 THEN 'mail' WHEN h < 85 THEN 'reports'
                                ELSE 'q' || (g % 40) END AS q,
                           CASE WHEN g > 392000 THEN CASE WHEN s < 150 THEN 'ready' WHEN s < 170 THEN 'running'
                                                          WHEN s < 180 THEN 'failed' ELSE 'done' END
                                ELSE CASE WHEN s < 965 THEN 'done' WHEN s < 995 THEN 'failed' ELSE 'ready' END
                           END AS st,
                           (CASE WHEN g % 7 = 0 THEN 5 WHEN g % 31 = 0 THEN 9 ELSE 0 END)::smallint AS pr) y;`);
  },
  statements: [
    {
      name: 'claim',
      sql: `WITH next AS (
              SELECT id FROM jobs.jobs
              WHERE queue = $1 AND state = 'ready' AND run_at <= now()
              ORDER BY priority DESC, run_at LIMIT 10 FOR UPDATE SKIP LOCKED)
            UPDATE jobs.jobs j SET state = 'running', locked_by = $2, heartbeat_at = now(), attempts = j.attempts + 1
            FROM next WHERE j.id = next.id RETURNING j.id, j.args`,
      params: (r) => [
        pick(['default', 'mail', 'reports', 'default', 'q3', 'mail', 'q17'], r),
        `worker-${r % 8}`,
      ],
    },
    {
      name: 'heartbeat',
      sql: `UPDATE jobs.jobs SET heartbeat_at = now() WHERE id = $1 AND state = 'running'`,
      params: (r) => [392001 + ((r * 37) % 8000)],
    },
    {
      name: 'sweep_stale',
      sql: `UPDATE jobs.jobs SET state = 'ready', locked_by = NULL
            WHERE state = 'running' AND heartbeat_at < now() - interval '5 minutes' RETURNING id`,
      params: () => [],
    },
    {
      name: 'dashboard',
      sql: `SELECT queue, state, count(*) FROM jobs.jobs WHERE created_at >= now() - interval '1 day'
            GROUP BY queue, state ORDER BY queue, state`,
      params: () => [],
    },
    {
      name: 'by_order',
      sql: `SELECT id, queue, state, attempts, finished_at FROM jobs.jobs WHERE args ->> 'order_id' = $1`,
      params: (r) => [`O${(r * 7717) % 250000}`],
    },
    {
      name: 'cleanup',
      sql: `DELETE FROM jobs.jobs WHERE id IN (
              SELECT id FROM jobs.jobs WHERE state = 'done' AND finished_at < now() - make_interval(days => $1)
              LIMIT 1000)`,
      params: (r) => [30 + (r % 3)],
    },
    {
      name: 'enqueue',
      sql: `INSERT INTO jobs.jobs (queue, state, priority, run_at, args) VALUES ($1, 'ready', $2, now(), $3) RETURNING id`,
      params: (r) => [
        pick(['default', 'mail', 'reports', 'q5'], r),
        r % 5 === 0 ? 5 : 0,
        JSON.stringify({ order_id: `O${300000 + r}`, step: 0 }),
      ],
    },
  ],
  handIndexes: [
    `CREATE INDEX ON jobs.jobs (queue, priority DESC, run_at) WHERE state = 'ready'`,
    `CREATE INDEX ON jobs.jobs (heartbeat_at) WHERE state = 'running'`,
    'CREATE INDEX ON jobs.jobs (created_at)',
    `CREATE INDEX ON jobs.jobs ((args ->> 'order_id'))`,
    `CREATE INDEX ON jobs.jobs (finished_at) WHERE state = 'done'`,
  ],
};

/** The book a journal belongs to in the ledger's data: two big books and forty small ones. */
const bookOf = (j: number): number => (j % 10 < 6 ? 1 : j % 10 < 8 ? 2 : 3 + (j % 40));

/**
 * A holdout accounting ledger (literal protocol): accounts, journals keyed by (book_id, journal_no), a
 * large table of entries referencing its journal through that composite foreign key, and bank statement
 * lines matched to entries. Skewed: five bank accounts carry a third of all entries, two books hold 80% of
 * the journals, fees are 2% of entries. Shapes: an account statement over a date range ORDER BY posted_on,
 * id; a balance up to a date; entries of the journal with an external reference (a three-table join
 * through the composite key); a multi-column IN over (currency, kind) for a month; a case-insensitive
 * account lookup by upper(code); a reconciliation anti-join (LEFT JOIN ... IS NULL); an INSERT.
 */
export const ledger: BenchWorkload = {
  name: 'ledger',
  description:
    'an accounting ledger (holdout): statement by account and date range, balance sum, join through a composite FK by external_ref, (currency, kind) IN pairs, upper(code), LEFT JOIN IS NULL reconciliation',
  rows: 800_000,
  async setup(client) {
    await client.query(`
      CREATE SCHEMA ledger;
      CREATE TABLE ledger.accounts (id int PRIMARY KEY, book_id int NOT NULL, code text NOT NULL,
        name text NOT NULL, currency char(3) NOT NULL);
      CREATE TABLE ledger.journals (book_id int NOT NULL, journal_no int NOT NULL, external_ref text,
        posted_on date NOT NULL, memo text, PRIMARY KEY (book_id, journal_no));
      CREATE TABLE ledger.entries (id bigserial PRIMARY KEY, book_id int NOT NULL, journal_no int NOT NULL,
        account_id int NOT NULL REFERENCES ledger.accounts (id), amount numeric(14, 2) NOT NULL,
        currency char(3) NOT NULL, kind text NOT NULL, posted_on date NOT NULL,
        FOREIGN KEY (book_id, journal_no) REFERENCES ledger.journals (book_id, journal_no));
      CREATE TABLE ledger.bank_lines (id bigserial PRIMARY KEY, account_id int NOT NULL,
        entry_id bigint REFERENCES ledger.entries (id), amount numeric(14, 2) NOT NULL, value_date date NOT NULL,
        bank_ref text NOT NULL);
      INSERT INTO ledger.accounts
      SELECT g, CASE WHEN g <= 205 THEN 1 ELSE 1 + g % 42 END,
             CASE WHEN g <= 5 THEN 'Bank-' ELSE 'Acc-' END || lpad(g::text, 6, '0'), 'Account ' || g,
             (ARRAY['EUR', 'EUR', 'USD', 'GBP'])[1 + g % 4]
      FROM generate_series(1, 50000) g;
      INSERT INTO ledger.journals
      SELECT CASE WHEN j % 10 < 6 THEN 1 WHEN j % 10 < 8 THEN 2 ELSE 3 + j % 40 END, j,
             CASE WHEN j % 5 <> 0 THEN 'INV-' || lpad(j::text, 8, '0') END,
             date '2023-01-01' + (j * 730 / 150000), 'journal ' || j
      FROM generate_series(1, 150000) j;
      INSERT INTO ledger.entries (book_id, journal_no, account_id, amount, currency, kind, posted_on)
      SELECT CASE WHEN j % 10 < 6 THEN 1 WHEN j % 10 < 8 THEN 2 ELSE 3 + j % 40 END, j,
             CASE g % 3 WHEN 0 THEN 1 + j % 5 WHEN 1 THEN 6 + (j * 7919) % 49995 ELSE 6 + (j::bigint * 104729) % 200 END,
             CASE g % 3 WHEN 0 THEN 1 ELSE -1 END * (10 + (j * 37) % 5000)::numeric / CASE g % 3 WHEN 0 THEN 1 ELSE 2 END,
             CASE WHEN j % 10 < 6 THEN 'EUR' WHEN j % 10 < 9 THEN 'USD' ELSE 'GBP' END,
             CASE WHEN j % 47 = 0 THEN 'fee' WHEN j % 7 = 0 THEN 'refund' WHEN j % 3 = 0 THEN 'transfer' ELSE 'payment' END,
             date '2023-01-01' + (j * 730 / 150000)
      FROM generate_series(1, 450000) g, LATERAL (SELECT 1 + (g - 1) / 3 AS j) x
      ORDER BY g;
      INSERT INTO ledger.bank_lines (account_id, entry_id, amount, value_date, bank_ref)
      SELECT 1 + j % 5, 3 * j, 10 + (j * 37) % 5000, date '2023-01-01' + (j * 730 / 150000) + 1, 'B' || j
      FROM generate_series(1, 150000) j WHERE j % 11 <> 3;`);
  },
  statements: [
    {
      name: 'statement',
      sql: `SELECT id, posted_on, amount, kind FROM ledger.entries
            WHERE account_id = $1 AND posted_on BETWEEN $2 AND $3 ORDER BY posted_on, id`,
      params: (r) => {
        const from = new Date(Date.UTC(2023, r % 20, 1));
        const account = r % 3 === 0 ? 1 + (r % 5) : 6 + ((r * 7919) % 49995);
        return [account, day(from), day(addDays(from, 30))];
      },
    },
    {
      name: 'balance',
      sql: 'SELECT sum(amount) FROM ledger.entries WHERE account_id = $1 AND posted_on <= $2',
      params: (r) => [
        r % 2 === 0 ? 1 + (r % 5) : 6 + ((r * 13) % 200),
        day(new Date(Date.UTC(2024, r % 12, 28))),
      ],
    },
    {
      name: 'by_external_ref',
      sql: `SELECT j.posted_on, e.id, e.amount, a.code FROM ledger.journals j
            JOIN ledger.entries e ON e.book_id = j.book_id AND e.journal_no = j.journal_no
            JOIN ledger.accounts a ON a.id = e.account_id
            WHERE j.external_ref = $1`,
      params: (r) => [`INV-${String(1 + ((r * 7717) % 150000)).padStart(8, '0')}`],
    },
    {
      name: 'fees',
      sql: `SELECT currency, kind, count(*), sum(amount) FROM ledger.entries
            WHERE (currency, kind) IN (('EUR', 'fee'), ('USD', 'fee')) AND posted_on >= $1 AND posted_on < $2
            GROUP BY currency, kind`,
      params: (r) => {
        const from = new Date(Date.UTC(2023, r % 22, 1));
        return [day(from), day(new Date(Date.UTC(2023, (r % 22) + 1, 1)))];
      },
    },
    {
      name: 'account_by_code',
      sql: 'SELECT id, name, currency FROM ledger.accounts WHERE upper(code) = upper($1)',
      params: (r) => [`acc-${String(6 + ((r * 4391) % 49990)).padStart(6, '0')}`],
    },
    {
      name: 'unreconciled',
      sql: `SELECT e.id, e.posted_on, e.amount FROM ledger.entries e
            LEFT JOIN ledger.bank_lines b ON b.entry_id = e.id
            WHERE e.account_id = $1 AND e.posted_on BETWEEN $2 AND $3 AND b.id IS NULL ORDER BY e.posted_on`,
      params: (r) => {
        const from = new Date(Date.UTC(2023, r % 20, 1));
        return [1 + (r % 5), day(from), day(addDays(from, 30))];
      },
    },
    {
      name: 'post_entry',
      sql: `INSERT INTO ledger.entries (book_id, journal_no, account_id, amount, currency, kind, posted_on)
            VALUES ($1, $2, $3, $4, 'EUR', 'payment', $5)`,
      params: (r) => {
        const j = 1 + ((r * 37) % 150000);
        return [bookOf(j), j, 6 + (r % 49990), 12.5, '2024-12-30'];
      },
    },
  ],
  handIndexes: [
    'CREATE INDEX ON ledger.entries (account_id, posted_on) INCLUDE (amount)',
    'CREATE INDEX ON ledger.entries (book_id, journal_no)',
    'CREATE INDEX ON ledger.journals (external_ref)',
    'CREATE INDEX ON ledger.entries (kind, currency, posted_on)',
    'CREATE INDEX ON ledger.accounts (upper(code))',
    'CREATE INDEX ON ledger.bank_lines (entry_id)',
  ],
};
