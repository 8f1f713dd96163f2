import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { LambdaJobLauncher } from '../../functions/adapters/aws/lambda-launcher.ts';

// The governance launcher in AWS: an asynchronous invoke (InvocationType Event) of the maintainer.

const lambda = mockClient(LambdaClient);
afterEach(() => lambda.reset());

describe('LambdaJobLauncher', () => {
  it('invokes the maintainer asynchronously with the job event', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 202, $metadata: { requestId: 'req-1' } });
    const launcher = new LambdaJobLauncher('dgm-maintainer', new LambdaClient({ region: 'eu-west-1' }));
    const result = await launcher.launch({ task: 'optimize', target: 'orders-db', reason: 'governance:7' });
    expect(result).toEqual({
      launched: true,
      detail: { functionName: 'dgm-maintainer', statusCode: 202, requestId: 'req-1' },
    });
    const calls = lambda.commandCalls(InvokeCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.FunctionName).toBe('dgm-maintainer');
    expect(input.InvocationType).toBe('Event');
    expect(JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array))).toEqual({
      task: 'optimize',
      target: 'orders-db',
      reason: 'governance:7',
    });
  });

  it('fails when Lambda does not accept the event', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200 });
    const launcher = new LambdaJobLauncher('dgm-maintainer', new LambdaClient({ region: 'eu-west-1' }));
    await expect(launcher.launch({ task: 'optimize' })).rejects.toThrow(/answered 200, expected 202/);
    lambda.on(InvokeCommand).rejects(new Error('AccessDeniedException'));
    await expect(launcher.launch({ task: 'optimize' })).rejects.toThrow('AccessDeniedException');
  });

  it('sends a real Invoke request that a loopback endpoint accepts', async () => {
    lambda.restore();
    const seen: Array<{ method?: string; url?: string; headers: IncomingMessage['headers']; body: string }> =
      [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(202, { 'x-amzn-requestid': 'loopback-1', 'content-type': 'application/json' });
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const client = new LambdaClient({
        region: 'eu-west-1',
        endpoint: `http://127.0.0.1:${port}`,
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
        maxAttempts: 1,
      });
      const launcher = new LambdaJobLauncher(
        'arn:aws:lambda:eu-west-1:123456789012:function:dgm-maintainer',
        client,
      );
      const result = await launcher.launch({ task: 'optimize', target: 'orders-db', reason: 'governance:9' });
      expect(result).toMatchObject({ launched: true, detail: { statusCode: 202, requestId: 'loopback-1' } });
      expect(seen).toHaveLength(1);
      const req = seen[0]!;
      expect(req.method).toBe('POST');
      expect(req.url).toBe(
        `/2015-03-31/functions/${encodeURIComponent('arn:aws:lambda:eu-west-1:123456789012:function:dgm-maintainer')}/invocations`,
      );
      expect(req.headers['x-amz-invocation-type']).toBe('Event');
      expect(req.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request/,
      );
      expect(JSON.parse(req.body)).toEqual({ task: 'optimize', target: 'orders-db', reason: 'governance:9' });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
