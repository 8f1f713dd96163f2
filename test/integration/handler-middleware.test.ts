import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HandlerContext } from '../../functions/handlers/middleware/context.ts';
import { databaseConnection } from '../../functions/handlers/middleware/database-connection.ts';
import { eventValidation } from '../../functions/handlers/middleware/event-validation.ts';
import { targetResolution } from '../../functions/handlers/middleware/target-resolution.ts';
import { timeoutBudget } from '../../functions/handlers/middleware/timeout-budget.ts';
import type { SecretsProvider } from '../../functions/ports.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

// The connection middleware on a real server: the connection carries the budget's timeouts and the
// application name, and it is closed after the handler on success (after) and on failure (onError).

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

function stack(answer: 'ok' | 'throw') {
  const u = new URL(db.url);
  const secrets: SecretsProvider = {
    async getDatabaseSecret() {
      return {
        username: decodeURIComponent(u.username || 'postgres'),
        password: decodeURIComponent(u.password),
      };
    },
  };
  const env = {
    DGM_TARGETS: JSON.stringify([
      {
        name: 'main',
        host: u.hostname,
        port: Number(u.port),
        database: u.pathname.slice(1),
        secretArn: 'arn:x',
      },
    ]),
    DGM_CONFIG: JSON.stringify({ maintenance: { statementTimeoutMs: 4_000, lockTimeoutMs: 300 } }),
  };
  const clients: pg.Client[] = [];
  const settings: Array<Record<string, string>> = [];
  const handler = middy(async (_event: unknown, context: HandlerContext) => {
    const client = context.db!;
    clients.push(client);
    const { rows } = await client.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('statement_timeout', 'lock_timeout', 'application_name')`,
    );
    settings.push(Object.fromEntries(rows.map((r) => [r.name, r.setting])));
    if (answer === 'throw') throw new Error('the job failed');
    return { status: 'succeeded' };
  })
    .use(eventValidation({ tasks: ['x'] }))
    .use(targetResolution({ env }))
    .use(timeoutBudget({ safetyMarginMs: 1_000 }))
    .use(
      databaseConnection({
        secrets,
        applicationName: (_e, c) => `dgm-db-ops-test-${c.job?.task}`,
        tls: 'disable',
      }),
    );
  return { handler, clients, settings };
}

const context = { getRemainingTimeInMillis: () => 900_000 } as unknown as Context;

describe('databaseConnection on a real server', () => {
  it("before opens it with the budget's timeouts; after closes it", async () => {
    const { handler, clients, settings } = stack('ok');
    expect(await handler({ task: 'x' }, context)).toEqual({ status: 'succeeded' });
    expect(settings).toEqual([
      { statement_timeout: '4000', lock_timeout: '300', application_name: 'dgm-db-ops-test-x' },
    ]);
    await expect(clients[0]!.query('SELECT 1')).rejects.toThrow(/not queryable/);
  });

  it('onError closes it when the handler fails, and the error reaches the caller', async () => {
    const { handler, clients } = stack('throw');
    await expect(handler({ task: 'x' }, context)).rejects.toThrow('the job failed');
    expect(clients).toHaveLength(1);
    await expect(clients[0]!.query('SELECT 1')).rejects.toThrow(/not queryable/);
  });
});
