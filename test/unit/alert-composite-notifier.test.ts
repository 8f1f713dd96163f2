import { describe, expect, it } from 'vitest';
import { CompositeNotifier } from '../../functions/alerting/composite-notifier.ts';
import type { AlertNotification, Notifier } from '../../functions/ports.ts';

const NOTIFICATION: AlertNotification = {
  id: 'run-1',
  target: 'main',
  generatedAt: '2026-03-01T10:00:00.000Z',
  heldBack: [],
  items: [
    {
      transition: 'firing',
      title: 'Deadlocks',
      unit: 'count',
      runbook: 'Read the server log',
      alert: {
        name: 'deadlocks',
        severity: 'warning',
        message: '2 deadlock(s) in the last 60 s',
        metric_value: 2,
        threshold: 1,
        timestamp: '2026-03-01T10:00:00.000Z',
        target: 'main',
        resource: 'database',
      },
    },
  ],
};

/** A channel that records what it got, or fails with the given message. */
function channel(fail?: string): Notifier & { got: AlertNotification[] } {
  const got: AlertNotification[] = [];
  return {
    got,
    async publish(n) {
      if (fail) throw new Error(fail);
      got.push(n);
    },
  };
}

describe('CompositeNotifier', () => {
  it('sends each notification to every channel', async () => {
    const a = channel();
    const b = channel();
    await new CompositeNotifier([
      { name: 'a', notifier: a },
      { name: 'b', notifier: b },
    ]).publish(NOTIFICATION);
    expect(a.got).toEqual([NOTIFICATION]);
    expect(b.got).toEqual([NOTIFICATION]);
  });

  it('counts as delivered when one channel took it, and reports the failed one', async () => {
    const ok = channel();
    const errors: string[] = [];
    await new CompositeNotifier(
      [
        { name: 'sns', notifier: channel('throttled') },
        { name: 'console', notifier: ok },
      ],
      (name, error) => errors.push(`${name}: ${error}`),
    ).publish(NOTIFICATION);
    expect(ok.got).toHaveLength(1);
    expect(errors).toEqual(['sns: throttled']);
  });

  it('throws when every channel failed, naming each (the claim loop then releases the claims)', async () => {
    const composite = new CompositeNotifier([
      { name: 'sns', notifier: channel('throttled') },
      { name: 'slack', notifier: channel('HTTP 500') },
    ]);
    await expect(composite.publish(NOTIFICATION)).rejects.toThrow(
      'every alert channel failed (sns: throttled; slack: HTTP 500)',
    );
  });

  it('refuses to be built without a channel', () => {
    expect(() => new CompositeNotifier([])).toThrow(/at least one channel/);
  });
});
