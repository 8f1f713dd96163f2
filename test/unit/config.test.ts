import { describe, expect, it } from 'vitest';
import { mergeConfigLayers, parseConfig } from '../../functions/config.ts';
import { BadInputError } from '../../functions/errors.ts';

describe('runtime config', () => {
  it('has the design defaults', () => {
    const c = parseConfig({});
    expect(c.constitutionalHash).toBe('cdd01ef066bc6cf2');
    expect(c.slowQueryThresholdMs).toBe(200);
    expect(c.monitoring).toMatchObject({
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

describe('one slow-query threshold', () => {
  const quiet = () => {};
  it('is slowQueryThresholdMs at the top level, no longer in monitoring or optimization', () => {
    const c = parseConfig({ slowQueryThresholdMs: 50 });
    expect(c.slowQueryThresholdMs).toBe(50);
    expect(c.monitoring).not.toHaveProperty('slowQueryThresholdMs');
    expect(c.optimization).not.toHaveProperty('slowQueryThresholdMs');
    expect(() => parseConfig({ slowQueryThresholdMs: 0 })).toThrow(
      /^config: slowQueryThresholdMs: Too small/,
    );
  });

  it('maps the old spellings, each with a deprecation note naming the new key', () => {
    for (const section of ['monitoring', 'optimization']) {
      const notes: string[] = [];
      const c = parseConfig({ [section]: { slowQueryThresholdMs: 75 } }, '--config a.json', (m) =>
        notes.push(m),
      );
      expect(c.slowQueryThresholdMs).toBe(75);
      expect((c as unknown as Record<string, object>)[section]).not.toHaveProperty('slowQueryThresholdMs');
      expect(notes).toEqual([
        `--config a.json: ${section}.slowQueryThresholdMs is deprecated: use slowQueryThresholdMs (top level); the value was taken from it`,
      ]);
    }
    // The same value under several spellings is one setting.
    const notes: string[] = [];
    const both = { slowQueryThresholdMs: 80, monitoring: { slowQueryThresholdMs: 80 } };
    expect(parseConfig(both, 'config', (m) => notes.push(m)).slowQueryThresholdMs).toBe(80);
    expect(notes).toHaveLength(1);
    expect(parseConfig({}, 'config', (m) => notes.push(m)) && notes).toHaveLength(1);
    // An invalid old value is reported where it was written.
    expect(() => parseConfig({ monitoring: { slowQueryThresholdMs: -5 } }, 'config', quiet)).toThrow(
      /^config: monitoring\.slowQueryThresholdMs: Too small/,
    );
  });

  it('refuses spellings that disagree, in one line naming the new key', () => {
    expect(() =>
      parseConfig({ monitoring: { slowQueryThresholdMs: 100 }, optimization: { slowQueryThresholdMs: 500 } }),
    ).toThrow(
      /^config: slowQueryThresholdMs: monitoring\.slowQueryThresholdMs \(100\) and optimization\.slowQueryThresholdMs \(500\) differ: they are one setting now, set slowQueryThresholdMs alone$/,
    );
    expect(() =>
      parseConfig({ slowQueryThresholdMs: 10, optimization: { slowQueryThresholdMs: 20 } }),
    ).toThrow(BadInputError);
  });

  it('warns through Node once per message by default (the Lambda parses its config per invocation)', () => {
    const seen: string[] = [];
    const listener = (w: Error) => {
      if (w.name === 'DeprecationWarning') seen.push(w.message);
    };
    process.on('warning', listener);
    return new Promise<void>((resolve) => {
      parseConfig({ monitoring: { slowQueryThresholdMs: 90 } }, 'config for once-only');
      parseConfig({ monitoring: { slowQueryThresholdMs: 90 } }, 'config for once-only');
      // Warnings are emitted on the next tick.
      setImmediate(() => {
        process.off('warning', listener);
        expect(seen.filter((m) => m.startsWith('config for once-only: '))).toHaveLength(1);
        resolve();
      });
    });
  });

  it('a later layer that sets it in any spelling wins over every spelling of the layers before', () => {
    const parse = (...layers: unknown[]) => parseConfig(mergeConfigLayers(...layers), 'config', quiet);
    expect(
      parse({ monitoring: { slowQueryThresholdMs: 300, topTables: 3 } }, { slowQueryThresholdMs: 100 }),
    ).toMatchObject({
      slowQueryThresholdMs: 100,
      monitoring: { topTables: 3 },
    });
    expect(
      parse({ slowQueryThresholdMs: 300 }, { optimization: { slowQueryThresholdMs: 100 } })
        .slowQueryThresholdMs,
    ).toBe(100);
    expect(parse({ slowQueryThresholdMs: 300 }, { monitoring: { topTables: 2 } }).slowQueryThresholdMs).toBe(
      300,
    );
    expect(parse({}, { target: 'x' })).toMatchObject({ target: 'x', slowQueryThresholdMs: 200 });
  });
});
