import { DescribeDBLogFilesCommand, DownloadDBLogFilePortionCommand, RDSClient } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, describe, expect, it } from 'vitest';
import { RdsLogSource } from '../../functions/adapters/aws/rds-log-source.ts';
import { loadStatementParser } from '../../functions/monitor/statement-shape.ts';
import {
  entryStartPattern,
  loggedStatements,
  parseLogEntries,
  withParameters,
} from '../../functions/optimizer/server-log.ts';

beforeAll(async () => {
  await loadStatementParser();
});

const LOCAL = '%m [%p] ';
const RDS = '%t:%r:%u@%d:[%p]:';

describe('server log entries', () => {
  it('reads statements, executes with their parameters and auto_explain plans; carries the last message', () => {
    const text = [
      '2026-12-07 01:02:03.456 UTC [101] LOG:  duration: 0.512 ms  statement: SELECT * FROM orders',
      "\tWHERE status = 'new'",
      '2026-12-07 01:02:03.460 UTC [102] LOG:  duration: 0.020 ms  parse <unnamed>: SELECT * FROM orders WHERE id = $1',
      '2026-12-07 01:02:03.461 UTC [102] LOG:  duration: 0.030 ms  bind <unnamed>: SELECT * FROM orders WHERE id = $1',
      "2026-12-07 01:02:03.461 UTC [102] DETAIL:  Parameters: $1 = '42'",
      '2026-12-07 01:02:03.462 UTC [102] LOG:  duration: 1.250 ms  execute <unnamed>: SELECT * FROM orders WHERE id = $1',
      "2026-12-07 01:02:03.462 UTC [102] DETAIL:  Parameters: $1 = '42'",
      '2026-12-07 01:02:04.000 UTC [103] LOG:  duration: 25.100 ms  plan:',
      '\tQuery Text: SELECT count(*) FROM orders WHERE payload @> \'{"a": 1}\'',
      '\tAggregate  (cost=10.00..10.01 rows=1 width=8) (actual time=0.1..0.1 rows=1 loops=1)',
      '\t  ->  Seq Scan on orders  (cost=0.00..9.00 rows=3 width=0)',
      '2026-12-07 01:02:05.000 UTC [104] LOG:  duration: 3.000 ms  execute S_1: SELECT * FROM orders WHERE id = $1',
      '',
    ].join('\n');
    const { entries, rest } = parseLogEntries(text, LOCAL);
    // The last execute may still get its DETAIL: carried, not read.
    expect(rest).toContain('execute S_1');
    const found = loggedStatements(entries);
    expect(found).toEqual([
      { sql: "SELECT * FROM orders\nWHERE status = 'new'", durationMs: 0.512 },
      { sql: "SELECT * FROM orders WHERE id = '42'", durationMs: 1.25 },
      {
        sql: `SELECT count(*) FROM orders WHERE payload @> '{"a": 1}'`,
        durationMs: 25.1,
        plan: expect.stringContaining('Seq Scan on orders'),
      },
    ]);
    // Read with what followed, the carried message comes out with its parameters.
    const next = parseLogEntries(
      `${rest}2026-12-07 01:02:05.000 UTC [104] DETAIL:  Parameters: $1 = '7'\n`,
      LOCAL,
      true,
    );
    expect(loggedStatements(next.entries)).toEqual([
      { sql: "SELECT * FROM orders WHERE id = '7'", durationMs: 3 },
    ]);
    // PostgreSQL 15 and older spell it "parameters".
    const pg15 = parseLogEntries(
      `${rest}2026-12-07 01:02:05.000 UTC [104] DETAIL:  parameters: $1 = '8'\n`,
      LOCAL,
      true,
    );
    expect(loggedStatements(pg15.entries)).toEqual([
      { sql: "SELECT * FROM orders WHERE id = '8'", durationMs: 3 },
    ]);
  });

  it("reads RDS's prefix and names the database of each statement", () => {
    const re = entryStartPattern(RDS);
    const line =
      '2026-12-07 01:02:03 UTC:10.0.1.5(51234):app@shop:[4242]:LOG:  duration: 2.000 ms  statement: SELECT 1';
    expect(re.exec(line)?.groups?.db).toBe('shop');
    const { entries } = parseLogEntries(
      `${line}\n2026-12-07 01:02:03 UTC::@:[77]:LOG:  checkpoint starting: time\n`,
      RDS,
      true,
    );
    expect(loggedStatements(entries)).toEqual([{ sql: 'SELECT 1', durationMs: 2, database: 'shop' }]);
  });

  it('reads auto_explain JSON with its parameters', () => {
    const text = [
      '2026-12-07 01:02:04.000 UTC [103] LOG:  duration: 5.000 ms  plan:',
      '\t{',
      '\t  "Query Text": "SELECT * FROM orders WHERE customer_id = $1",',
      '\t  "Query Parameters": "$1 = \'9\'",',
      '\t  "Plan": {"Node Type": "Index Scan"}',
      '\t}',
      '',
    ].join('\n');
    const found = loggedStatements(parseLogEntries(text, LOCAL, true).entries);
    expect(found).toEqual([
      {
        sql: "SELECT * FROM orders WHERE customer_id = '9'",
        durationMs: 5,
        plan: '{"Node Type":"Index Scan"}',
      },
    ]);
  });

  it('puts parameters in by the parser: never inside strings or comments, NULLs and quotes kept', () => {
    expect(
      withParameters("SELECT '$1', $1 /* $2 */, $2, $10 FROM t", "$1 = 'a''b', $2 = NULL, $10 = 'x'"),
    ).toBe("SELECT '$1', 'a''b' /* $2 */, NULL, 'x' FROM t");
    expect(withParameters("SELECT $1 FROM t WHERE n = 'é' AND m = $2", "$1 = 'ü', $2 = '3'")).toBe(
      "SELECT 'ü' FROM t WHERE n = 'é' AND m = '3'",
    );
    // A parameter the log does not give: no sample.
    expect(withParameters('SELECT $1, $2', "$1 = '1'")).toBeNull();
  });
});

describe('RDS log source', () => {
  it('lists the stderr log files of its instance only, oldest first, across pages', async () => {
    const rds = mockClient(RDSClient);
    rds
      .on(DescribeDBLogFilesCommand, { DBInstanceIdentifier: 'prod', Marker: undefined })
      .resolves({
        DescribeDBLogFiles: [
          { LogFileName: 'error/postgresql.log.2026-12-07-01', LastWritten: 2000, Size: 10 },
          { LogFileName: 'error/postgresql.log.2026-12-07-01.csv', LastWritten: 2000, Size: 10 },
        ],
        Marker: 'page2',
      })
      .on(DescribeDBLogFilesCommand, { DBInstanceIdentifier: 'prod', Marker: 'page2' })
      .resolves({
        DescribeDBLogFiles: [
          { LogFileName: 'error/postgresql.log.2026-12-07-00', LastWritten: 1000, Size: 5 },
        ],
      });
    const files = await new RdsLogSource(rds as unknown as RDSClient, 'prod').list();
    expect(files.map((f) => f.name)).toEqual([
      'error/postgresql.log.2026-12-07-00',
      'error/postgresql.log.2026-12-07-01',
    ]);
    expect(
      rds
        .commandCalls(DescribeDBLogFilesCommand)
        .every((c) => c.args[0].input.DBInstanceIdentifier === 'prod'),
    ).toBe(true);
  });

  it('reads portions on from the marker until the bytes asked for or the end, and returns the next marker', async () => {
    const rds = mockClient(RDSClient);
    rds
      .on(DownloadDBLogFilePortionCommand, { Marker: '5:100' })
      .resolves({ LogFileData: 'line one\n', Marker: '5:200', AdditionalDataPending: true })
      .on(DownloadDBLogFilePortionCommand, { Marker: '5:200' })
      .resolves({ LogFileData: 'line two\n', Marker: '5:300', AdditionalDataPending: true })
      .on(DownloadDBLogFilePortionCommand, { Marker: '5:300' })
      .resolves({ LogFileData: 'line three\n', Marker: '5:400', AdditionalDataPending: false });
    const source = new RdsLogSource(rds as unknown as RDSClient, 'prod');
    // Bounded: stops once 10 bytes are read, with more pending.
    expect(await source.read('error/postgresql.log', '5:100', 10)).toEqual({
      text: 'line one\nline two\n',
      marker: '5:300',
      more: true,
    });
    expect(await source.read('error/postgresql.log', '5:300', 1_000)).toEqual({
      text: 'line three\n',
      marker: '5:400',
      more: false,
    });
    expect(rds.commandCalls(DownloadDBLogFilePortionCommand)[0]!.args[0].input).toEqual({
      DBInstanceIdentifier: 'prod',
      LogFileName: 'error/postgresql.log',
      Marker: '5:100',
    });
  });
});
