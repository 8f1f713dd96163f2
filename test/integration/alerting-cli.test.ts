import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

/**
 * The CLI's alerting: `sample` evaluates the alerts after each sample (state in .dgm-db-ops/alerts under
 * the working directory, notifications on stderr as email and Slack), `alerts` lists them.
 */

function runCli(args: string[], cwd: string) {
  // Alert state is kept per database: `alerts` reads the state of DATABASE_URL's database.
  return runCliProcess(args, { cwd, env: { DATABASE_URL: db.url } });
}

let db: TestDatabase;
let cwd: string;

beforeAll(async () => {
  db = await createTestDatabase();
  cwd = mkdtempSync(join(tmpdir(), 'dgm-alerts-cli-'));
  writeFileSync(
    join(cwd, 'config.json'),
    JSON.stringify({
      target: 'cli-test',
      alerting: {
        pendingSamples: 1,
        clearSamples: 1,
        minSampleSpacingSeconds: 0,
        rules: { default_partition_rows: { warning: 1, critical: 1000, clear: 0 } },
      },
    }),
  );
});

afterAll(async () => {
  await db?.drop();
  rmSync(cwd, { recursive: true, force: true });
});

// A database-local figure: other test files share the server's sessions, never this database's rows.
describe('dgm-db-ops alerts', () => {
  it('says there is no state before any sample', async () => {
    const r = await runCli(['alerts', '--config', 'config.json'], cwd);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^No alert state for target cli-test on [\d.]+:\d+\/dgm_test_\w+ yet \(.*alerts%23cli-test%40[\d.]+%3A\d+%2Fdgm_test_\w+\.json\): `dgm-db-ops sample` evaluates/,
    );
    // The alert families are declared before the first alert, as an exporter does.
    const prom = await runCli(['alerts', '--format', 'prometheus', '--config', 'config.json'], cwd);
    expect(prom.stdout).toBe(
      [
        '# HELP dgm_db_alerts_total Alerts notified (firing, escalated, re-notified, flapping; not resolutions), by severity and alert type.',
        '# TYPE dgm_db_alerts_total counter',
        '# HELP dgm_db_active_alerts Alerts firing now, by severity.',
        '# TYPE dgm_db_active_alerts gauge',
        'dgm_db_active_alerts{db_instance="cli-test",severity="warning"} 0',
        'dgm_db_active_alerts{db_instance="cli-test",severity="critical"} 0',
        '',
      ].join('\n'),
    );
  });

  it('sample fires an alert: notification on stderr, one JSON document on stdout', async () => {
    await db.client.query(
      `INSERT INTO dgm.performance_metrics (metric_name, metric_value, "timestamp") VALUES ('cli', 1, '2001-01-01')`,
    );
    const r = await runCli(['sample', '--json', '--config', 'config.json', '--database-url', db.url], cwd);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.active_alerts).toEqual([
      expect.objectContaining({ name: 'default_partition_rows', severity: 'warning', metric_value: 1 }),
    ]);
    expect(result.alerts.notification).toMatchObject({
      published: true,
      items: [{ transition: 'firing', name: 'default_partition_rows', severity: 'warning' }],
    });
    expect(r.stderr).toContain('── email');
    expect(r.stderr).toContain('Subject: [DGM WARNING] cli-test: 1 firing - default_partition_rows');
    expect(r.stderr).toContain('── slack');
    expect(r.stderr).toContain(
      ':large_orange_circle: *FIRING* · *warning* · *Rows in a default partition* on `dgm.performance_metrics`',
    );
  });

  it('alerts lists the firing alert, as text, Prometheus text and JSON', async () => {
    const text = await runCli(['alerts', '--config', 'config.json'], cwd);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /FIRING\s+warning\s+default_partition_rows\s+dgm\.performance_metrics\s+1\s+1\s+/,
    );
    expect(text.stdout).toContain('1 row(s) in the default partition of dgm.performance_metrics');
    const prom = await runCli(['alerts', '--format', 'prometheus', '--config', 'config.json'], cwd);
    expect(prom.stdout).toContain(
      'dgm_db_alerts_total{db_instance="cli-test",severity="warning",alert_type="default_partition_rows"} 1\n',
    );
    const json = JSON.parse((await runCli(['alerts', '--json', '--config', 'config.json'], cwd)).stdout);
    expect(json).toMatchObject({
      target: 'cli-test',
      database: `${new URL(db.url).hostname}:${new URL(db.url).port}/${db.name}`,
      alerts: [{ name: 'default_partition_rows', state: 'firing', lastNotified: { transition: 'firing' } }],
    });
    // The design's DatabaseAlert(name, severity, message, metric_value, threshold, timestamp), and its
    // report's active_alerts.
    expect(json.alerts[0]).toMatchObject({
      name: 'default_partition_rows',
      severity: 'warning',
      message: expect.stringContaining('1 row(s) in the default partition of dgm.performance_metrics'),
      metric_value: 1,
      threshold: 1,
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(json.active_alerts).toEqual(json.alerts);
  });

  it("another database's alerts are its own, though the target name is the same", async () => {
    const other = await createTestDatabase();
    try {
      const listed = await runCli(['alerts', '--config', 'config.json', '--database-url', other.url], cwd);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(
        new RegExp(`^No alert state for target cli-test on \\S+/${other.name} yet`),
      );
      expect(listed.stdout).not.toContain('default_partition_rows');
      const mine = await runCli(['alerts', '--json', '--config', 'config.json'], cwd);
      expect(JSON.parse(mine.stdout).alerts.map((a: { name: string }) => a.name)).toEqual([
        'default_partition_rows',
      ]);
    } finally {
      await other.drop();
    }
  });

  it('alerts --evaluate samples now: the alert resolves once the rows are gone', async () => {
    await db.client.query("DELETE FROM dgm.performance_metrics WHERE metric_name = 'cli'");
    const r = await runCli(
      ['alerts', '--evaluate', '--all', '--config', 'config.json', '--database-url', db.url],
      cwd,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'alerts: none active; notified: resolved default_partition_rows (shown on stderr)',
    );
    expect(r.stdout).toMatch(/RESOLVED\s+warning\s+default_partition_rows/);
    expect(r.stderr).toContain('Subject: [DGM RESOLVED] cli-test: 1 resolved - default_partition_rows');
    const active = await runCli(['alerts', '--config', 'config.json'], cwd);
    expect(active.stdout).toMatch(/^No active alerts for target cli-test/);
  });

  it('sample --dry-run evaluates no alerts and writes no state', async () => {
    const other = mkdtempSync(join(tmpdir(), 'dgm-alerts-dry-'));
    try {
      writeFileSync(join(other, 'config.json'), JSON.stringify({ target: 'dry' }));
      const r = await runCli(
        ['sample', '--dry-run', '--config', 'config.json', '--database-url', db.url],
        other,
      );
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('alerts: not evaluated (--dry-run)');
      const listed = await runCli(['alerts', '--config', 'config.json'], other);
      expect(listed.stdout).toMatch(/^No alert state for target dry on \S+ yet/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('alerts --rules shows the effective thresholds; a bad threshold is bad input (exit 2)', async () => {
    const r = await runCli(['alerts', '--rules', '--config', 'config.json'], cwd);
    expect(r.stdout).toMatch(/default_partition_rows\s+>=\s+1\s+1000\s+0\s+1\s+1\s+15 min/);
    expect(r.stdout).toMatch(/cache_hit_ratio\s+<=\s+90\.0%\s+80\.0%\s+92\.0%/);
    writeFileSync(
      join(cwd, 'bad.json'),
      JSON.stringify({ alerting: { rules: { lock_waits: { clear: 99 } } } }),
    );
    const bad = await runCli(['alerts', '--rules', '--config', 'bad.json'], cwd);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      'dgm-db-ops: alerting.rules.lock_waits: clear 99 must be below the firing threshold 30\n',
    );
    const sample = await runCli(['sample', '--config', 'bad.json', '--database-url', db.url], cwd);
    expect(sample.code).toBe(2);
    expect(sample.stderr).toMatch(
      /dgm-db-ops: alerting\.rules\.lock_waits: clear 99 must be below the firing threshold 30\n$/,
    );
  });
});
