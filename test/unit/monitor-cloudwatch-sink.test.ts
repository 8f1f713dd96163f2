import { createServer, type IncomingMessage } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CloudWatchMetricSink } from '../../functions/adapters/aws/cloudwatch.ts';
import type { MetricDatum } from '../../functions/ports.ts';

const datum = (i: number, extra: Partial<MetricDatum> = {}): MetricDatum => ({
  name: 'QueryDuration',
  value: i / 1000,
  unit: 'Seconds',
  dimensions: { DBInstance: 'orders-db', Operation: 'select', Table: `t${i}` },
  ...extra,
});

const throttling = () =>
  Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } });
const noSleep = { sleep: async () => {}, random: () => 0.5 };

describe('CloudWatchMetricSink', () => {
  const cw = mockClient(CloudWatchClient);
  afterEach(() => cw.reset());
  // The wire test below needs the real client.
  afterAll(() => cw.restore());

  it('batches to 1000 datums per PutMetricData call in namespace DGM/Database', async () => {
    cw.on(PutMetricDataCommand).resolves({});
    const sink = new CloudWatchMetricSink(new CloudWatchClient({ region: 'eu-west-1' }), noSleep);
    const result = await sink.put(Array.from({ length: 2500 }, (_, i) => datum(i)));
    expect(result).toEqual({ sent: 2500, failed: 0, calls: 3, errors: [] });
    const calls = cw.commandCalls(PutMetricDataCommand);
    expect(calls.map((c) => c.args[0].input.MetricData?.length)).toEqual([1000, 1000, 500]);
    expect(calls[0]!.args[0].input.Namespace).toBe('DGM/Database');
    expect(calls[0]!.args[0].input.MetricData?.[1]).toEqual({
      MetricName: 'QueryDuration',
      Value: 0.001,
      Unit: 'Seconds',
      Dimensions: [
        { Name: 'DBInstance', Value: 'orders-db' },
        { Name: 'Operation', Value: 'select' },
        { Name: 'Table', Value: 't1' },
      ],
    });
  });

  it('keeps each request under the body size limit', async () => {
    cw.on(PutMetricDataCommand).resolves({});
    const sink = new CloudWatchMetricSink(new CloudWatchClient({ region: 'eu-west-1' }), noSleep);
    // ~30 dimensions of ~1000 characters: about 31 kB a datum, so 1 MB holds fewer than 40.
    const dims = Object.fromEntries(Array.from({ length: 29 }, (_, i) => [`D${i}`, 'x'.repeat(1000)]));
    const big = Array.from({ length: 100 }, (_, i) =>
      datum(i, { dimensions: { DBInstance: 'db', ...dims } }),
    );
    const result = await sink.put(big);
    expect(result.sent).toBe(100);
    for (const c of cw.commandCalls(PutMetricDataCommand)) {
      expect(JSON.stringify(c.args[0].input).length).toBeLessThan(1_000_000);
    }
    expect(result.calls).toBeGreaterThanOrEqual(4);
  });

  it('retries throttling with growing backoff, then succeeds', async () => {
    cw.on(PutMetricDataCommand).rejectsOnce(throttling()).rejectsOnce(throttling()).resolves({});
    const delays: number[] = [];
    const sink = new CloudWatchMetricSink(new CloudWatchClient({ region: 'eu-west-1' }), {
      sleep: async (ms) => {
        delays.push(ms);
      },
      random: () => 1,
      baseDelayMs: 100,
    });
    const result = await sink.put([datum(1), datum(2)]);
    expect(result).toEqual({ sent: 2, failed: 0, calls: 3, errors: [] });
    expect(delays).toEqual([100, 200]);
  });

  it('reports partial failures: a batch that keeps failing is counted, the others still go', async () => {
    cw.on(PutMetricDataCommand)
      .rejectsOnce(Object.assign(new Error('bad dimension'), { name: 'InvalidParameterValue' }))
      .resolves({});
    const sink = new CloudWatchMetricSink(new CloudWatchClient({ region: 'eu-west-1' }), {
      ...noSleep,
      maxDatumsPerCall: 2,
    });
    const result = await sink.put([datum(1), datum(2), datum(3), datum(Number.NaN)]);
    expect(result.sent).toBe(1);
    expect(result.failed).toBe(3);
    expect(result.calls).toBe(2);
    expect(result.errors[0]).toMatch(/not a finite number/);
    expect(result.errors[1]).toMatch(
      /PutMetricData of 2 datums failed after 1 attempt\(s\): InvalidParameterValue/,
    );
  });

  it('gives up on throttling after maxAttempts', async () => {
    cw.on(PutMetricDataCommand).rejects(throttling());
    const sink = new CloudWatchMetricSink(new CloudWatchClient({ region: 'eu-west-1' }), {
      ...noSleep,
      maxAttempts: 3,
    });
    const result = await sink.put([datum(1)]);
    expect(result).toMatchObject({ sent: 0, failed: 1, calls: 3 });
    expect(result.errors[0]).toMatch(/after 3 attempt\(s\): Throttling/);
  });
});

describe('CloudWatchMetricSink on the wire', () => {
  it('sends a real PutMetricData request (AWS JSON 1.0) that a loopback endpoint accepts', async () => {
    const seen: Array<{ headers: IncomingMessage['headers']; body: unknown; url: string }> = [];
    let throttleFirst = true;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        let raw = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
        seen.push({ headers: req.headers, body: JSON.parse(raw.toString('utf8')), url: req.url ?? '' });
        if (throttleFirst) {
          throttleFirst = false;
          res.writeHead(400, {
            'content-type': 'application/x-amz-json-1.0',
            'x-amzn-query-error': 'Throttling;Sender',
          });
          res.end(
            JSON.stringify({ __type: 'com.amazonaws.cloudwatch#Throttling', message: 'Rate exceeded' }),
          );
          return;
        }
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const client = new CloudWatchClient({
        region: 'eu-west-1',
        endpoint: `http://127.0.0.1:${port}`,
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
        maxAttempts: 1,
      });
      const sink = new CloudWatchMetricSink(client, noSleep);
      const ts = new Date('2026-11-28T10:00:00Z');
      const result = await sink.put([
        { name: 'Up', value: 1, unit: 'Count', dimensions: { DBInstance: 'orders-db' }, timestamp: ts },
        {
          name: 'Connections',
          value: 7,
          unit: 'Count',
          dimensions: { DBInstance: 'orders-db', State: 'active' },
        },
      ]);
      expect(result).toEqual({ sent: 2, failed: 0, calls: 2, errors: [] });
      expect(seen).toHaveLength(2);
      const req = seen[1]!;
      expect(req.headers['x-amz-target']).toBe('GraniteServiceVersion20100801.PutMetricData');
      expect(req.headers['content-type']).toBe('application/x-amz-json-1.0');
      expect(String(req.headers.authorization)).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/monitoring\/aws4_request/,
      );
      expect(req.body).toEqual({
        Namespace: 'DGM/Database',
        MetricData: [
          {
            MetricName: 'Up',
            Value: 1,
            Unit: 'Count',
            Dimensions: [{ Name: 'DBInstance', Value: 'orders-db' }],
            Timestamp: ts.getTime() / 1000,
          },
          {
            MetricName: 'Connections',
            Value: 7,
            Unit: 'Count',
            Dimensions: [
              { Name: 'DBInstance', Value: 'orders-db' },
              { Name: 'State', Value: 'active' },
            ],
          },
        ],
      });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
