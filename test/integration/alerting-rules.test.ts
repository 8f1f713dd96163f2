import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleNotifier } from '../../functions/adapters/local/console-notifier.ts';
import { FileAlertStateStore } from '../../functions/adapters/local/file-alert-store.ts';
import { collectAlertInputs } from '../../functions/alerting/inputs.ts';
import { AuditTrail } from '../../functions/compliance/audit.ts';
import {
  ALERT_RULE_NAMES,
  type AlertRuleName,
  parseConfig,
  type RuntimeConfig,
} from '../../functions/config.ts';
import { connect } from '../../functions/db/connection.ts';
import { errorMessage } from '../../functions/errors.ts';
import { type AlertEvaluation, evaluateAlerts } from '../../functions/jobs/alert.ts';
import { collect } from '../../functions/monitor/collect.ts';
import { createTestDatabase, type TestDatabase, testServer } from '../support/db.ts';

/**
 * Every alert rule on real PostgreSQL: a test provokes the condition and sees the alert fire, the next
 * one removes it and sees the alert resolve, through the whole path (monitor.collect -> rules ->
 * lifecycle -> file state store -> console notifier). Each rule runs alone under its own target, with
 * pending and clear counts of 1. Some figures are server-wide (connections, transactions, lock waits,
 * replication); other test files share the server, so the clearing side samples until it holds.
 */

let db: TestDatabase;
let stateDir: string;
const printed: string[] = [];
const notifier = new ConsoleNotifier((t) => printed.push(t));
let store: FileAlertStateStore;

beforeAll(async () => {
  db = await createTestDatabase();
  stateDir = await mkdtemp(join(tmpdir(), 'dgm-alert-rules-'));
  store = new FileAlertStateStore(stateDir);
});

afterAll(async () => {
  await db?.drop();
  await rm(stateDir, { recursive: true, force: true });
});

/** A config where only `rule` is enabled, with the given thresholds, firing and clearing at once. */
function only(
  rule: AlertRuleName,
  thresholds: Record<string, number> = {},
  extra: {
    slowQueryThresholdMs?: number;
    monitoring?: Record<string, unknown>;
    alerting?: Record<string, unknown>;
  } = {},
): RuntimeConfig {
  return parseConfig({
    target: `rule_${rule}`,
    ...(extra.slowQueryThresholdMs !== undefined ? { slowQueryThresholdMs: extra.slowQueryThresholdMs } : {}),
    monitoring: extra.monitoring ?? {},
    alerting: {
      pendingSamples: 1,
      clearSamples: 1,
      minSampleSpacingSeconds: 0,
      ...extra.alerting,
      rules: Object.fromEntries(
        ALERT_RULE_NAMES.map((n) => [n, n === rule ? thresholds : { enabled: false }]),
      ),
    },
  });
}

/** One sampler run: collect, the audit-trail figures, then the alert job. */
async function sample(config: RuntimeConfig, client: pg.Client = db.client): Promise<AlertEvaluation> {
  const snapshot = await collect(client, {
    target: config.target,
    monitoring: config.monitoring,
    slowQueryThresholdMs: config.slowQueryThresholdMs,
    full: true,
  });
  const inputs = await collectAlertInputs(client);
  return evaluateAlerts({ store, notifier }, { config, input: { ok: true, snapshot, inputs } });
}

const sent = (r: AlertEvaluation, rule: string, transitions: string[], resource?: string) =>
  !!r.notification?.published &&
  r.notification.items.some(
    (i) => i.name === rule && transitions.includes(i.transition) && (!resource || i.resource === resource),
  );
const fired = (r: AlertEvaluation, rule: string, resource?: string) =>
  sent(r, rule, ['firing', 'escalated'], resource);
const resolved = (r: AlertEvaluation, rule: string, resource?: string) =>
  sent(r, rule, ['resolved'], resource);

/** Samples until the predicate holds (server-wide figures can be disturbed by other test files). */
async function until(
  config: RuntimeConfig,
  predicate: (r: AlertEvaluation) => boolean,
  options: { timeoutMs?: number; between?: () => Promise<void> } = {},
): Promise<AlertEvaluation> {
  const deadline = Date.now() + (options.timeoutMs ?? 45_000);
  let last: AlertEvaluation | undefined;
  while (Date.now() < deadline) {
    await options.between?.();
    last = await sample(config);
    if (predicate(last)) return last;
    await sleep(500);
  }
  throw new Error(
    `condition not reached; last evaluation: ${JSON.stringify({ rules: last?.rules, alerts: last?.alerts })}`,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alertOf(r: AlertEvaluation, rule: string, resource?: string) {
  return r.alerts.find((a) => a.name === rule && (!resource || a.resource === resource));
}

describe('database_unreachable', () => {
  const config = only('database_unreachable');
  it('fires when the sample cannot connect', async () => {
    const error = await connect({
      url: 'postgres://postgres@127.0.0.1:9/none',
      connectTimeoutMs: 2_000,
    }).then(
      () => 'connected',
      (err) => errorMessage(err),
    );
    expect(error).toMatch(/^cannot connect to 127\.0\.0\.1:9\/none/);
    const r = await evaluateAlerts({ store, notifier }, { config, input: { ok: false, error } });
    expect(fired(r, 'database_unreachable')).toBe(true);
    expect(alertOf(r, 'database_unreachable')).toMatchObject({
      state: 'firing',
      severity: 'critical',
      value: 1,
    });
    expect(printed.at(-1)).toContain('Sampling failed: cannot connect to 127.0.0.1:9/none');
  });
  it('resolves when a sample succeeds again', async () => {
    const r = await sample(config);
    expect(resolved(r, 'database_unreachable')).toBe(true);
  });
});

describe('slow_queries', () => {
  const config = only('slow_queries', {}, { slowQueryThresholdMs: 5 });
  const query = 'SELECT v FROM alert_slow WHERE k = $1';
  beforeAll(async () => {
    await db.client.query(
      'CREATE TABLE alert_slow AS SELECT g AS k, md5(g::text) AS v FROM generate_series(1, 500000) g',
    );
    await db.client.query('ANALYZE alert_slow');
    await sample(config);
  });
  it('fires when a statement averages above slow_query_threshold_ms', async () => {
    for (let i = 0; i < 5; i++) await db.client.query(query, [i * 1000 + 7]);
    const r = await sample(config);
    expect(fired(r, 'slow_queries')).toBe(true);
    expect(alertOf(r, 'slow_queries')?.message).toContain('SELECT v FROM alert_slow WHERE k = $1');
  });
  it('resolves once an index makes the statement fast', async () => {
    await db.client.query('CREATE INDEX alert_slow_k ON alert_slow (k)');
    const r = await until(config, (x) => resolved(x, 'slow_queries'), {
      between: async () => {
        for (let i = 0; i < 5; i++) await db.client.query(query, [i * 1000 + 7]);
      },
    });
    expect(alertOf(r, 'slow_queries')).toMatchObject({ state: 'resolved', value: 0 });
  });
});

describe('connection_utilization', () => {
  const extra: pg.Client[] = [];
  let config: RuntimeConfig;
  afterAll(async () => {
    await Promise.allSettled(extra.map((c) => c.end()));
  });
  it('fires when connections pass the utilization threshold', async () => {
    // 25 more connections; the threshold sits halfway, well clear of other test files' churn.
    const before = await collect(db.client, {
      target: 'probe',
      monitoring: parseConfig({}).monitoring,
      persist: false,
    });
    const usable = before.connections.maxConnections - before.connections.reservedConnections;
    const warning = (before.connections.total + 12) / usable;
    config = only('connection_utilization', { warning, critical: 0.999, clear: warning - 4 / usable });
    expect(before.connections.utilization).toBeLessThan(warning);
    for (let i = 0; i < 25; i++) extra.push(await connect({ url: db.url }));
    const r = await until(config, (x) => fired(x, 'connection_utilization'));
    expect(alertOf(r, 'connection_utilization')?.value).toBeGreaterThanOrEqual(warning);
    expect(alertOf(r, 'connection_utilization')?.message).toMatch(/^\d+ of \d+ usable connections in use/);
  });
  it('resolves when they are closed', async () => {
    await Promise.all(extra.splice(0).map((c) => c.end()));
    await until(config, (x) => resolved(x, 'connection_utilization'));
  });
});

describe('cache_hit_ratio', () => {
  const config = only('cache_hit_ratio');
  beforeAll(async () => {
    // Larger than a quarter of shared_buffers (128 MB on both servers): sequential scans go through a
    // small ring of buffers, so nearly every block is a read, not a hit.
    await db.client.query(
      "CREATE TABLE alert_cache WITH (autovacuum_enabled = false) AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 200000) g",
    );
    await sample(config);
  });
  it('fires when most blocks come from outside shared buffers', async () => {
    const r = await until(config, (x) => fired(x, 'cache_hit_ratio'), {
      between: async () => {
        for (let i = 0; i < 3; i++) await db.client.query('SELECT count(*) FROM alert_cache');
      },
    });
    expect(alertOf(r, 'cache_hit_ratio')?.value).toBeLessThan(0.9);
  });
  it('resolves when the workload is served from memory', async () => {
    await until(config, (x) => resolved(x, 'cache_hit_ratio'), {
      between: async () => {
        for (let i = 0; i < 200; i++) await db.client.query('SELECT count(*) FROM dgm.partition_config');
      },
    });
  });
});

describe('lock_waits', () => {
  const config = only('lock_waits', { warning: 2, critical: 600, clear: 1 });
  let holder: pg.Client;
  let waiter: pg.Client;
  let waiting: Promise<unknown>;
  beforeAll(async () => {
    await db.client.query('CREATE TABLE alert_lock (id int)');
    holder = await db.connect();
    waiter = await db.connect();
  });
  it('fires when a session waits for a lock longer than the threshold', async () => {
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE alert_lock IN ACCESS EXCLUSIVE MODE');
    waiting = waiter.query('SELECT count(*) FROM alert_lock');
    await sleep(3_000);
    const r = await sample(config);
    expect(fired(r, 'lock_waits')).toBe(true);
    expect(alertOf(r, 'lock_waits')?.message).toMatch(
      /wait for locks; longest [\d.]+ s \(pid \d+ blocked by \d+, relation\)/,
    );
  });
  it('resolves when the lock is released', async () => {
    await holder.query('COMMIT');
    await waiting;
    await until(config, (x) => resolved(x, 'lock_waits'));
  });
});

describe('deadlocks', () => {
  const config = only('deadlocks');
  beforeAll(async () => {
    await db.client.query('CREATE TABLE alert_deadlock (id int PRIMARY KEY, v int)');
    await db.client.query('INSERT INTO alert_deadlock VALUES (1, 0), (2, 0)');
    await sample(config);
  });
  it('fires on a deadlock', async () => {
    const a = await connect({ url: db.url });
    const b = await connect({ url: db.url });
    await a.query('BEGIN');
    await b.query('BEGIN');
    await a.query('UPDATE alert_deadlock SET v = 1 WHERE id = 1');
    await b.query('UPDATE alert_deadlock SET v = 1 WHERE id = 2');
    const outcomes = await Promise.allSettled([
      a.query('UPDATE alert_deadlock SET v = 2 WHERE id = 2'),
      b.query('UPDATE alert_deadlock SET v = 2 WHERE id = 1'),
    ]);
    expect(
      outcomes
        .filter((o) => o.status === 'rejected')
        .map((o) => errorMessage((o as PromiseRejectedResult).reason)),
    ).toEqual(['deadlock detected']);
    // Ending the sessions flushes their statistics (the deadlock counter) at once.
    await Promise.allSettled([a.query('ROLLBACK'), b.query('ROLLBACK')]);
    await Promise.allSettled([a.end(), b.end()]);
    const r = await until(config, (x) => fired(x, 'deadlocks'), { timeoutMs: 20_000 });
    expect(alertOf(r, 'deadlocks')).toMatchObject({ value: 1, severity: 'warning' });
  });
  it('resolves after an interval without deadlocks', async () => {
    const r = await until(config, (x) => resolved(x, 'deadlocks'));
    expect(alertOf(r, 'deadlocks')?.value).toBe(0);
  });
});

describe('long_running_transaction', () => {
  const config = only('long_running_transaction', { warning: 2, critical: 600, clear: 1 });
  let tx: pg.Client;
  it('fires when a transaction stays open past the threshold', async () => {
    tx = await db.connect();
    await tx.query('BEGIN');
    await tx.query('SELECT txid_current()');
    await sleep(3_000);
    await tx.query('SELECT 1');
    const r = await sample(config);
    expect(fired(r, 'long_running_transaction')).toBe(true);
  });
  it('resolves when it commits', async () => {
    await tx.query('COMMIT');
    await until(config, (x) => resolved(x, 'long_running_transaction'));
  });
});

describe('idle_in_transaction', () => {
  const config = only('idle_in_transaction', { warning: 2, critical: 600, clear: 1 });
  let tx: pg.Client;
  it('fires when a session sits idle inside a transaction', async () => {
    tx = await db.connect();
    await tx.query('BEGIN');
    await tx.query('SELECT 1');
    await sleep(3_000);
    const r = await sample(config);
    expect(fired(r, 'idle_in_transaction')).toBe(true);
    expect(alertOf(r, 'idle_in_transaction')?.message).toMatch(
      /session\(s\) idle in transaction; longest [\d.]+ s/,
    );
  });
  it('resolves when the transaction ends', async () => {
    await tx.query('ROLLBACK');
    await until(config, (x) => resolved(x, 'idle_in_transaction'));
  });
});

describe('disk_usage', () => {
  let config: RuntimeConfig;
  it('fires when the database fills the allocated storage', async () => {
    const size = async () =>
      Number(
        (await db.client.query<{ b: string }>('SELECT pg_database_size(current_database()) AS b')).rows[0]!.b,
      );
    // A table a third the size of the database: at 85% with it, the database alone is under 75%.
    const rows = Math.ceil((await size()) / 3 / 560);
    await db.client.query(
      "CREATE TABLE alert_disk AS SELECT g, repeat('y', 500) AS pad FROM generate_series(1, $1::int) g",
      [rows],
    );
    config = only(
      'disk_usage',
      {},
      { alerting: { storageCapacityBytes: Math.round((await size()) / 0.85) } },
    );
    const r = await sample(config);
    expect(fired(r, 'disk_usage')).toBe(true);
    expect(alertOf(r, 'disk_usage')?.message).toMatch(/uses .* of .* allocated \(8\d\.\d%\)/);
  });
  it('resolves when space is freed', async () => {
    await db.client.query('DROP TABLE alert_disk');
    const r = await sample(config);
    expect(resolved(r, 'disk_usage')).toBe(true);
  });
});

describe('table_bloat', () => {
  // The bloat estimate is a costlier query: a generous statement timeout keeps it from timing out (and
  // the rule from reading UNKNOWN) when the whole suite loads the machine.
  const config = only(
    'table_bloat',
    {},
    { alerting: { tableBloatMinBytes: 1024 * 1024 }, monitoring: { statementTimeoutMs: 60_000 } },
  );
  beforeAll(async () => {
    await db.client.query(
      "CREATE TABLE alert_bloat WITH (autovacuum_enabled = false) AS SELECT g AS id, repeat('z', 100) AS pad FROM generate_series(1, 100000) g",
    );
  });
  it('fires when most of a table is dead space', async () => {
    await db.client.query('DELETE FROM alert_bloat WHERE id % 10 <> 0');
    await db.client.query('ANALYZE alert_bloat');
    const r = await sample(config);
    expect(fired(r, 'table_bloat')).toBe(true);
    expect(alertOf(r, 'table_bloat')).toMatchObject({ resource: 'public.alert_bloat' });
  });
  it('resolves once the table is rewritten', async () => {
    // Rewritten as pg_repack would: copy the live rows, truncate, copy back. (VACUUM FULL would have to
    // keep the deleted rows while any other session of the suite holds an older snapshot.)
    await db.client.query('CREATE TEMP TABLE alert_bloat_live AS SELECT * FROM alert_bloat');
    await db.client.query('TRUNCATE alert_bloat');
    await db.client.query('INSERT INTO alert_bloat SELECT * FROM alert_bloat_live');
    await db.client.query('ANALYZE alert_bloat');
    const r = await sample(config);
    expect(resolved(r, 'table_bloat'), JSON.stringify({ rules: r.rules, transitions: r.transitions })).toBe(
      true,
    );
  });
});

describe('default_partition_rows', () => {
  const config = only('default_partition_rows');
  it('fires when rows land in a default partition', async () => {
    await db.client.query(
      "INSERT INTO dgm.performance_metrics (metric_name, metric_value, \"timestamp\") VALUES ('alert_test', 1, '2001-01-01')",
    );
    const r = await sample(config);
    expect(fired(r, 'default_partition_rows')).toBe(true);
    expect(alertOf(r, 'default_partition_rows')).toMatchObject({
      resource: 'dgm.performance_metrics',
      value: 1,
    });
  });
  it('resolves when the default partition is empty again', async () => {
    await db.client.query("DELETE FROM dgm.performance_metrics WHERE metric_name = 'alert_test'");
    const r = await sample(config);
    expect(resolved(r, 'default_partition_rows')).toBe(true);
  });
});

describe('partitions_running_out', () => {
  const config = only('partitions_running_out');
  it('fires when the future partitions of a managed set are gone', async () => {
    const { rows } = await db.client.query<{ name: string }>(
      `SELECT c.oid::regclass::text AS name
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'dgm.compliance_logs'::regclass
          AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
          AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), $$FROM \\('([^']+)'\\)$$))[1]::timestamptz > now()`,
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) await db.client.query(`DROP TABLE ${r.name}`);
    const r = await sample(config);
    expect(fired(r, 'partitions_running_out')).toBe(true);
    expect(alertOf(r, 'partitions_running_out')).toMatchObject({ resource: 'dgm.compliance_logs' });
  });
  it('resolves when partition maintenance premakes them again', async () => {
    await db.client.query('SELECT dgm.daily_partition_maintenance()');
    const r = await sample(config);
    expect(resolved(r, 'partitions_running_out')).toBe(true);
  });
});

describe('wraparound', () => {
  let config: RuntimeConfig;
  it('fires when the database age passes the threshold', async () => {
    const { rows } = await db.client.query<{ age: number }>(
      'SELECT greatest(age(datfrozenxid), mxid_age(datminmxid)) AS age FROM pg_database WHERE datname = current_database()',
    );
    const warning = Number(rows[0]!.age) + 500;
    config = only('wraparound', { warning, critical: warning * 100, clear: warning - 400 });
    // Burn 1000 transaction ids, one committed transaction each.
    await db.client.query(
      'CREATE PROCEDURE alert_burn_xids(n int) LANGUAGE plpgsql AS $$ BEGIN FOR i IN 1..n LOOP PERFORM txid_current(); COMMIT; END LOOP; END $$',
    );
    await db.client.query('CALL alert_burn_xids(1000)');
    const r = await sample(config);
    expect(fired(r, 'wraparound')).toBe(true);
  });
  it('resolves after VACUUM (FREEZE) advances datfrozenxid', async () => {
    await until(config, (x) => resolved(x, 'wraparound'), {
      between: async () => {
        await db.client.query('VACUUM (FREEZE)');
      },
    });
  });
});

describe('replication_slot_lag', () => {
  const slot = `dgm_alert_${Math.random().toString(36).slice(2, 10)}`;
  const config = only('replication_slot_lag', {
    warning: 1024 * 1024,
    critical: 1024 ** 4,
    clear: 512 * 1024,
  });
  afterAll(async () => {
    await db.client.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => {});
  });
  it('fires when a slot retains WAL its consumer has not confirmed', async () => {
    await db.client.query('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
    await db.client.query(
      "CREATE TABLE alert_wal AS SELECT g, repeat('w', 100) AS pad FROM generate_series(1, 30000) g",
    );
    const r = await sample(config);
    // Slots are server-wide: only ours is judged here.
    expect(fired(r, 'replication_slot_lag', `slot:${slot}`)).toBe(true);
    expect(alertOf(r, 'replication_slot_lag', `slot:${slot}`)?.message).toMatch(
      /^Slot dgm_alert_\w+ \(inactive\) retains [\d.]+ MiB of WAL$/,
    );
  });
  it('resolves when the consumer catches up', async () => {
    // Other test files write WAL on the same server (CREATE DATABASE logs whole databases): the
    // consumer confirms right before each sample, as a live one keeps doing.
    await until(config, (x) => resolved(x, 'replication_slot_lag', `slot:${slot}`), {
      between: async () => {
        await db.client.query('SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())', [slot]);
      },
    });
  });
});

describe('replication_lag', () => {
  // A real streaming standby needs pg_basebackup and a server binary of the same major version: the
  // Debian PostgreSQL 15 packages provide both for the pg15 server; the embedded PostgreSQL 18 package
  // ships only initdb, pg_ctl and postgres.
  const bin = '/usr/lib/postgresql/15/bin';
  const server = testServer();
  const canStandby = server.label === 'pg15' && existsSync(`${bin}/pg_basebackup`);
  const config = only('replication_lag', { warning: 2, critical: 600, clear: 1 });
  let dir = '';
  // The standby streams through a slot, so the primary keeps the WAL it needs while other test files
  // write a lot of it (a standby without one can fall behind a removed segment and never stream).
  const standbySlot = `dgm_alert_standby_${Math.random().toString(36).slice(2, 8)}`;
  const pgUser = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  const run = (args: string[]) => {
    const [cmd, ...rest] = [...pgUser, ...args];
    const out = spawnSync(cmd!, rest, { encoding: 'utf8', timeout: 120_000 });
    if (out.status !== 0) throw new Error(`${args.join(' ')}: ${out.stderr || out.stdout}`);
    return out.stdout;
  };
  const writeDelay = (seconds: number) =>
    writeFile(join(dir, 'data', 'postgresql.auto.conf'), `recovery_min_apply_delay = '${seconds}s'\n`, {
      flag: 'a',
    });

  afterAll(async () => {
    if (!dir) return;
    try {
      run([`${bin}/pg_ctl`, '-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop']);
    } catch {}
    await rm(dir, { recursive: true, force: true });
    await db.client.query('SELECT pg_drop_replication_slot($1)', [standbySlot]).catch(() => {});
  });

  /** The standby's log, for a failure message. */
  const standbyLog = () => {
    try {
      return readFileSync(join(dir, 'log'), 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '(no log)';
    }
  };

  it.skipIf(!canStandby)(
    'fires when a standby replays behind the threshold (pg15: a real streaming standby)',
    async () => {
      const u = new URL(server.url);
      dir = await mkdtemp(join(tmpdir(), 'dgm-standby-'));
      await chmod(dir, 0o777);
      run([
        `${bin}/pg_basebackup`,
        '-h',
        u.hostname,
        '-p',
        u.port,
        '-U',
        'postgres',
        '-D',
        join(dir, 'data'),
        '-R',
        '-X',
        'stream',
        '-C',
        '-S',
        standbySlot,
        '-c',
        'fast',
      ]);
      await writeDelay(5);
      const { rows } = await db.client.query<{ max_connections: string }>('SHOW max_connections');
      const port = String(20_000 + Math.floor(Math.random() * 20_000));
      run([
        `${bin}/pg_ctl`,
        '-D',
        join(dir, 'data'),
        '-l',
        join(dir, 'log'),
        '-w',
        'start',
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=${rows[0]!.max_connections} -c cluster_name=alert_standby -c shared_preload_libraries=''`,
      ]);
      await db.client.query('CREATE TABLE alert_repl (id int)');
      const r = await until(config, (x) => fired(x, 'replication_lag', 'replica:alert_standby'), {
        timeoutMs: 60_000,
        between: async () => {
          await db.client.query('INSERT INTO alert_repl VALUES (1)');
        },
      }).catch((err: Error) => {
        throw new Error(`${err.message}\nstandby log:\n${standbyLog()}`);
      });
      expect(alertOf(r, 'replication_lag')).toMatchObject({ resource: 'replica:alert_standby' });
    },
  );

  it.skipIf(!canStandby)('resolves when the standby replays without delay again', async () => {
    await writeDelay(0);
    run([`${bin}/pg_ctl`, '-D', join(dir, 'data'), 'reload']);
    await until(config, (x) => resolved(x, 'replication_lag', 'replica:alert_standby'), {
      timeoutMs: 60_000,
      between: async () => {
        await db.client.query('INSERT INTO alert_repl VALUES (2)');
        await sleep(500);
      },
    });
  });
});

describe('maintenance_failed', () => {
  const config = only('maintenance_failed');
  it('fires when the latest maintenance run had a failed action', async () => {
    const audit = new AuditTrail(db.client, 'maintain', db.config.constitutionalHash);
    await audit.record({
      action: 'create_partition',
      target: 'dgm.metrics_p2027_01',
      status: 'succeeded',
      durationMs: 4,
    });
    await audit
      .timed('drop_partition', 'dgm.metrics_p2025_01', 'DROP TABLE dgm.metrics_p2025_01', async () => {
        await db.client.query("SET lock_timeout = '10ms'");
        try {
          await db.client.query('SELECT pg_sleep(0.05) FROM dgm.no_such_table');
        } finally {
          await db.client.query('RESET lock_timeout');
        }
      })
      .catch(() => {});
    const r = await sample(config);
    expect(fired(r, 'maintenance_failed')).toBe(true);
    expect(alertOf(r, 'maintenance_failed')).toMatchObject({ resource: 'maintain', value: 1 });
    expect(alertOf(r, 'maintenance_failed')?.message).toContain(
      'drop_partition dgm.metrics_p2025_01: failed (relation "dgm.no_such_table" does not exist)',
    );
    // The advice names the failed run, not a placeholder.
    const advice = printed.join('\n');
    expect(advice).toContain(`SELECT * FROM dgm.optimization_audit WHERE run_id = '${audit.runId}'`);
    expect(advice).not.toContain('<run>');
  });
  it('resolves when the next run of the job succeeds', async () => {
    const audit = new AuditTrail(db.client, 'maintain', db.config.constitutionalHash);
    await audit.record({
      action: 'create_partition',
      target: 'dgm.metrics_p2027_02',
      status: 'succeeded',
      durationMs: 3,
    });
    const r = await sample(config);
    expect(resolved(r, 'maintenance_failed')).toBe(true);
  });
});

describe('compliance_violations', () => {
  const config = only('compliance_violations');
  it('fires on a critical compliance violation', async () => {
    await db.client.query(
      `INSERT INTO dgm.compliance_logs (compliance_level, violations) VALUES ('critical', '[{"rule": "alert-test"}]')`,
    );
    const r = await sample(config);
    expect(fired(r, 'compliance_violations')).toBe(true);
    expect(alertOf(r, 'compliance_violations')).toMatchObject({ severity: 'critical', value: 1 });
  });
  it('resolves when the violation is older than the 24-hour window', async () => {
    await db.client.query(
      `UPDATE dgm.compliance_logs SET created_at = now() - interval '25 hours' WHERE violations @> '[{"rule": "alert-test"}]'`,
    );
    const r = await sample(config);
    expect(resolved(r, 'compliance_violations')).toBe(true);
  });
});
