import { DescribeDBLogFilesCommand, DownloadDBLogFilePortionCommand, RDSClient } from '@aws-sdk/client-rds';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RdsLogSource } from '../../functions/adapters/aws/rds-log-source.ts';
import { createMaintainerHandler } from '../../functions/handlers/maintainer.ts';
import type { OptimizeResult } from '../../functions/jobs/optimize.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.client.query('CREATE TABLE public.items (id int PRIMARY KEY, kind text)');
  await db.client.query(`INSERT INTO public.items SELECT g, 'k' || (g % 10) FROM generate_series(1, 1000) g`);
  for (let i = 0; i < 3; i++) await db.client.query(`SELECT id FROM public.items WHERE kind = 'k${i}'`);
});
afterAll(async () => db?.drop());

const context = { getRemainingTimeInMillis: () => 900_000 } as unknown as Context;

describe("the maintainer's optimize reads its RDS instance's log", () => {
  it('with the RDS log source of the instance named in DGM_TARGETS, and stores the matched samples', async () => {
    const u = new URL(db.url);
    const rds = mockClient(RDSClient);
    rds.on(DescribeDBLogFilesCommand).resolves({
      DescribeDBLogFiles: [
        { LogFileName: 'error/postgresql.log.2026-12-07-02', LastWritten: Date.now(), Size: 500 },
      ],
    });
    const prefix = `2026-12-07 02:00:00 UTC:10.0.0.9(4000):app@${u.pathname.slice(1)}:[99]:`;
    rds.on(DownloadDBLogFilePortionCommand).resolves({
      LogFileData: [
        `${prefix}LOG:  duration: 3.000 ms  statement: SELECT id FROM public.items WHERE kind = 'k7'`,
        `${prefix}LOG:  duration: 0.100 ms  statement: SELECT 1`,
        '',
      ].join('\n'),
      Marker: '1:200',
      AdditionalDataPending: false,
    });
    const asked: string[] = [];
    const handler = createMaintainerHandler({
      secrets: {
        async getDatabaseSecret() {
          return {
            username: decodeURIComponent(u.username || 'postgres'),
            password: decodeURIComponent(u.password),
          };
        },
      },
      env: {
        DGM_TARGETS: JSON.stringify([
          {
            name: 'primary',
            host: u.hostname,
            port: Number(u.port),
            database: u.pathname.slice(1),
            secretArn: 'arn:test:secret',
            rdsInstanceId: 'prod-1',
          },
        ]),
        // The test server's log_line_prefix is not RDS's: the generic entry pattern reads it.
        DGM_CONFIG: JSON.stringify({}),
      },
      tls: 'disable',
      logSource: (id) => {
        asked.push(id);
        return new RdsLogSource(rds as unknown as RDSClient, id);
      },
    });
    const result = (await handler({ task: 'optimize' }, context)) as OptimizeResult;
    expect(asked).toEqual(['prod-1']);
    expect(result.workload.serverLog).toMatchObject({ available: true, source: 'rds:prod-1', matched: 1 });
    expect(rds.commandCalls(DescribeDBLogFilesCommand)[0]!.args[0].input.DBInstanceIdentifier).toBe('prod-1');
    const { rows } = await db.client.query<{ query: string }>(
      `SELECT query FROM dgm.query_samples WHERE source = 'server_log'`,
    );
    expect(rows.map((r) => r.query)).toEqual(["SELECT id FROM public.items WHERE kind = 'k7'"]);
    const { rows: pos } = await db.client.query(`SELECT target, file, marker FROM dgm.server_log_positions`);
    expect(pos).toEqual([{ target: 'primary', file: 'error/postgresql.log.2026-12-07-02', marker: '1:200' }]);
  });
});
