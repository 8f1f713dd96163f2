import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/config.ts';
import { BadInputError } from '../../functions/errors.ts';

describe('runtime config', () => {
  it('has the design defaults', () => {
    const c = parseConfig({});
    expect(c.constitutionalHash).toBe('cdd01ef066bc6cf2');
    expect(c.monitoring).toMatchObject({
      slowQueryThresholdMs: 200,
      connectionUtilizationThreshold: 0.8,
      cacheHitRatioThreshold: 0.9,
    });
    expect(c.alerting).toMatchObject({ alertCooldownMinutes: 15, maxAlertsPerHour: 10 });
    expect(c.optimization).toMatchObject({ autoIndexCreation: false, partitionRetentionDays: 365 });
  });
  it('names every invalid field in one line', () => {
    try {
      parseConfig({ monitoring: { cacheHitRatioThreshold: 2 }, target: '' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(BadInputError);
      const msg = (err as Error).message;
      expect(msg).toMatch(/^config: /);
      expect(msg).toMatch(/monitoring\.cacheHitRatioThreshold/);
      expect(msg).toMatch(/target/);
      expect(msg).not.toMatch(/\n/);
    }
  });
});
