import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../../functions/monitor/collect.ts';
import type {
  BloatStats,
  PartitionStats,
  PruningStats,
  Snapshot,
  StatementStats,
} from '../../functions/monitor/snapshot.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// Every KPI of the issue, provoked on a real server, then read back from a snapshot.

let db: TestDatabase;
const target = 'kpis';

async function sample(full: 'auto' | boolean = 'auto', extra: Partial<{ topStatements: number }> = {}) {
  return collect(db.client, {
    target,
    monitoring: { ...db.config.monitoring, ...extra },
    full,
  });
}

/** Makes a backend's statistics visible to others now (PG15+ flushes them at most once a second). */
async function flushStats(c: pg.Client) {
  await c.query('SELECT pg_stat_force_next_flush()');
  await c.query('SELECT 1');
}

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('sampling KPIs', () => {
  it('takes a first sample in at most three round trips, with no rates', async () => {
    const s = await collect(db.client, {
      target: 'first',
      monitoring: db.config.monitoring,
      full: false,
      timeoutsPreset: true,
    });
    expect(s.roundTrips).toBeLessThanOrEqual(3);
    expect(s.intervalSeconds).toBeNull();
    expect(s.baseline.reason).toMatch(/first sample/);
    expect(s.cache.hitRatio).toBeNull();
    expect(s.locks.deadlocksInInterval).toBeNull();
    expect(s.baseline.stored).toBe(true);
    expect(s.server.dgmSchema).toBe(true);
    const st = s.statements as StatementStats;
    expect(st.available).toBe(true);
    expect(st.callsInInterval).toBeNull();
    // Without the costly figures ever collected for this target, no database size (never a made-up 0).
    expect(s.storage.databaseBytes).toBeNull();
    // The second sample has rates over the interval.
    await db.client.query('SELECT count(*) FROM pg_class');
    await flushStats(db.client);
    const s2 = await collect(db.client, {
      target: 'first',
      monitoring: db.config.monitoring,
      full: false,
      timeoutsPreset: true,
    });
    expect(s2.roundTrips).toBeLessThanOrEqual(3);
    expect(s2.intervalSeconds).toBeGreaterThan(0);
    expect(s2.transactions.commitsPerSecond).toBeGreaterThan(0);
    expect((s2.statements as StatementStats).callsInInterval).toBeGreaterThanOrEqual(1);
  });

  it('counts slow statements and reads their pattern, operation and table with the real parser', async () => {
    await sample();
    await db.client.query(
      `CREATE TABLE public.orders (id bigserial PRIMARY KEY, status text, total numeric)`,
    );
    await db.client.query(
      `INSERT INTO public.orders (status, total) SELECT 'new', g FROM generate_series(1, 100) g`,
    );
    // Seen under EXPLAIN first (a nested entry with the EXPLAIN around its text), then run: the pattern
    // is read from the top-level entry.
    await db.client.query(
      `EXPLAIN SELECT count(*), pg_sleep(0.25) FROM orders WHERE status = 'new' AND total > 9`,
    );
    for (let i = 0; i < 2; i++) {
      await db.client.query(
        `SELECT count(*), pg_sleep(0.25) FROM orders WHERE status = 'new' AND total > ${i}`,
      );
    }
    await db.client.query(`UPDATE orders SET total = total + 1 WHERE id = 5`);
    const s = await sample();
    const st = s.statements as StatementStats;
    expect(st.slowStatements).toBeGreaterThanOrEqual(1);
    expect(st.slowStatementsInInterval).toBeGreaterThanOrEqual(1);
    expect(st.slowCallsInInterval).toBeGreaterThanOrEqual(2);
    const slow = st.slowPatterns.find((p) => p.normalized.includes('pg_sleep'));
    expect(slow).toBeDefined();
    expect(slow!.operation).toBe('select');
    expect(slow!.mainTable).toEqual({ schema: 'public', name: 'orders' });
    expect(slow!.normalized).toMatch(/^SELECT count\(\*\), pg_sleep\(\$\d\) FROM orders WHERE status = \$\d/);
    expect(slow!.intervalCalls).toBe(2);
    expect(slow!.intervalMeanMs).toBeGreaterThan(200);
    expect(st.avgQueryMs).toBeGreaterThan(0);
    const byOp = st.byOperationTable.find((d) => d.operation === 'select' && d.table === 'orders');
    expect(byOp?.meanSeconds).toBeGreaterThan(0.2);
    // The sampler leaves its own statements out of the workload.
    expect(st.top.some((t) => t.normalized.includes('stat_statement_baseline'))).toBe(false);
    // A statement already parsed is not read again.
    const again = await sample();
    expect((again.statements as StatementStats).textsFetched).toBe(0);
  });

  it('sees a blocked lock as a lock wait, and connections by state', async () => {
    await db.client.query('CREATE TABLE public.locked_t (id int PRIMARY KEY, v int)');
    await db.client.query('INSERT INTO public.locked_t VALUES (1, 0)');
    const holder = await db.connect();
    const waiter = await db.connect();
    const pid = async (c: pg.Client) =>
      (await c.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
    const holderPid = await pid(holder);
    const waiterPid = await pid(waiter);
    await holder.query('BEGIN');
    await holder.query('UPDATE locked_t SET v = v + 1 WHERE id = 1');
    const waiting = waiter.query('UPDATE locked_t SET v = v + 1 WHERE id = 1');
    try {
      let s: Snapshot | undefined;
      for (let i = 0; i < 50; i++) {
        s = await sample();
        if (s.locks.waiting > 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(s!.locks.waiting).toBeGreaterThanOrEqual(1);
      const blocked = s!.locks.blocked.find((b) => b.blockedBy.includes(holderPid));
      expect(blocked?.pid).toBe(waiterPid);
      expect(s!.connections.byState.idle_in_transaction).toBeGreaterThanOrEqual(1);
      expect(s!.connections.longestTransactionSeconds).toBeGreaterThan(0);
      expect(s!.connections.longestIdleInTransactionSeconds).toBeGreaterThanOrEqual(0);
      expect(s!.connections.byState.active).toBeGreaterThanOrEqual(2);
      expect(s!.connections.utilization).toBeGreaterThan(0);
      expect(s!.locks.byMode.RowExclusiveLock).toBeGreaterThanOrEqual(1);
    } finally {
      await holder.query('ROLLBACK');
      await waiting;
    }
  });

  it('counts a deadlock in the interval', async () => {
    await db.client.query('CREATE TABLE public.dl (id int PRIMARY KEY, v int)');
    await db.client.query('INSERT INTO public.dl VALUES (1, 0), (2, 0)');
    await sample();
    const a = await db.connect();
    const b = await db.connect();
    await a.query('BEGIN');
    await b.query('BEGIN');
    await a.query('UPDATE dl SET v = 1 WHERE id = 1');
    await b.query('UPDATE dl SET v = 1 WHERE id = 2');
    const results = await Promise.allSettled([
      a.query('UPDATE dl SET v = 2 WHERE id = 2'),
      b.query('UPDATE dl SET v = 2 WHERE id = 1'),
    ]);
    expect(results.some((r) => r.status === 'rejected')).toBe(true);
    await a.query('ROLLBACK');
    await b.query('ROLLBACK');
    await flushStats(a);
    await flushStats(b);
    const s = await sample();
    expect(s.locks.deadlocksInInterval).toBe(1);
    expect(s.locks.deadlocksTotal).toBeGreaterThanOrEqual(1);
  });

  it('reports temp files, cache hit ratios per table, checkpoints and WAL', async () => {
    await db.client.query('CREATE TABLE public.big (id int, pad text)');
    await db.client.query(
      `INSERT INTO public.big SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g`,
    );
    await sample();
    const c = await db.connect();
    await c.query(`SET work_mem = '64kB'`);
    await c.query('SELECT id FROM big ORDER BY pad DESC, id OFFSET 19990');
    await c.query('SELECT count(*) FROM big');
    await c.query('CHECKPOINT');
    await flushStats(c);
    const s = await sample();
    expect(s.temp.filesInInterval).toBeGreaterThanOrEqual(1);
    expect(s.temp.bytesInInterval).toBeGreaterThan(0);
    expect(s.cache.hitRatio).not.toBeNull();
    expect(s.cache.hitRatio!).toBeGreaterThan(0);
    const big = s.cache.tables.find((t) => t.table.name === 'big');
    expect(big?.hitRatioTotal).not.toBeNull();
    expect(s.checkpoints.requestedInInterval).toBeGreaterThanOrEqual(1);
    expect(s.wal.available && s.wal.bytesPerSecond! > 0).toBe(true);
    expect(s.storage.tables.some((t) => t.table.name === 'big' && t.totalBytes > 1_000_000)).toBe(true);
    expect(s.storage.databaseBytes).toBeGreaterThan(1_000_000);
  });

  it('ranks tables by size without opening each: grown since their last ANALYZE, measured when never analyzed', async () => {
    await db.client.query('CREATE TABLE public.grown (id int, pad text)');
    await db.client.query(
      `INSERT INTO public.grown SELECT g, repeat('y', 200) FROM generate_series(1, 100) g`,
    );
    await db.client.query('ANALYZE public.grown');
    await db.client.query(
      `INSERT INTO public.grown SELECT g, repeat('y', 200) FROM generate_series(1, 40000) g`,
    );
    await db.client.query('CREATE TABLE public.fresh (id int, pad text)');
    await db.client.query(
      `INSERT INTO public.fresh SELECT g, repeat('z', 200) FROM generate_series(1, 30000) g`,
    );
    await flushStats(db.client);
    const s = await sample(false);
    const byName = new Map(s.storage.tables.map((t) => [t.table.name, t]));
    // pg_class still says a few pages for "grown" and nothing for "fresh": the ranking saw past both.
    expect(byName.get('grown')?.totalBytes).toBeGreaterThan(8_000_000);
    expect(byName.get('fresh')?.totalBytes).toBeGreaterThan(6_000_000);
    const { rows } = await db.client.query<{ relname: string; relpages: number }>(
      `SELECT relname, relpages FROM pg_class WHERE relname IN ('grown', 'fresh') ORDER BY relname`,
    );
    expect(rows[0]).toEqual({ relname: 'fresh', relpages: 0 });
    expect(rows[1]!.relpages).toBeLessThan(10);
  });

  it('finds unused and invalid indexes, scans per index and the stats age behind them', async () => {
    await db.client.query('CREATE TABLE public.ix (id int PRIMARY KEY, a int, b int)');
    await db.client.query('INSERT INTO public.ix SELECT g, g % 10, g FROM generate_series(1, 1000) g');
    await db.client.query('INSERT INTO public.ix VALUES (1001, 1, 5)');
    await db.client.query('CREATE INDEX ix_a_unused ON public.ix (a)');
    await expect(
      db.client.query('CREATE UNIQUE INDEX CONCURRENTLY ix_b_invalid ON public.ix (b)'),
    ).rejects.toThrow();
    await db.client.query('SET enable_seqscan = off');
    for (let i = 0; i < 5; i++) await db.client.query('SELECT * FROM public.ix WHERE id = $1', [i + 1]);
    await db.client.query('RESET enable_seqscan');
    await flushStats(db.client);
    const s = await sample();
    expect(s.indexes.invalid.map((i) => i.index.name)).toContain('ix_b_invalid');
    expect(s.indexes.invalidCount).toBeGreaterThanOrEqual(1);
    const unused = s.indexes.unused.map((i) => i.index.name);
    expect(unused).toContain('ix_a_unused');
    expect(unused).not.toContain('ix_pkey');
    expect(unused).not.toContain('ix_b_invalid');
    expect(s.indexes.statsAgeDays).toBeGreaterThanOrEqual(0);
    expect(s.indexes.unusedTrusted).toBe(s.indexes.statsAgeDays >= 7);
    const pkey = s.indexes.top.find((i) => i.index.name === 'ix_pkey');
    expect(pkey?.scansTotal).toBeGreaterThanOrEqual(5);
  });

  it('counts rows in default partitions, partitions ahead and the size distribution of managed sets', async () => {
    await db.client.query(
      `INSERT INTO dgm.performance_metrics (metric_name, metric_value, "timestamp")
       SELECT 'late', g, now() + interval '5 years' + g * interval '1 minute' FROM generate_series(1, 7) g`,
    );
    const s = await sample();
    const p = s.partitions as PartitionStats;
    expect(p.available).toBe(true);
    const pm = p.sets.find((x) => x.parent.name === 'performance_metrics')!;
    expect(pm.managed).toBe(true);
    expect(pm.defaultRows).toBe(7);
    expect(pm.defaultPartitions).toBe(1);
    expect(pm.partitions).toBeGreaterThan(2);
    expect(pm.maxBytes).toBeGreaterThanOrEqual(pm.minBytes);
    expect(pm.aheadDays).toBeGreaterThan(0);
    expect(pm.partitionInterval).toBe('1 mon');
    expect(p.defaultRowsTotal).toBeGreaterThanOrEqual(7);
    expect(p.sets.map((x) => x.parent.name).sort()).toEqual([
      'compliance_logs',
      'dgm_archive',
      'performance_metrics',
    ]);
  });

  it('measures partition pruning of the top statements on their generic plans', async () => {
    await db.client.query(
      `INSERT INTO dgm.performance_metrics (metric_name, metric_value, "timestamp")
       SELECT 'cpu', g, now() - g * interval '1 hour' FROM generate_series(1, 200) g`,
    );
    for (let i = 0; i < 3; i++) {
      await db.client.query(
        `SELECT avg(metric_value) FROM dgm.performance_metrics WHERE "timestamp" > now() - interval '2 hours'`,
      );
      await db.client.query(
        `SELECT count(*), pg_sleep(0.01) FROM dgm.performance_metrics WHERE metric_name = 'cpu'`,
      );
      await db.client.query(`SELECT max(metric_value) FROM dgm.performance_metrics WHERE "timestamp" >= $1`, [
        new Date(Date.now() - 3_600_000),
      ]);
    }
    const s = await sample(true, { topStatements: 50 });
    const pr = s.pruning as PruningStats;
    expect(pr.available).toBe(true);
    expect(pr.method).toBe('prepared_generic_plan');
    const byText = (needle: string) => pr.statements.find((x) => x.normalized.includes(needle));
    const all = byText('metric_name =');
    // pg_stat_statements turns the interval literal into a parameter too.
    const recent = byText('now()');
    const param = byText('"timestamp" >= $1');
    expect(all?.scannedShare).toBe(1);
    expect(all?.partitionsScanned).toBe(all?.partitionsTotal);
    expect(recent).toBeDefined();
    expect(recent!.scannedShare).toBeLessThan(1);
    expect(recent!.subplansRemoved).toBeGreaterThan(0);
    expect(param?.parameterPruning).toBe(true);
    expect(param!.scannedShare).toBeLessThan(1);
    expect(pr.worstScannedShare).toBe(1);
  });

  it('estimates bloat, dead tuples and wraparound age; skips tables held under ACCESS EXCLUSIVE', async () => {
    await db.client.query('CREATE TABLE public.churn (id int, v text) WITH (autovacuum_enabled = off)');
    await db.client.query(
      `INSERT INTO public.churn SELECT g, repeat('y', 100) FROM generate_series(1, 20000) g`,
    );
    await db.client.query('ANALYZE public.churn');
    await db.client.query('DELETE FROM public.churn WHERE id % 4 <> 0');
    await db.client.query('ANALYZE public.churn');
    await flushStats(db.client);
    const holder = await db.connect();
    await holder.query('CREATE TABLE public.held (id int)');
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE public.held IN ACCESS EXCLUSIVE MODE');
    try {
      const t0 = performance.now();
      const s = await sample(true, {});
      expect(performance.now() - t0).toBeLessThan(4_000);
      expect(s.storage.skippedLocked).toContain('held');
      const b = s.bloat as BloatStats;
      expect(b.available).toBe(true);
      const churn = b.tables.find((t) => t.table.name === 'churn');
      expect(churn?.bloatRatio).toBeGreaterThan(0.5);
      expect(b.maxBloatRatio).toBeGreaterThan(0.5);
      expect(s.storage.deadTuplesTotal).toBeGreaterThanOrEqual(15_000);
      expect(s.wraparound.xidAge).toBeGreaterThan(0);
      expect(s.wraparound.maxXidAge).toBeGreaterThanOrEqual(s.wraparound.xidAge);
      expect(s.wraparound.wraparoundRatio).toBeLessThan(0.5);
    } finally {
      await holder.query('ROLLBACK');
    }
  });

  it('carries the costly figures between their collections', async () => {
    const s = await sample('auto');
    expect(s.fullCollection).toBe(false);
    // The sampler's nested statements (default partition counts, pruning EXPLAINs) are not workload.
    const st = s.statements as StatementStats;
    for (const x of [...st.top, ...st.slowPatterns]) {
      expect(x.normalized).not.toMatch(/dgm-db-ops:sampler|FROM ONLY|plan_cache_mode|bloat_leaf/);
    }
    expect(s.bloat.available).toBe(true);
    expect((s.bloat as BloatStats).collectedAt < s.takenAt).toBe(true);
    // The database size comes with them: carried, with the time it was measured.
    expect(s.storage.databaseBytes).toBeGreaterThan(1_000_000);
    expect(s.storage.databaseBytesAt).toBe((s.bloat as BloatStats).collectedAt);
    const now = await sample(true);
    expect(now.storage.databaseBytesAt).toBe(now.takenAt);
    const { rows } = await db.client.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n');
    expect(Math.abs(now.storage.databaseBytes! - Number(rows[0]!.n))).toBeLessThan(1_000_000);
  });

  it('reports replication slots, and the domain: archive compliance and critical violations', async () => {
    const slot = `dgm_test_slot_${db.name}`;
    await db.client.query('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
    try {
      await db.client.query(
        `INSERT INTO dgm.dgm_archive (status, constitutional_compliance_score, created_at)
         VALUES ('completed', 0.9, now() - interval '1 hour'), ('completed', 0.7, now() - interval '2 hours'),
                ('failed', 0.2, now() - interval '3 days')`,
      );
      await db.client.query(
        `INSERT INTO dgm.compliance_logs (compliance_level, created_at)
         VALUES ('critical', now() - interval '1 hour'), ('critical', now()), ('violation', now()), ('compliant', now())`,
      );
      // The archive scores come with the costly figures.
      const s = await sample(true);
      expect(s.replication.role).toBe('primary');
      const mine = s.replication.slots.find((x) => x.name === slot);
      expect(mine?.retainedBytes).toBeGreaterThanOrEqual(0);
      expect(s.replication.maxSlotRetainedBytes).not.toBeNull();
      expect(s.compliance.available).toBe(true);
      if (!s.compliance.available) return;
      expect(s.compliance.recentArchiveScore).toBeCloseTo(0.8, 5);
      expect(s.compliance.archiveRows24h).toBe(2);
      expect(s.compliance.archiveScore30d).toBeCloseTo(0.6, 5);
      expect(s.compliance.archiveMeasuredAt).toBe(s.takenAt);
      expect(s.compliance.criticalViolations24h).toBe(2);
      expect(s.compliance.violations24h).toBe(3);
      expect(s.compliance.constitutionHash).toBe(db.config.constitutionalHash);
      // A regular sample counts new violations at once and carries the archive scores.
      await db.client.query(`INSERT INTO dgm.compliance_logs (compliance_level) VALUES ('critical')`);
      const next = await sample('auto');
      expect(next.fullCollection).toBe(false);
      if (!next.compliance.available) throw new Error('compliance unavailable');
      expect(next.compliance.criticalViolations24h).toBe(3);
      expect(next.compliance.recentArchiveScore).toBeCloseTo(0.8, 5);
      expect(next.compliance.archiveMeasuredAt).toBe(s.takenAt);
    } finally {
      await db.client.query('SELECT pg_drop_replication_slot($1)', [slot]);
    }
  });
});
