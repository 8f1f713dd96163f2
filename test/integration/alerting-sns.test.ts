import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnsNotifier } from '../../functions/adapters/aws/sns-notifier.ts';
import { renderChatbot, renderEmail } from '../../functions/alerting/render.ts';
import type { AlertNotification } from '../../functions/ports.ts';

/**
 * The SNS notifier's real request on the wire: the SDK client pointed at a loopback HTTP server that
 * checks what AWS would receive (Query protocol, SigV4, the Publish parameters) and answers like SNS.
 */

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  params: URLSearchParams;
}

let server: Server;
let port = 0;
const received: Received[] = [];
let answer: { status: number; body: string } = { status: 200, body: '' };

const OK = `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <PublishResult><MessageId>4b7c6a5e-0000-4000-8000-000000000001</MessageId></PublishResult>
  <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>
</PublishResponse>`;

const NOT_AUTHORIZED = `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>User is not authorized to perform: SNS:Publish</Message></Error>
  <RequestId>req-2</RequestId>
</ErrorResponse>`;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        params: new URLSearchParams(body),
      });
      res.writeHead(answer.status, { 'content-type': 'text/xml' });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:dgm-alerts';

const NOTIFICATION: AlertNotification = {
  id: 'run-wire',
  target: 'prod',
  generatedAt: '2026-11-28T08:02:00.000Z',
  items: [
    {
      transition: 'firing',
      title: 'Lock contention',
      unit: 'seconds',
      runbook: 'See who blocks whom.',
      firingSince: '2026-11-28T08:01:00.000Z',
      alert: {
        name: 'lock_waits',
        severity: 'warning',
        message: '2 session(s) wait for locks; longest 45 s — “quoted” & <escaped>',
        metric_value: 45,
        threshold: 30,
        timestamp: '2026-11-28T08:02:00.000Z',
        target: 'prod',
        resource: 'database',
      },
    },
  ],
  heldBack: [],
};

function notifier(): SnsNotifier {
  return new SnsNotifier(
    TOPIC,
    new SNSClient({
      region: 'eu-west-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: {
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      },
      maxAttempts: 1,
    }),
  );
}

describe('SNS notifier on the wire', () => {
  it('sends a signed Query-protocol Publish with the JSON message structure and the attributes', async () => {
    answer = { status: 200, body: OK };
    received.length = 0;
    await notifier().publish(NOTIFICATION);
    expect(received).toHaveLength(1);
    const r = received[0]!;
    expect(r.method).toBe('POST');
    expect(r.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(r.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/sns\/aws4_request, SignedHeaders=.+, Signature=[0-9a-f]{64}$/,
    );
    // The secret key signs; it never travels.
    expect(JSON.stringify(r)).not.toContain('wJalrXUtnFEMI');
    const p = r.params;
    expect(p.get('Action')).toBe('Publish');
    expect(p.get('Version')).toBe('2010-03-31');
    expect(p.get('TopicArn')).toBe(TOPIC);
    expect(p.get('MessageStructure')).toBe('json');
    expect(p.get('Subject')).toBe(renderEmail(NOTIFICATION).subject);
    const message = JSON.parse(p.get('Message')!);
    expect(message.email).toBe(renderEmail(NOTIFICATION).body);
    expect(JSON.parse(message.default)).toEqual(renderChatbot(NOTIFICATION));
    expect(JSON.parse(message.sqs).items[0].alert).toEqual(NOTIFICATION.items[0]!.alert);
    const attributes: Record<string, { type: string; value: string }> = {};
    for (let i = 1; p.has(`MessageAttributes.entry.${i}.Name`); i++) {
      attributes[p.get(`MessageAttributes.entry.${i}.Name`)!] = {
        type: p.get(`MessageAttributes.entry.${i}.Value.DataType`)!,
        value: p.get(`MessageAttributes.entry.${i}.Value.StringValue`)!,
      };
    }
    expect(attributes).toEqual({
      severity: { type: 'String', value: 'warning' },
      alert_type: { type: 'String.Array', value: '["lock_waits"]' },
      target: { type: 'String', value: 'prod' },
      transition: { type: 'String.Array', value: '["firing"]' },
    });
  });

  it('throws the service error, so the alert job leaves the alert un-notified', async () => {
    answer = { status: 403, body: NOT_AUTHORIZED };
    received.length = 0;
    await expect(notifier().publish(NOTIFICATION)).rejects.toThrow(/not authorized to perform: SNS:Publish/);
    expect(received).toHaveLength(1);
  });
});
