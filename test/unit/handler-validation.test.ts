import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../functions/errors.ts';
import { createMaintainerHandler } from '../../functions/handlers/maintainer.ts';
import { createSamplerHandler } from '../../functions/handlers/sampler.ts';
import type { MetricDatum, SecretsProvider } from '../../functions/ports.ts';

// The Lambdas check their event and their whole config (cross-field rules included) before they read a
// secret, connect or send a metric (issue 13): contradictory thresholds used to be found only after the
// sample was stored and its 40 metrics sent.

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db';
const env = (config: unknown) => ({
  DGM_TARGETS: JSON.stringify([
    { name: 'main', host: '127.0.0.1', port: 1, database: 'x', secretArn: ARN, config: {} },
  ]),
  DGM_CONFIG: JSON.stringify(config),
});
const context = { getRemainingTimeInMillis: () => 60_000 } as Context;

function fakes() {
  const seen = { secrets: 0, datums: 0 };
  const secrets: SecretsProvider = {
    async getDatabaseSecret() {
      seen.secrets++;
      return { username: 'app', password: 'pw' };
    },
  };
  const sink = {
    async put(datums: MetricDatum[]) {
      seen.datums += datums.length;
      return { sent: datums.length, failed: 0, calls: 1, errors: [] };
    },
  };
  return { seen, secrets, sink };
}

describe('handlers validate before any effect', () => {
  it('sampler: contradictory alert thresholds are an invocation error, no secret read, no metric sent', async () => {
    const { seen, secrets, sink } = fakes();
    const handler = createSamplerHandler({
      secrets,
      sink,
      env: env({ alerting: { rules: { lock_waits: { clear: 99 } } } }),
      tls: 'disable',
    });
    const err = await handler({ task: 'sample' }, context).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toMatch(/alerting\.rules\.lock_waits: clear 99 must be below/);
    expect(seen).toEqual({ secrets: 0, datums: 0 });
  });

  it.each([
    [{ task: 'statistics', reason: 'a\u0000b' }, /reason: control characters/],
    [{ task: 'x'.repeat(5_000_000) }, /… \(5000000 chars\)'$/],
    [{ task: 'postgres://app:hunter2@h/db' }, /got 'postgres:\/\/app:\*\*\*@h\/db'$/],
  ])('maintainer: %#', async (event, message) => {
    const { seen, secrets } = fakes();
    const handler = createMaintainerHandler({ secrets, env: env({}), tls: 'disable' });
    const err = await handler(event, context).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message.length).toBeLessThan(300);
    expect(seen.secrets).toBe(0);
  });
});
