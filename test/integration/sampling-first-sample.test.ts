import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { collect } from '../../functions/monitor/collect.ts';
import type { StatementStats } from '../../functions/monitor/snapshot.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// The first sample of a database just migrated (or just given to the tool): its statements are not judged
// yet, and DDL that is not the application's ranks above a light workload. Those unjudged statements must
// not take the workload's places in the top list: the sample would then list no workload at all (the
// exporter's first scrape had no dgm_db_query_duration_seconds series).
let db: TestDatabase;
const monitoring = parseConfig({ monitoring: { topStatements: 3 } }).monitoring;

beforeAll(async () => {
  db = await createTestDatabase();
  const { rows } = await db.client.query<{ oid: number }>(
    'SELECT oid FROM pg_database WHERE datname = current_database()',
  );
  await db.client.query('SELECT pg_stat_statements_reset(0, $1, 0)', [rows[0]!.oid]);
  // Six utility statements, each far heavier than the whole workload below: twice topStatements, as many
  // as the old pick (2 * topStatements) took. The workload is heavier than the session's incidental
  // statements (SET, the reset above), so what ranks above it is this DDL and the workload's own INSERT.
  for (let i = 0; i < 6; i++) {
    await db.client.query(
      `CREATE TABLE public.heavy_${i} AS SELECT g AS id FROM generate_series(1, 30000) g`,
    );
  }
  await db.client.query('CREATE TABLE public.light (id int, v text)');
  await db.client.query(`INSERT INTO public.light SELECT g, 'v' || g FROM generate_series(1, 3000) g`);
  for (let i = 1; i <= 5; i++) await db.client.query('SELECT v FROM public.light WHERE id = $1', [i]);
});
afterAll(async () => db?.drop());

describe('the first sample of a database whose DDL outranks its workload', () => {
  let first: StatementStats;

  it('lists the workload: the unjudged DDL does not fill the top list', async () => {
    const snap = await collect(db.client, { target: 'own', monitoring, full: true });
    first = snap.statements as StatementStats;
    expect(first.available).toBe(true);
    const top = first.top.map((s) => s.normalized);
    expect(top).toContain('SELECT v FROM public.light WHERE id = $1');
    expect(top.filter((t) => /^CREATE TABLE/i.test(t))).toEqual([]);
    expect(first.byOperationTable.map((d) => `${d.operation} ${d.schema}.${d.table}`)).toContain(
      'select public.light',
    );
  });

  it('and so does the next, from the judgements the first one stored', async () => {
    for (let i = 1; i <= 3; i++) await db.client.query('SELECT v FROM public.light WHERE id = $1', [i]);
    const snap = await collect(db.client, { target: 'own', monitoring, full: false });
    const st = snap.statements as StatementStats;
    const light = st.top.find((s) => s.normalized === 'SELECT v FROM public.light WHERE id = $1');
    expect(light?.intervalCalls).toBe(3);
    expect(st.top.filter((s) => /^CREATE TABLE/i.test(s.normalized))).toEqual([]);
  });
});
