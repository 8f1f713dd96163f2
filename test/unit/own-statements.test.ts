import { parseSync } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  markOwnStatement,
  notWorkloadReason,
  OWN_FUNCTIONS,
  OWN_SCHEMA,
  OWN_TABLES,
  ownComment,
  redactLiterals,
  SAMPLER_COMMENT,
} from '../../functions/monitor/own-statements.ts';
import { loadStatementParser, shapeOf } from '../../functions/monitor/statement-shape.ts';
import { MIGRATIONS } from '../../functions/sql/migrations/index.ts';

beforeAll(async () => {
  await loadStatementParser();
});

const judge = (sql: string) => notWorkloadReason(sql, shapeOf(sql));

describe('only the application statements are workload', () => {
  it("leaves out statements marked as the tool's own, wherever the marker is", () => {
    expect(judge(`SELECT ${SAMPLER_COMMENT} count(*) FROM app.orders`)).toBe('marked');
    expect(judge(`INSERT ${ownComment('demo')} INTO app.orders SELECT g FROM generate_series(1, $1) g`)).toBe(
      'marked',
    );
    expect(
      judge(`WITH /* dgm-db-ops:sampler */ params AS (SELECT $1::text AS target) SELECT * FROM params`),
    ).toBe('marked');
  });

  it('leaves out utility statements', () => {
    for (const sql of [
      'ANALYZE "app"."orders"',
      'VACUUM (ANALYZE) app.orders, app.lines',
      'CREATE INDEX CONCURRENTLY i ON app.orders (a)',
      'DROP INDEX app.i',
      'ALTER TABLE app.orders SET (fillfactor = 90)',
      'EXPLAIN (FORMAT JSON) SELECT * FROM app.orders WHERE id = $1',
      'SET statement_timeout = $1',
      'EXECUTE p($1)',
      'DEALLOCATE p',
      'COPY app.orders FROM STDIN',
      'CALL dgm.run_partition_maintenance()',
      'BEGIN',
    ]) {
      expect(judge(sql), sql).toBe('utility');
    }
  });

  it('judges a statement prepared with SQL PREPARE by what it prepares (pg_stat_statements lists it under the PREPARE text)', () => {
    expect(judge('PREPARE p AS SELECT * FROM app.orders WHERE id = $1')).toBeNull();
    expect(
      judge('prepare "Q 1" (int, numeric(10,2)) as UPDATE app.orders SET total = $2 WHERE id = $1'),
    ).toBeNull();
    expect(judge('PREPARE p AS SELECT * FROM pg_catalog.pg_class WHERE oid = $1')).toBe('system catalogs');
    expect(judge('PREPARE p AS VACUUM app.orders')).toBe('utility');
  });

  it("leaves out calls of the tool's own functions, even next to application tables", () => {
    expect(judge('SELECT dgm.create_partitions($1)')).toBe('own function');
    expect(judge('SELECT dgm.daily_partition_maintenance()')).toBe('own function');
    expect(judge('SELECT coalesce(dgm.partition_run_gate(), dgm.run_partition_plan($1, $2))')).toBe(
      'own function',
    );
    expect(judge('SELECT dgm.partition_period_start(created_at, $1) FROM app.events')).toBe('own function');
  });

  it('leaves out statements on system catalogs and on the tool bookkeeping objects only', () => {
    expect(judge('SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_index i ON i.indrelid = c.oid')).toBe(
      'system catalogs',
    );
    expect(judge('SELECT * FROM information_schema.columns WHERE table_name = $1')).toBe('system catalogs');
    expect(
      judge('SELECT * FROM public.pg_stat_statements(false) s WHERE s.dbid = (SELECT oid FROM pg_database)'),
    ).toBe('system catalogs');
    expect(judge('INSERT INTO dgm.optimization_audit (job, action) VALUES ($1, $2)')).toBe('own objects');
    expect(judge('SELECT * FROM dgm.stat_snapshots s JOIN pg_stat_activity a ON true')).toBe('own objects');
    // A foreign key check on the tool's table (run nested): FOR KEY SHARE OF x names the alias, not a table.
    expect(
      judge(
        'SELECT $2 FROM ONLY "dgm"."performance_baselines" x WHERE "id" OPERATOR(pg_catalog.=) $1 FOR KEY SHARE OF x',
      ),
    ).toBe('own objects');
  });

  it('leaves out statements that name no table and call only built-in functions', () => {
    expect(judge("SELECT set_config('statement_timeout', $1, false)")).toBe('no table');
    expect(judge('SELECT pg_advisory_lock($1)')).toBe('no table');
    expect(judge('SELECT $1')).toBe('no table');
    expect(judge('attempt < max_attempts')).toBe('not a statement');
    // A text this role may not read is not judged: it stays in the figures.
    expect(judge('<insufficient privilege>')).toBeNull();
  });

  it("keeps the application's statements, its tables in the tool's schema included", () => {
    expect(
      judge('SELECT * FROM app.orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT $2'),
    ).toBeNull();
    expect(judge('SELECT * FROM orders o JOIN pg_catalog.pg_class c ON c.relname = o.name')).toBeNull();
    expect(judge('UPDATE dgm.workspaces SET status = $1 WHERE id = $2')).toBeNull();
    expect(
      judge('WITH x AS (SELECT id FROM dgm.dgm_archive WHERE status = $1) SELECT count(*) FROM x'),
    ).toBeNull();
    expect(judge('SELECT app.score($1)')).toBeNull();
  });

  it('marks statements built elsewhere after their first keyword, and redacts string constants for logs', () => {
    expect(
      markOwnStatement(
        '-- lead\n  WITH moved AS (DELETE FROM t RETURNING *) INSERT INTO p SELECT * FROM moved',
        'maintenance',
      ),
    ).toBe(
      '-- lead\n  WITH /* dgm-db-ops:maintenance */ moved AS (DELETE FROM t RETURNING *) INSERT INTO p SELECT * FROM moved',
    );
    expect(markOwnStatement(`SELECT ${SAMPLER_COMMENT} 1`, 'maintenance')).toBe(
      `SELECT ${SAMPLER_COMMENT} 1`,
    );
    expect(judge(markOwnStatement('INSERT INTO app.t SELECT * FROM app.t_default', 'maintenance'))).toBe(
      'marked',
    );
    expect(
      redactLiterals(`CREATE INDEX i ON t (a) WHERE status = 'it''s secret' AND b = E'x' AND c = $$y$$`),
    ).toBe("CREATE INDEX i ON t (a) WHERE status = '…' AND b = '…' AND c = '…'");
  });

  it("names exactly the tool's objects its migrations create (the application's tables aside)", () => {
    const tables = new Set<string>();
    const functions = new Set<string>();
    const walk = (node: unknown, visit: (key: string, value: Record<string, unknown>) => void) => {
      if (Array.isArray(node)) for (const n of node) walk(n, visit);
      else if (node && typeof node === 'object')
        for (const [k, v] of Object.entries(node)) {
          if (v && typeof v === 'object' && !Array.isArray(v)) visit(k, v as Record<string, unknown>);
          walk(v, visit);
        }
    };
    for (const m of MIGRATIONS) {
      walk(parseSync(m.sql), (key, v) => {
        if (key === 'CreateStmt' || key === 'ViewStmt') {
          const rel = (key === 'CreateStmt' ? v.relation : v.view) as {
            schemaname?: string;
            relname: string;
          };
          // Partitions of a partition set (PARTITION OF) belong to their parent.
          if (rel.schemaname === OWN_SCHEMA && !v.partbound) tables.add(rel.relname);
        }
        if (key === 'CreateFunctionStmt') {
          const names = (v.funcname as Array<{ String: { sval: string } }>).map((n) => n.String.sval);
          if (names[0] === OWN_SCHEMA) functions.add(names[1]!);
        }
      });
    }
    // The demo application's tables: workload, not the tool's.
    const application = [
      'workspaces',
      'bandit_states',
      'dgm_archive',
      'performance_metrics',
      'compliance_logs',
    ];
    for (const t of application) expect(tables.has(t), t).toBe(true);
    const ownTables = [...tables].filter((t) => !application.includes(t)).sort();
    // schema_migrations is created by the migrate runner (functions/jobs/migrate.ts), not a migration file.
    expect([...OWN_TABLES].filter((t) => t !== 'schema_migrations').sort()).toEqual(ownTables);
    expect([...OWN_FUNCTIONS].sort()).toEqual([...functions].sort());
  });
});
