import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listAlerts } from '../../bin/cli/alerts.ts';
import { ConsoleNotifier } from '../../functions/adapters/local/console-notifier.ts';
import { FileAlertStateStore } from '../../functions/adapters/local/file-alert-store.ts';
import { renderPrometheus } from '../../functions/adapters/local/prometheus.ts';
import { readAlertDocument, runAlertLifecycle } from '../../functions/alerting/claim-loop.ts';
import type { RuleEvaluation } from '../../functions/alerting/lifecycle.ts';
import { alertMetricPoints } from '../../functions/alerting/metrics.ts';
import { parseConfig } from '../../functions/config.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dgm-alerts-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('file-backed alert state store', () => {
  it('compare-and-set: versions, TTL, and a file readable by people', async () => {
    const store = new FileAlertStateStore(dir);
    expect(await store.get('alerts#local')).toBeUndefined();
    expect(await store.compareAndSet('alerts#local', 0, { a: 1 }, 60)).toBe(true);
    expect(await store.compareAndSet('alerts#local', 0, { a: 2 })).toBe(false);
    expect(await store.compareAndSet('alerts#local', 1, { a: 3 })).toBe(true);
    expect(await store.get('alerts#local')).toEqual({ key: 'alerts#local', version: 2, data: { a: 3 } });
    const file = JSON.parse(await readFile(store.fileFor('alerts#local'), 'utf8'));
    expect(file).toEqual({ version: 2, data: { a: 3 } });
    expect((await stat(store.fileFor('alerts#local'))).mode & 0o777).toBe(0o600);
    await store.compareAndSet('alerts#local', 2, { a: 4 }, 60);
    const later = new FileAlertStateStore(dir, () => Date.now() + 61_000);
    expect(await later.get('alerts#local')).toEqual({ key: 'alerts#local', version: 3, data: {} });
  });

  it('100 concurrent writers of one version: exactly one wins', async () => {
    const stores = Array.from({ length: 100 }, () => new FileAlertStateStore(dir));
    const wins = await Promise.all(stores.map((s, i) => s.compareAndSet('k', 0, { i })));
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect((await stores[0]!.get('k'))?.version).toBe(1);
  });

  it('breaks a lock left behind by a killed process', async () => {
    const store = new FileAlertStateStore(dir);
    await store.compareAndSet('k', 0, { a: 1 });
    const lock = `${store.fileFor('k')}.lock`;
    await writeFile(lock, '');
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    expect(await store.compareAndSet('k', 1, { a: 2 })).toBe(true);
  });
});

describe('console notifier with the file store: the CLI path', () => {
  it('prints the email and the Slack rendering once, and lists the alert', async () => {
    const out: string[] = [];
    const notifier = new ConsoleNotifier((t) => out.push(t));
    const config = parseConfig({ alerting: { pendingSamples: 1 } });
    const store = new FileAlertStateStore(dir);
    const ev: RuleEvaluation = {
      rule: 'idle_in_transaction',
      status: 'evaluated',
      observations: [
        {
          rule: 'idle_in_transaction',
          resource: 'database',
          value: 95,
          message: '1 session(s) idle in transaction; longest 95 s',
        },
      ],
    };
    const now = new Date('2026-11-28T08:00:00Z');
    const result = await runAlertLifecycle(
      { store, notifier, clock: { now: () => now } },
      { config, evaluations: [ev] },
    );
    expect(result.notification?.published).toBe(true);
    expect(out).toHaveLength(1);
    expect(out[0]).toContain('Subject: [DGM WARNING] local: 1 firing - idle_in_transaction');
    expect(out[0]).toContain('FIRING - warning - Idle in transaction (idle_in_transaction) on database');
    expect(out[0]).toContain(
      ':large_orange_circle: *FIRING* · *warning* · *Idle in transaction* on `database`',
    );
    const listed = await listAlerts(store, config);
    expect(listed.totals).toEqual([{ severity: 'warning', alertType: 'idle_in_transaction', count: 1 }]);
    const prometheus = renderPrometheus(alertMetricPoints('local', await readAlertDocument(store, 'local')));
    expect(prometheus).toContain('# TYPE dgm_db_alerts_total counter\n');
    expect(prometheus).toContain(
      'dgm_db_alerts_total{db_instance="local",severity="warning",alert_type="idle_in_transaction"} 1\n',
    );
    expect(prometheus).toContain('dgm_db_active_alerts{db_instance="local",severity="warning"} 1\n');
    expect(prometheus).toContain('dgm_db_active_alerts{db_instance="local",severity="critical"} 0\n');
    expect(result.metrics).toEqual([
      expect.objectContaining({
        name: 'Alerts',
        value: 1,
        unit: 'Count',
        dimensions: { DBInstance: 'local', Severity: 'warning', AlertType: 'idle_in_transaction' },
      }),
      expect.objectContaining({
        name: 'ActiveAlerts',
        value: 1,
        dimensions: { DBInstance: 'local', Severity: 'warning' },
      }),
      expect.objectContaining({
        name: 'ActiveAlerts',
        value: 0,
        dimensions: { DBInstance: 'local', Severity: 'critical' },
      }),
    ]);
    expect(listed.alerts).toMatchObject([
      {
        name: 'idle_in_transaction',
        resource: 'database',
        state: 'firing',
        severity: 'warning',
        value: 95,
        threshold: 60,
      },
    ]);
  });
});
