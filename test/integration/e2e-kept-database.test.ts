import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderSnsPublish } from '../../functions/alerting/render.ts';
import { runCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { tempDir } from '../support/tmp.ts';

/**
 * A new user's path on a kept database: `demo --database-url` loads it, then every command runs twice and
 * every Lambda handler once through `invoke`, as separate processes, the way a person would run them.
 * What a user relies on is asserted against the database itself: exit codes, counts against the audit
 * rows, one state per index, no statement of the tool (or utility statement, or system catalog) taken
 * for the application's workload, alert state per database, and no warning on stderr.
 */

/** The demo's smallest sensible scale: about 20,000 rows, enough for every step to have work. */
const SCALE = '0.02';

interface Run {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

let db: TestDatabase;
let other: TestDatabase;
let cwd: string;

async function run(args: string[], url = db.url): Promise<Run> {
  // The working directory holds the CLI's alert state (.dgm-db-ops/alerts).
  const r = await runCliProcess(args, { cwd, env: { DATABASE_URL: url, SLACK_WEBHOOK_URL: '' } });
  return { args, code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** Node's process warnings (deprecations included) and the CLI's own `warning:` lines. */
function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /^\(node:\d+\) |Warning: |^warning: /.test(l));
}

/** Runs a command that must succeed on a healthy database: exit 0, nothing printed as a warning. */
async function ok(args: string[], url?: string): Promise<Run> {
  const r = await run(args, url);
  expect(r.code, `${args.join(' ')}\n${r.stderr.slice(-2000)}`).toBe(0);
  expect(warnings(r.stderr), args.join(' ')).toEqual([]);
  return r;
}

const json = (r: Run) => JSON.parse(r.stdout);

/** The tool's own objects and statements, utility statements and system catalogs. */
const OWN =
  /dgm-db-ops|\bdgm\.(stat_snapshots|stat_statement_baseline|statement_shapes|optimization_audit|auto_indexes|partition_config|performance_baselines?|performance_baseline_queries|query_samples|optimizer_runs|governance_events|constitution|schema_migrations|create_partitions|daily_partition_maintenance|cleanup_old_partitions|run_partition_plan|partition_run_gate|partition_maintenance_plan|assert_index_valid|fit_identifier)\b|\bpg_catalog\b|\binformation_schema\b|\bpg_(class|index|attribute|namespace|inherits|partition_tree|stat_\w+)\b/i;
const UTILITY =
  /^\s*(ANALYZE|VACUUM|CREATE|ALTER|DROP|SET|RESET|SHOW|BEGIN|START|COMMIT|ROLLBACK|EXPLAIN|PREPARE|EXECUTE|DEALLOCATE|COPY|TRUNCATE|REINDEX|CLUSTER|LOCK|DISCARD|CALL|GRANT|REVOKE|COMMENT)\b/i;
const notTheApplication = (text: string | null | undefined) =>
  !!text && (OWN.test(text) || UTILITY.test(text));

const results = new Map<string, Run[]>();
const record = (name: string, r: Run) => results.set(name, [...(results.get(name) ?? []), r]);
const runsOf = (name: string) => results.get(name) ?? [];

beforeAll(async () => {
  [db, other] = await Promise.all([createTestDatabase({ migrate: false }), createTestDatabase()]);
  cwd = tempDir('dgm-e2e');
});

afterAll(async () => {
  await db?.drop();
  await other?.drop();
});

async function auditCount(runId: string, status?: string): Promise<number> {
  const { rows } = await db.client.query<{ n: string }>(
    `SELECT count(*) AS n FROM dgm.optimization_audit WHERE run_id = $1 AND ($2::text IS NULL OR status = $2)`,
    [runId, status ?? null],
  );
  return Number(rows[0]!.n);
}

async function indexExists(qualified: string): Promise<boolean> {
  const { rows } = await db.client.query<{ yes: boolean }>('SELECT to_regclass($1) IS NOT NULL AS yes', [
    qualified,
  ]);
  return rows[0]!.yes;
}

describe('a kept database loaded by demo --database-url', () => {
  it('demo loads it; its counts agree with the audit and the database', async () => {
    const r = await ok(['demo', '--scale', SCALE, '--database-url', db.url]);
    // Maintenance: the actions the run says it did are the run's audit rows.
    const done = r.stdout.match(/^Then the run: (\d+) action\(s\) done/m);
    const runId = r.stdout.match(/^Every action is in dgm\.optimization_audit under run ([0-9a-f-]{36})\.$/m);
    expect(done, r.stdout).not.toBeNull();
    expect(runId, r.stdout).not.toBeNull();
    expect(await auditCount(runId![1]!, 'succeeded')).toBe(Number(done![1]));
    // Optimizer: each recommendation with its fate; "kept" counts the ones created and still there.
    const summary = r.stdout.match(
      /recommended (\d+) index\(es\) \(evaluated with \w+\) and created (\d+)(.*), kept (\d+)/,
    );
    expect(summary, r.stdout).not.toBeNull();
    const fates = [
      ...r.stdout.matchAll(
        /^ {2}CREATE (?:UNIQUE )?INDEX (?:CONCURRENTLY )?"([^"]+)" ON "([^"]+)"\..*\n {4}-> (.*)$/gm,
      ),
    ];
    expect(fates).toHaveLength(Number(summary![1]));
    const kept = fates.filter((f) => f[3] === 'created');
    expect(kept).toHaveLength(Number(summary![4]));
    for (const f of kept) expect(await indexExists(`"${f[2]}"."${f[1]}"`), f[1]).toBe(true);
    const built = fates.filter((f) => f[3]!.startsWith('created'));
    expect(built).toHaveLength(Number(summary![2]));
  });

  it('every command runs twice and every Lambda handler through invoke: exit 0, no warning', async () => {
    // In order, stage by stage; the commands of one stage do not depend on each other and run at once:
    // metrics takes a sample of its own while alerts reads the state the sample before left; the two
    // reports only read.
    const stages: Array<Array<[string, string[]]>> = [
      [['migrate', ['migrate', '--json']]],
      [['sample', ['sample', '--json']]],
      [
        ['metrics', ['metrics', '--json']],
        ['alerts', ['alerts', '--json']],
      ],
      [['maintain', ['maintain', '--json']]],
      [['optimize', ['optimize', '--apply', '--json']]],
      [
        ['report', ['report', '--json']],
        ['report-text', ['report']],
      ],
    ];
    for (let round = 0; round < 2; round++) {
      for (const stage of stages) {
        const runs = await Promise.all(stage.map(([, args]) => ok(args)));
        for (const [i, [name]] of stage.entries()) record(name, runs[i]!);
      }
    }
    const handlers: Array<[string, unknown]> = [
      ['migrator', { task: 'migrate' }],
      ['sampler', { task: 'sample' }],
      ['maintainer', { task: 'all' }],
    ];
    for (const [fn, event] of handlers) {
      record(`invoke-${fn}`, await ok(['invoke', fn, '--event', JSON.stringify(event), '--json']));
    }
    // The Slack notifier renders what the sampler would publish (no webhook: nothing is sent).
    const sampled = json(runsOf('invoke-sampler')[0]!);
    const alert = sampled.active_alerts?.[0] ?? {
      name: 'cache_hit_ratio',
      severity: 'warning',
      message: 'cache hit ratio 0.82 below 0.9',
      metric_value: 0.82,
      threshold: 0.9,
      timestamp: new Date().toISOString(),
      target: 'local',
      resource: 'database',
    };
    const notification = {
      id: 'e2e',
      target: 'local',
      generatedAt: new Date().toISOString(),
      heldBack: [],
      items: [{ transition: 'firing' as const, title: alert.name, unit: '', runbook: 'e2e', alert }],
    };
    const message = JSON.parse(renderSnsPublish(notification, 'arn:aws:sns:eu-west-1:1:t').Message).default;
    const event = JSON.stringify({ Records: [{ Sns: { MessageId: 'm1', Message: message } }] });
    record('invoke-slack-notifier', await ok(['invoke', 'slack-notifier', '--event', event, '--json']));
    // About 20 CLI processes: on a 2-core machine loaded by other test runs (load average near 20) they
    // took longer than the 120 s default.
  }, 300_000);

  it("maintain: the counts in its messages are the run's audit rows", async () => {
    const runs = [...runsOf('maintain').map(json), json(runsOf('invoke-maintainer')[0]!)];
    expect(runs).toHaveLength(3);
    for (const m of runs) {
      expect(m.status).toBe('succeeded');
      expect(m.summary.failed).toBe(0);
      if (m.summary.succeeded + m.summary.skipped === 0) {
        expect(m.message).toBe('nothing to do');
        continue;
      }
      expect(m.message).toMatch(new RegExp(`^${m.summary.succeeded} action\\(s\\) done`));
      expect(m.summary.succeeded).toBe(
        m.actions.filter((a: { status: string }) => a.status === 'succeeded').length,
      );
      expect(await auditCount(m.runId, 'succeeded')).toBe(m.summary.succeeded);
      expect(await auditCount(m.runId, 'skipped')).toBe(m.summary.skipped);
    }
  });

  it("optimize: created, dropped and kept are the run's audited builds, and the kept ones exist", async () => {
    for (const r of runsOf('optimize')) {
      const o = json(r);
      expect(o.status).toBe('succeeded');
      const m = (o.message as string).match(
        /created (\d+)(?:, dropped (\d+) of them again after verification)?, kept (\d+)/,
      );
      expect(m, o.message).not.toBeNull();
      const [created, droppedAgain, kept] = [Number(m![1]), Number(m![2] ?? 0), Number(m![3])];
      expect(created - droppedAgain).toBe(kept);
      // One verify_index row per built index; the registry holds the kept ones as live.
      const { rows } = await db.client.query<{ verified: string; live: string }>(
        `SELECT (SELECT count(*) FROM dgm.optimization_audit WHERE run_id = $1 AND action = 'verify_index') AS verified,
                (SELECT count(*) FROM dgm.auto_indexes WHERE run_id = $1 AND status IN ('active', 'verified')) AS live`,
        [o.runId],
      );
      expect(Number(rows[0]!.verified)).toBe(created);
      const { rows: live } = await db.client.query<{ name: string }>(
        `SELECT format('%I.%I', index_schema, index_name) AS name FROM dgm.auto_indexes
         WHERE run_id = $1 AND status IN ('active', 'verified')`,
        [o.runId],
      );
      for (const l of live) expect(await indexExists(l.name), l.name).toBe(true);
    }
  });

  it('report: no index is shown in two states', async () => {
    for (const r of runsOf('report')) {
      const report = json(r);
      const names = report.auto_indexes.map((a: { index: string }) => a.index);
      expect(names.length, 'the demo created indexes').toBeGreaterThan(0);
      expect(new Set(names).size).toBe(names.length);
      for (const a of report.auto_indexes as Array<{ index: string; status: string }>) {
        if (a.status === 'active' || a.status === 'verified')
          expect(await indexExists(a.index), a.index).toBe(true);
      }
    }
    for (const r of runsOf('report-text')) {
      const lines = r.stdout
        .split('\n')
        .filter((l) => /\bdgm_auto_\w+/.test(l) && /\b(active|verified|dropped)\b/.test(l));
      const names = lines.map((l) => l.match(/\bdgm_auto_\w+/)![0]);
      expect(new Set(names).size, lines.join('\n')).toBe(names.length);
    }
  });

  it("no workload, slow list, metric or recommendation holds the tool's statements, utility statements or system catalogs", async () => {
    const bad: string[] = [];
    const check = (where: string, text: string | null | undefined) => {
      if (notTheApplication(text)) bad.push(`${where}: ${text}`);
    };
    // A recommendation is a CREATE INDEX statement by nature: it must only not be on a table of the tool's
    // or a system catalog.
    const checkTable = (where: string, text: string | null | undefined) => {
      if (text && OWN.test(text)) bad.push(`${where}: ${text}`);
    };
    for (const r of [...runsOf('sample'), ...runsOf('invoke-sampler')]) {
      const st = json(r).snapshot.statements;
      for (const s of [...st.top, ...st.slowPatterns]) {
        check('sample statement', s.normalized);
        for (const t of s.tables ?? [])
          check('sample table', typeof t === 'string' ? t : `${t.schema}.${t.name}`);
      }
      for (const o of st.byOperationTable) check('sample by table', `${o.table}`);
    }
    for (const r of runsOf('metrics')) {
      const m = json(r);
      for (const d of m.metrics as Array<{ dimensions: Record<string, string> }>) {
        if (d.dimensions.Table) check('metric Table', d.dimensions.Table);
      }
      // The demo's statements all name a table: "none" is a statement of the tool's (SELECT dgm.create_partitions()).
      for (const label of (m.prometheus as string).match(/table="[^"]*"/g) ?? []) {
        check('prometheus', label);
        if (label === 'table="none"') bad.push(`prometheus: ${label}`);
      }
    }
    for (const r of runsOf('optimize')) {
      const o = json(r);
      for (const s of o.statements) check('optimize statement', s.query);
      for (const rec of o.recommendations) {
        if (rec.kind === 'index') {
          checkTable('optimize recommendation', rec.table);
          checkTable('optimize recommendation', rec.definition);
        }
      }
    }
    for (const r of runsOf('report')) {
      const report = json(r);
      for (const q of report.slow_queries) check('report slow query', q.query);
      for (const rec of report.recommendations) {
        if (rec.kind === 'index') checkTable('report recommendation', rec.definition);
      }
    }
    expect(bad).toEqual([]);
  });

  it("alert state belongs to one database, and carries the design's DatabaseAlert fields", async () => {
    const mine = json(runsOf('alerts')[1]!);
    expect(mine.lastSampleAt).not.toBeNull();
    for (const a of mine.alerts) {
      expect(Object.keys(a)).toEqual(
        expect.arrayContaining(['name', 'severity', 'message', 'metric_value', 'threshold', 'timestamp']),
      );
    }
    expect(mine.active_alerts).toEqual(
      mine.alerts.filter((a: { state: string }) => ['pending', 'firing', 'flapping'].includes(a.state)),
    );
    const elsewhere = json(await ok(['alerts', '--json', '--database-url', other.url], other.url));
    expect(elsewhere).toMatchObject({ lastSampleAt: null, alerts: [], active_alerts: [] });
    expect(elsewhere.database).not.toBe(mine.database);
    // The state files name their database, never a password.
    const files = readdirSync(join(cwd, '.dgm-db-ops', 'alerts')).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(decodeURIComponent(f)).toContain(`/${db.name}.json`);
  });
});
