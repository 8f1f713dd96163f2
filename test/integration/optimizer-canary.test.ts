import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { optimizeDatabase } from '../../functions/jobs/optimize.ts';
import { cannotWrite } from '../../functions/optimizer/measure.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// The side-effect canary: the optimizer re-executes statements to measure their latency, and must
// execute only what cannot write. A slow SELECT calling a volatile function that inserts a row is
// judged by its plan alone; the application's tables are unchanged by `optimize --apply`.

let db: TestDatabase;
const SIDE = 'SELECT h.id, public.side_effect() FROM public.hot h WHERE h.k = 42';
const PURE = 'SELECT h.id, h.pad FROM public.hot h WHERE h.k2 = 7';

beforeAll(async () => {
  db = await createTestDatabase();
  await db.client.query(`
    CREATE TABLE public.hot (id int PRIMARY KEY, k int NOT NULL, k2 int NOT NULL, pad text NOT NULL);
    INSERT INTO public.hot SELECT g, g % 5000, g % 4000, repeat('x', 60) FROM generate_series(1, 120000) g;
    CREATE TABLE public.side_effects (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE FUNCTION public.side_effect() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
      BEGIN INSERT INTO public.side_effects DEFAULT VALUES; RETURN 1; END $$;`);
  await db.client.query('VACUUM ANALYZE public.hot');
  for (let i = 0; i < 20; i++) {
    await db.client.query(SIDE);
    await db.client.query(PURE);
  }
}, 300_000);
afterAll(async () => db?.drop());

const state = async () =>
  (
    await db.client.query<{ side: number; hot: string }>(
      `SELECT (SELECT count(*) FROM public.side_effects)::int AS side,
              (SELECT md5(string_agg(h::text, ',' ORDER BY id)) FROM public.hot h) AS hot`,
    )
  ).rows[0]!;

describe('optimize --apply executes only what cannot write', () => {
  it('the catalog check: volatile functions, writes and views that call them are refused, stable reads pass', async () => {
    await db.client.query(`
      CREATE VIEW public.hot_view AS SELECT id, public.side_effect() AS s FROM public.hot;
      CREATE VIEW public.pure_view AS SELECT id, k, upper(pad) AS pad FROM public.hot WHERE k2 > 3;
      CREATE VIEW public.pure_of_pure AS SELECT p.id FROM public.pure_view p JOIN public.hot h USING (id);
      CREATE VIEW public.side_of_pure AS SELECT v.id, v.s FROM public.pure_view p JOIN public.hot_view v USING (id);
      CREATE SEQUENCE public.ticket_seq;
      CREATE VIEW public.numbered AS SELECT id, nextval('public.ticket_seq') AS n FROM public.hot;`);
    expect(await cannotWrite(db.client, PURE)).toEqual({ safe: true });
    expect(
      await cannotWrite(db.client, 'SELECT count(*) FROM public.hot WHERE k = 1 AND id > length($1)'),
    ).toEqual({
      safe: true,
    });
    expect(await cannotWrite(db.client, SIDE)).toEqual({
      safe: false,
      reason: 'function public.side_effect is volatile or unknown',
    });
    expect(await cannotWrite(db.client, 'SELECT random() FROM public.hot')).toMatchObject({ safe: false });
    // A view is read from its definition (pg_get_viewdef: names as the search path sees them), to any
    // depth: what it calls decides.
    expect(await cannotWrite(db.client, 'SELECT * FROM public.hot_view')).toEqual({
      safe: false,
      reason: 'function side_effect is volatile or unknown',
    });
    expect(await cannotWrite(db.client, 'SELECT id FROM public.pure_view WHERE k = 3')).toEqual({
      safe: true,
    });
    expect(await cannotWrite(db.client, 'SELECT count(*) FROM pure_of_pure')).toEqual({ safe: true });
    expect(await cannotWrite(db.client, 'SELECT * FROM public.side_of_pure')).toEqual({
      safe: false,
      reason: 'function side_effect is volatile or unknown',
    });
    // A built-in volatile function (pinned: pg_depend records no dependency on it) in a view.
    expect(await cannotWrite(db.client, 'SELECT * FROM public.numbered WHERE id = 1')).toEqual({
      safe: false,
      reason: 'function nextval is volatile or unknown',
    });
    // System views are not read: refused.
    expect(await cannotWrite(db.client, 'SELECT * FROM pg_stat_activity')).toMatchObject({
      safe: false,
      reason: expect.stringContaining('not a table'),
    });
    expect(await cannotWrite(db.client, 'SELECT * FROM public.hot FOR UPDATE')).toMatchObject({
      safe: false,
    });
    expect(
      await cannotWrite(db.client, 'WITH d AS (DELETE FROM public.hot RETURNING id) SELECT * FROM d'),
    ).toMatchObject({ safe: false });
    expect(await cannotWrite(db.client, 'SELECT * INTO public.copy FROM public.hot')).toMatchObject({
      safe: false,
    });
    await db.client.query(
      'DROP VIEW public.side_of_pure, public.pure_of_pure, public.pure_view, public.hot_view, public.numbered; DROP SEQUENCE public.ticket_seq',
    );
  });

  it('a table whose row-level security policies apply to the role is not run: the policy runs on every read', async () => {
    const role = `dgm_rls_${process.pid}_${Date.now()}`;
    await db.client.query(`
      CREATE TABLE public.tenant_rows (id int PRIMARY KEY, tenant int NOT NULL);
      ALTER TABLE public.tenant_rows ENABLE ROW LEVEL SECURITY;
      CREATE POLICY audit_read ON public.tenant_rows FOR SELECT USING (public.side_effect() = 1);
      CREATE ROLE ${role};
      GRANT USAGE ON SCHEMA public TO ${role};
      GRANT SELECT ON public.tenant_rows TO ${role};`);
    try {
      const sql = 'SELECT id FROM public.tenant_rows WHERE tenant = 3';
      // The superuser bypasses the policies: nothing but the table is read.
      expect(await cannotWrite(db.client, sql)).toEqual({ safe: true });
      await db.client.query(`SET ROLE ${role}`);
      expect(await cannotWrite(db.client, sql)).toEqual({
        safe: false,
        reason: 'reads public.tenant_rows, whose row-level security policies apply to this role',
      });
    } finally {
      await db.client.query('RESET ROLE');
      await db.client.query(`DROP TABLE public.tenant_rows; DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });

  it('the canary: the side-effect statement is planned, not run; the pure one is measured', async () => {
    const before = await state();
    expect(before.side).toBeGreaterThan(0);
    const config = parseConfig({ optimization: { verifyRuns: 3, minLatencyImprovement: 0.01 } });
    const r = await optimizeDatabase(db.client, config, {
      apply: true,
      examples: [
        { sql: SIDE, name: 'side effect', source: 'test' },
        { sql: PURE, name: 'pure', source: 'test' },
      ],
    });
    expect(r.status).toBe('succeeded');
    // The optimizer did work on both statements: an index for each was built and checked.
    const built = r.actions.filter((a) => a.action === 'create_index' && a.status === 'succeeded');
    expect(built.length).toBe(2);
    const sideIx = r.verification.find((v) => v.used_by.includes('side effect'));
    const pureIx = r.verification.find((v) => v.used_by.includes('pure'));
    expect(sideIx).toMatchObject({ plan_uses: true, measured: false, latency: [] });
    expect(pureIx).toMatchObject({ plan_uses: true, measured: true });
    // Nothing the application owns changed.
    expect(await state()).toEqual(before);
  });
});
