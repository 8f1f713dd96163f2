import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexesUsed } from '../../functions/db/explain.ts';
import { REFERENCE_QUERIES } from '../../functions/demo/reference-queries.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  // Half the demo: enough rows that the planner prefers the indexes, as it does at full size.
  db = await createTestDatabase({ demoScale: 0.5 });
});
afterAll(async () => db?.drop());

const DESIGN_INDEXES: Record<string, RegExp> = {
  idx_dgm_archive_status_compliance_created:
    /\(status, constitutional_compliance_score DESC, created_at DESC\)$/,
  idx_performance_metrics_name_timestamp: /\(metric_name, "timestamp" DESC\)$/,
  idx_bandit_states_context_reward: /\(context_key, average_reward DESC, last_updated DESC\)$/,
  idx_performance_metrics_recent:
    /\("timestamp" DESC\) INCLUDE \(metric_name, metric_value\) WHERE \("timestamp" >= '\d{4}-\d\d-01/,
  idx_workspaces_active:
    /\(updated_at DESC\) WHERE \(status = ANY \(ARRAY\['active'::text, 'pending'::text\]\)\)$/,
  idx_compliance_logs_critical:
    /\(created_at DESC\) WHERE \(compliance_level = ANY \(ARRAY\['violation'::text, 'critical'::text\]\)\)$/,
  idx_dgm_archive_metadata_gin: /USING gin \(metadata jsonb_path_ops\)$/,
  idx_dgm_archive_tags_gin: /USING gin \(tags\)$/,
  idx_compliance_logs_violations_gin: /USING gin \(violations jsonb_path_ops\)$/,
};

describe('the design schema', () => {
  it('has every design index: 3 composite, 3 partial, 3 GIN', async () => {
    const { rows } = await db.client.query<{ name: string; def: string }>(
      `SELECT c.relname AS name, pg_get_indexdef(c.oid) AS def FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'dgm' AND c.relname = ANY($1)`,
      [Object.keys(DESIGN_INDEXES)],
    );
    expect(rows.map((r) => r.name).sort()).toEqual(Object.keys(DESIGN_INDEXES).sort());
    for (const r of rows) expect(r.def, r.name).toMatch(DESIGN_INDEXES[r.name]!);
  });

  it.each(REFERENCE_QUERIES.map((q) => [q.name, q] as const))(
    'reference query %s uses its design index',
    async (_, q) => {
      expect(await indexesUsed(db.client, q.sql, q.params())).toContain(q.index);
    },
  );

  it('sets the design autovacuum settings on the high-write tables and every partition', async () => {
    const { rows } = await db.client.query<{ relname: string; reloptions: string[] | null }>(
      `SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'dgm' AND c.relkind = 'r'
         AND (c.relispartition OR c.relname IN ('bandit_states', 'workspaces'))`,
    );
    const expected = [
      'autovacuum_vacuum_scale_factor=0.1',
      'autovacuum_analyze_scale_factor=0.05',
      'autovacuum_vacuum_cost_delay=10',
    ];
    const leavesWithout = rows.filter(
      (r) => !r.relname.endsWith('_default') && !expected.every((e) => r.reloptions?.includes(e)),
    );
    expect(rows.length).toBeGreaterThan(40);
    expect(leavesWithout.map((r) => r.relname)).toEqual([]);
  });
});

describe('partition routing', () => {
  async function landsIn(table: string, columns: string, values: unknown[]): Promise<string> {
    const placeholders = values.map((_, i) => `$${i + 1}`).join(', ');
    const { rows } = await db.client.query<{ part: string }>(
      `INSERT INTO dgm.${table} (${columns}) VALUES (${placeholders}) RETURNING tableoid::regclass::text AS part`,
      values,
    );
    return rows[0]!.part;
  }

  it('routes archive rows to the month (UTC) and status sub-partitions whatever the session time zone', async () => {
    await db.client.query(`SET TimeZone = 'America/Los_Angeles'`);
    try {
      const now = new Date();
      const y = now.getUTCFullYear();
      const m = now.getUTCMonth() + 1;
      const first = `${y}-${String(m).padStart(2, '0')}-01 00:00:00+00`;
      const tag = `${y}m${String(m).padStart(2, '0')}`;
      const cols = 'status, constitutional_compliance_score, created_at';
      expect(await landsIn('dgm_archive', cols, ['completed', 0.9, first])).toBe(
        `dgm.dgm_archive_y${tag}_completed`,
      );
      expect(await landsIn('dgm_archive', cols, ['rolled_back', 0.9, first])).toBe(
        `dgm.dgm_archive_y${tag}_rolled_back`,
      );
      expect(await landsIn('dgm_archive', cols, ['unheard-of', 0.9, first])).toBe(
        `dgm.dgm_archive_y${tag}_default`,
      );
      // One microsecond before the month starts (UTC) is the previous month.
      const before = new Date(Date.parse(first.replace(' ', 'T').replace('+00', 'Z')) - 1);
      const prev = `${before.getUTCFullYear()}m${String(before.getUTCMonth() + 1).padStart(2, '0')}`;
      expect(await landsIn('dgm_archive', cols, ['failed', 0.9, before.toISOString()])).toBe(
        `dgm.dgm_archive_y${prev}_failed`,
      );
      // Far outside the partitioned range: the default partition, never an error.
      expect(await landsIn('dgm_archive', cols, ['completed', 0.9, '2099-01-01T00:00:00Z'])).toBe(
        'dgm.dgm_archive_default',
      );
    } finally {
      await db.client.query('RESET TimeZone');
    }
  });

  it('routes metrics and compliance logs to their month partitions', async () => {
    expect(
      await landsIn('performance_metrics', 'metric_name, metric_value, "timestamp"', ['x', 1, new Date()]),
    ).toMatch(/^dgm\.performance_metrics_y\d{4}m\d\d$/);
    expect(
      await landsIn('compliance_logs', 'compliance_level, created_at', ['critical', '2099-06-01T00:00:00Z']),
    ).toBe('dgm.compliance_logs_default');
  });
});
