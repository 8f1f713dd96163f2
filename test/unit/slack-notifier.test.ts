import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { localContext } from '../../bin/cli/invoke.ts';
import {
  SlackPostError,
  SlackWebhookNotifier,
  secretsManagerWebhookUrl,
} from '../../functions/adapters/slack/webhook.ts';
import {
  renderChatbot,
  renderSlack,
  renderSnsPublish,
  slackFromChatbot,
} from '../../functions/alerting/render.ts';
import { renderSlackMessage, type SlackMessage } from '../../functions/alerting/slack-message.ts';
import { BadInputError } from '../../functions/errors.ts';
import { createSlackNotifierHandler } from '../../functions/handlers/slack-notifier.ts';
import type { AlertNotification } from '../../functions/ports.ts';

const ALARM = {
  AlarmName: 'DgmDbOps-main-MissedSample',
  AlarmDescription: 'No successful sample of main for 5 minutes',
  AWSAccountId: '123456789012',
  NewStateValue: 'ALARM',
  OldStateValue: 'OK',
  NewStateReason: 'Threshold Crossed: no datapoints were received for 5 periods',
  StateChangeTime: '2026-03-01T10:00:00.000+0000',
  Region: 'EU (Ireland)',
  AlarmArn: 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:DgmDbOps-main-MissedSample',
};

const NOTIFICATION: AlertNotification = {
  id: 'claim-1',
  target: 'main',
  generatedAt: '2026-03-01T10:00:00.000Z',
  heldBack: [],
  items: [
    {
      transition: 'firing',
      title: 'Slow queries',
      unit: 'count',
      runbook: 'Check dgm.slow_queries, then run optimize',
      firingSince: '2026-03-01T09:58:00.000Z',
      alert: {
        name: 'slow_queries',
        severity: 'warning',
        message: '3 statements above 200 ms',
        metric_value: 3,
        threshold: 1,
        timestamp: '2026-03-01T10:00:00.000Z',
        target: 'main',
        resource: 'database',
      },
    },
  ],
};
/** What SNS hands a Lambda subscriber: the publish request's "default" message. */
const ALERT_MESSAGE = JSON.parse(renderSnsPublish(NOTIFICATION, 'arn:aws:sns:eu-west-1:1:t').Message)
  .default as string;

function snsEvent(...messages: Array<{ Message: string; Subject?: string }>) {
  return {
    Records: messages.map((m, i) => ({
      EventSource: 'aws:sns',
      Sns: { MessageId: `m-${i}`, Timestamp: '2026-03-01T10:00:00Z', Subject: null, ...m },
    })),
  };
}

const ctx = () => localContext('slack-notifier', 30);

describe('Slack rendering', () => {
  it('renders a CloudWatch alarm with its state, reason and a console link in its region', () => {
    const { kind, title, slack } = renderSlackMessage(JSON.stringify(ALARM));
    expect(kind).toBe('cloudwatch-alarm');
    expect(title).toBe('ALARM: DgmDbOps-main-MissedSample');
    expect(slack.text).toBe(':red_circle: ALARM: DgmDbOps-main-MissedSample');
    const json = JSON.stringify(slack.blocks);
    expect(json).toContain('is *ALARM* (was OK)');
    expect(json).toContain(
      'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/',
    );
    expect(json).toContain('_Threshold Crossed: no datapoints were received for 5 periods_');
  });

  it("renders the alert job's message with the alerting module's Slack rendering", () => {
    const { kind, title, slack } = renderSlackMessage(ALERT_MESSAGE, 'ignored subject');
    expect(kind).toBe('alert');
    expect(slack).toEqual(slackFromChatbot(renderChatbot(NOTIFICATION)));
    expect(title).toBe(renderChatbot(NOTIFICATION).content.title);
    expect(JSON.stringify(slack.blocks)).toContain('Slow queries');
  });

  it('renders anything else as escaped text under its subject, within Slack limits', () => {
    const long = `<b>&${'x'.repeat(5000)}`;
    const { kind, slack } = renderSlackMessage(long, 'Plain');
    expect(kind).toBe('text');
    const section = slack.blocks[1] as { text: { text: string } };
    expect(section.text.text.startsWith('&lt;b&gt;&amp;x')).toBe(true);
    expect(section.text.text.length).toBe(3000);
    expect(slack.text).toBe('Plain');
  });
});

/** A loopback HTTP server recording requests; answer() decides each response. */
function recorder(answer: (req: IncomingMessage, body: string) => { status: number; body?: string }) {
  const requests: Array<{ url: string; headers: IncomingMessage['headers']; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body });
      const out = answer(req, body);
      res.writeHead(out.status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(out.body ?? 'ok');
    });
  });
  return {
    server,
    requests,
    async listen(): Promise<string> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
  };
}

describe('slack-notifier handler', () => {
  let slack: ReturnType<typeof recorder>;
  let base: string;
  let status = 200;
  beforeAll(async () => {
    slack = recorder(() => ({ status }));
    base = await slack.listen();
  });
  afterAll(() => new Promise<void>((r) => slack.server.close(() => r())));
  beforeEach(() => {
    slack.requests.length = 0;
    status = 200;
  });

  it('posts each record as JSON to the webhook and reads the secret once per container', async () => {
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    const sm = mockClient(client);
    sm.on(GetSecretValueCommand, { SecretId: 'arn:webhook' }).resolves({
      SecretString: JSON.stringify({ url: 'https://hooks.slack.com/services/T0/B0/xyz' }),
    });
    // The reader insists on https (a real webhook); the test points the URL it read at the loopback.
    const read = secretsManagerWebhookUrl('arn:webhook', client);
    const handler = createSlackNotifierHandler({
      webhookUrl: async (o) => (await read(o))?.replace('https://hooks.slack.com', base),
    });
    const out = await handler(
      snsEvent({ Message: JSON.stringify(ALARM) }, { Message: 'hello', Subject: 'Hi' }),
      ctx(),
    );
    await handler(snsEvent({ Message: ALERT_MESSAGE }), ctx());
    expect(out).toEqual({
      delivered: 2,
      messages: [
        { messageId: 'm-0', kind: 'cloudwatch-alarm', title: 'ALARM: DgmDbOps-main-MissedSample' },
        { messageId: 'm-1', kind: 'text', title: 'Hi' },
      ],
    });
    expect(slack.requests.map((r) => r.url)).toEqual(Array(3).fill('/services/T0/B0/xyz'));
    expect(slack.requests[0]!.headers['content-type']).toBe('application/json');
    const first = JSON.parse(slack.requests[0]!.body) as SlackMessage;
    expect(first.text).toBe(':red_circle: ALARM: DgmDbOps-main-MissedSample');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('reads the secret again when Slack says the webhook is gone, and posts to the new URL', async () => {
    let reads = 0;
    const handler = createSlackNotifierHandler({
      webhookUrl: async (o) => {
        reads++;
        return o?.forceRefresh ? `${base}/new` : `${base}/revoked`;
      },
      post: async (url, message) => {
        if (url.endsWith('/revoked')) throw new SlackPostError(410);
        const { postToWebhook } = await import('../../functions/adapters/slack/webhook.ts');
        await postToWebhook(url, message);
      },
    });
    const out = await handler(snsEvent({ Message: 'x' }), ctx());
    expect(out).toMatchObject({ delivered: 1 });
    expect(reads).toBe(2);
    expect(slack.requests.map((r) => r.url)).toEqual(['/new']);
  });

  it('throws on a Slack error so Lambda retries the async event, without the URL in the message', async () => {
    status = 500;
    const handler = createSlackNotifierHandler({ webhookUrl: async () => `${base}/services/secret-token` });
    const err = await handler(snsEvent({ Message: 'x' }), ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SlackPostError);
    expect((err as Error).message).toBe('Slack webhook answered HTTP 500');
  });

  it('renders without posting when no webhook is configured (local invoke)', async () => {
    const handler = createSlackNotifierHandler({ webhookUrl: async () => undefined });
    const out = await handler(snsEvent({ Message: ALERT_MESSAGE }), ctx());
    expect(out.delivered).toBe(0);
    expect(out.rendered?.[0]).toEqual(slackFromChatbot(renderChatbot(NOTIFICATION)));
    expect(slack.requests).toHaveLength(0);
  });

  it.each([[{}], [{ Records: [] }], [{ Records: [{ Sns: { Subject: 'x' } }] }]])(
    'rejects %j as bad input',
    async (event) => {
      const handler = createSlackNotifierHandler({ webhookUrl: async () => undefined });
      await expect(handler(event, ctx())).rejects.toBeInstanceOf(BadInputError);
    },
  );

  it('refuses a secret that holds no https URL', async () => {
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    mockClient(client).on(GetSecretValueCommand).resolves({ SecretString: 'http://insecure.example' });
    await expect(secretsManagerWebhookUrl('arn:webhook', client)()).rejects.toThrow(
      /holds no https webhook URL/,
    );
  });
});

describe('Secrets Manager on the wire', () => {
  it('sends a signed GetSecretValue request and reads the URL from the reply', async () => {
    const sm = recorder((req, body) => {
      const target = req.headers['x-amz-target'];
      const ok = target === 'secretsmanager.GetSecretValue' && JSON.parse(body).SecretId === 'arn:webhook';
      return ok
        ? {
            status: 200,
            body: JSON.stringify({
              ARN: 'arn:webhook',
              Name: 'webhook',
              SecretString: 'https://hooks.slack.com/services/T0/B0/wire',
            }),
          }
        : { status: 400, body: JSON.stringify({ __type: 'ValidationException', message: 'unexpected' }) };
    });
    const endpoint = await sm.listen();
    try {
      const client = new SecretsManagerClient({
        region: 'eu-west-1',
        endpoint,
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'dummy-secret' },
      });
      const url = await secretsManagerWebhookUrl('arn:webhook', client)();
      expect(url).toBe('https://hooks.slack.com/services/T0/B0/wire');
      expect(sm.requests).toHaveLength(1);
      const req = sm.requests[0]!;
      expect(req.headers['content-type']).toBe('application/x-amz-json-1.1');
      expect(req.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request, SignedHeaders=.*, Signature=[0-9a-f]{64}$/,
      );
      expect(JSON.parse(req.body)).toEqual({ SecretId: 'arn:webhook' });
    } finally {
      await new Promise<void>((r) => sm.server.close(() => r()));
    }
  });
});

describe('SlackWebhookNotifier (a channel for the CompositeNotifier)', () => {
  it("posts the notification's Slack rendering to the webhook on the wire", async () => {
    const hook = recorder(() => ({ status: 200 }));
    const base = await hook.listen();
    try {
      await new SlackWebhookNotifier(async () => `${base}/services/T/B/x`).publish(NOTIFICATION);
      expect(hook.requests.map((r) => r.url)).toEqual(['/services/T/B/x']);
      expect(JSON.parse(hook.requests[0]!.body)).toEqual(renderSlack(NOTIFICATION));
    } finally {
      await new Promise<void>((r) => hook.server.close(() => r()));
    }
  });

  it('throws without a webhook URL, so the alert stays un-notified', async () => {
    await expect(new SlackWebhookNotifier(async () => undefined).publish(NOTIFICATION)).rejects.toThrow(
      'no Slack webhook URL configured',
    );
  });
});
