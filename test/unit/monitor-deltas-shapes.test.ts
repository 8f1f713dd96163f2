import { beforeAll, describe, expect, it } from 'vitest';
import { durationsByOperationTable } from '../../functions/monitor/collect.ts';
import {
  COUNTERS_VERSION,
  counterDelta,
  databaseDeltas,
  hitRatio,
  judgeInterval,
  perSecond,
  type SampleCounters,
} from '../../functions/monitor/deltas.ts';
import { countPartitions, shareOf } from '../../functions/monitor/pruning.ts';
import { renderSqlTemplate } from '../../functions/monitor/sql-template.ts';
import {
  loadStatementParser,
  repairNormalizedText,
  shapeOf,
} from '../../functions/monitor/statement-shape.ts';

function counters(
  takenAt: string,
  db: Partial<SampleCounters['db']> = {},
  statsReset: string | null = null,
): SampleCounters {
  return {
    v: COUNTERS_VERSION,
    takenAt,
    statsReset,
    serverStartedAt: '2026-11-01T00:00:00.000Z',
    db: {
      commits: 100,
      rollbacks: 1,
      blksRead: 10,
      blksHit: 990,
      tempFiles: 0,
      tempBytes: 0,
      deadlocks: 0,
      ...db,
    },
    indexBlocks: { hit: 0, read: 0 },
    checkpoints: { timed: 0, requested: 0, buffersWritten: 0 },
    walLsnBytes: 0,
    walBuffersFull: 0,
    tables: {},
    indexes: {},
  };
}

describe('deltas', () => {
  it('turns two samples into interval figures', () => {
    const prev = counters('2026-11-28T10:00:00.000Z');
    const cur = counters('2026-11-28T10:01:00.000Z', { commits: 160, blksHit: 1990, blksRead: 20 });
    const v = judgeInterval(cur, prev);
    expect(v).toEqual({ seconds: 60, resetDetected: false });
    const d = databaseDeltas(cur, prev, v);
    expect(d.commits).toBe(60);
    expect(perSecond(d.commits, v.seconds)).toBe(1);
    expect(hitRatio(d.blksHit, d.blksRead)).toBeCloseTo(1000 / 1010, 10);
  });

  it('a first sample, a reset or a counter going down gives no figure, never a negative one', () => {
    const cur = counters('2026-11-28T10:01:00.000Z');
    expect(judgeInterval(cur, null)).toMatchObject({
      seconds: null,
      reason: expect.stringMatching(/first sample/),
    });
    const reset = judgeInterval(cur, counters('2026-11-28T10:00:00.000Z', {}, '2026-11-20T00:00:00.000Z'));
    expect(reset).toMatchObject({ seconds: null, resetDetected: true });
    const down = judgeInterval(cur, counters('2026-11-28T10:00:00.000Z', { commits: 1_000_000 }));
    expect(down.resetDetected).toBe(true);
    expect(
      Object.values(databaseDeltas(cur, counters('2026-11-28T10:00:00.000Z', { commits: 1e6 }), down)),
    ).toEqual(Array(7).fill(null));
    expect(counterDelta(5, 10)).toBeNull();
    expect(counterDelta(10, null)).toBeNull();
    expect(perSecond(10, 0)).toBeNull();
    expect(hitRatio(0, 0)).toBeNull();
    expect(judgeInterval(cur, { ...counters('2026-11-28T10:00:00.000Z'), v: 0 as 1 }).seconds).toBeNull();
  });
});

describe('statement shapes (libpg-query)', () => {
  beforeAll(async () => {
    await loadStatementParser();
  });

  it('reads operation, main table and tables through CTEs, joins, subqueries and set operations', () => {
    const s = shapeOf(
      `WITH recent AS (SELECT * FROM dgm.performance_metrics WHERE "timestamp" > $1)
       SELECT r.metric_name, w.name FROM recent r JOIN dgm.workspaces w ON w.id = r.workspace_id`,
    );
    expect(s.operation).toBe('select');
    expect(s.mainTable).toEqual({ schema: 'dgm', name: 'performance_metrics' });
    expect(s.tables.map((t) => `${t.schema}.${t.name}`).sort()).toEqual([
      'dgm.performance_metrics',
      'dgm.workspaces',
    ]);
    expect(
      shapeOf('UPDATE orders SET total = $1 FROM customers c WHERE c.id = orders.cid').mainTable,
    ).toEqual({
      schema: null,
      name: 'orders',
    });
    expect(shapeOf('INSERT INTO "My Schema"."T" VALUES ($1)').mainTable).toEqual({
      schema: 'My Schema',
      name: 'T',
    });
    expect(shapeOf('DELETE FROM a WHERE id IN (SELECT id FROM b)').operation).toBe('delete');
    expect(shapeOf('SELECT * FROM (SELECT * FROM inner_t) s').mainTable?.name).toBe('inner_t');
    expect(shapeOf('SELECT 1 UNION SELECT x FROM u').mainTable?.name).toBe('u');
    expect(shapeOf('MERGE INTO a USING b ON a.id = b.id WHEN MATCHED THEN DELETE').operation).toBe('merge');
    expect(shapeOf('VACUUM ANALYZE big').operation).toBe('utility');
  });

  it('normalizes constants, counts parameters, and never throws on bad text', () => {
    const s = shapeOf(`SELECT * FROM t WHERE a = $1 AND b = 'x'`);
    expect(s.normalized).toBe('SELECT * FROM t WHERE a = $1 AND b = $2');
    expect(s.paramCount).toBe(2);
    const bad = shapeOf('<insufficient privilege>');
    expect(bad.operation).toBe('other');
    expect(bad.error).toMatch(/syntax error/);
    expect(shapeOf('SELECT 1; SELECT 2').statementCount).toBe(2);
  });

  it('repairs the typed constants pg_stat_statements turns into invalid SQL', () => {
    expect(
      repairNormalizedText(`SELECT now() - interval $1, date $2, timestamp with time zone $3 LIMIT $4`),
    ).toBe('SELECT now() - $1::interval, $2::date, $3::timestamp with time zone LIMIT $4');
  });
});

describe('pruning arithmetic', () => {
  const set = {
    parent: { schema: 'dgm', name: 'pm' },
    leaves: [
      ['dgm', 'pm_1'],
      ['dgm', 'pm_2'],
      ['dgm', 'pm_d'],
    ] as Array<[string, string]>,
    partitions: 3,
  };

  it('counts scanned leaves and removed subplans per set', () => {
    const plan = {
      'Node Type': 'Aggregate',
      Plans: [
        {
          'Node Type': 'Append',
          'Subplans Removed': 2,
          Plans: [{ 'Node Type': 'Seq Scan', 'Relation Name': 'pm_d', Schema: 'dgm' }],
        },
      ],
    };
    expect(countPartitions(plan, [set])).toEqual([{ set, scanned: 1, removed: 2 }]);
    const allGone = { 'Node Type': 'Append', 'Subplans Removed': 3, Plans: [] };
    expect(countPartitions(allGone, [set])).toEqual([{ set, scanned: 0, removed: 3 }]);
    expect(shareOf(0, 3, 3)).toBeCloseTo(1 / 3, 4);
    expect(shareOf(3, 0, 3)).toBe(1);
    expect(shareOf(1, 2, 3)).toBeCloseTo(1 / 3, 4);
  });

  it('durations by operation and table use the interval figures', () => {
    const rows = [
      {
        operation: 'select',
        mainTable: { schema: 'dgm', name: 'a' },
        calls: 10,
        totalMs: 100,
        intervalCalls: 2,
        intervalTotalMs: 50,
      },
      {
        operation: 'select',
        mainTable: { schema: 'dgm', name: 'a' },
        calls: 5,
        totalMs: 10,
        intervalCalls: 3,
        intervalTotalMs: 25,
      },
    ] as unknown as Parameters<typeof durationsByOperationTable>[0];
    expect(durationsByOperationTable(rows)).toEqual([
      {
        operation: 'select',
        table: 'a',
        schema: 'dgm',
        calls: 5,
        totalMs: 75,
        meanSeconds: 0.015,
        interval: true,
      },
    ]);
  });
});

describe('sql templates', () => {
  it('keeps or drops sections, replaces tokens and drops whole-line comments', () => {
    const t = [
      '-- a comment naming __X__',
      'SELECT 1',
      '--#if a',
      ', __COL__',
      '--#else',
      ', 0',
      '--#endif',
    ].join('\n');
    expect(renderSqlTemplate(t, { a: true }, { COL: 'total_exec_time' })).toBe('SELECT 1\n, total_exec_time');
    expect(renderSqlTemplate(t, { a: false })).toBe('SELECT 1\n, 0');
    expect(() => renderSqlTemplate(t, {})).toThrow(/unknown flag a/);
    expect(() => renderSqlTemplate('SELECT __Y__', {})).toThrow(/no value for __Y__/);
  });
});
