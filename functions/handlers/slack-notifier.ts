import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import { z } from 'zod';
import { formatZodError } from '../config.ts';
import { BadInputError, errorMessage } from '../errors.ts';
import {
  parseChatbotNotification,
  type SlackWebhookPayload,
  slackFromChatbot,
} from '../monitor/alert-render.ts';
import type { Logger } from '../ports.ts';

/**
 * The Slack webhook forwarder: subscribed to the alert topic, it posts each SNS message to a Slack
 * incoming webhook whose URL lives in Secrets Manager. It is the alternative to AWS Chatbot for teams
 * that cannot authorize Chatbot in their workspace. It renders the three kinds of message the topic
 * carries: CloudWatch alarm state changes, the alert job's notifications (AWS Chatbot's custom
 * notification schema), and anything else as plain text. It runs outside the VPC: Slack is on the
 * internet.
 */

export interface SlackNotifierDeps {
  /** The incoming-webhook URL; undefined renders without posting (the CLI's invoke without a URL). */
  webhookUrl(options?: { forceRefresh?: boolean }): Promise<string | undefined>;
  /** Posts one message; throws on a failure (the async invoke is retried, then sent to the DLQ). */
  post?(url: string, message: SlackMessage): Promise<void>;
  logger?: Logger;
}

/** The webhook payload: Block Kit blocks with a plain-text fallback. */
export type SlackMessage = SlackWebhookPayload;

type SlackBlock = SlackWebhookPayload['blocks'][number];

export interface SlackNotifierResult {
  delivered: number;
  /** Set when no webhook URL is configured: the messages were rendered, not sent. */
  rendered?: SlackMessage[];
  messages: Array<{ messageId: string; kind: MessageKind; title: string }>;
}

type MessageKind = 'cloudwatch-alarm' | 'alert' | 'text';

const SnsEventSchema = z.object({
  Records: z
    .array(
      z.object({
        Sns: z
          .object({
            MessageId: z.string().default(''),
            Subject: z.string().nullish(),
            Message: z.string(),
            Timestamp: z.string().optional(),
          })
          .loose(),
      }),
    )
    .min(1),
});

// Slack's limits: header text 150 characters, section text 3000.
const HEADER_MAX = 150;
const SECTION_MAX = 3000;

const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** Escapes the three characters Slack's mrkdwn reserves. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const AlarmSchema = z
  .object({
    AlarmName: z.string(),
    AlarmDescription: z.string().nullish(),
    NewStateValue: z.enum(['ALARM', 'OK', 'INSUFFICIENT_DATA']),
    OldStateValue: z.string().optional(),
    NewStateReason: z.string().default(''),
    StateChangeTime: z.string().optional(),
    AlarmArn: z.string().optional(),
  })
  .loose();

const STATE_ICON = { ALARM: ':red_circle:', OK: ':large_green_circle:', INSUFFICIENT_DATA: ':white_circle:' };

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Renders one SNS message for Slack. */
export function renderSlackMessage(
  message: string,
  subject?: string | null,
): { kind: MessageKind; title: string; slack: SlackMessage } {
  const json = tryJson(message);
  const alarm = AlarmSchema.safeParse(json);
  if (alarm.success) {
    const a = alarm.data;
    const region = a.AlarmArn?.split(':')[3];
    const title = `${a.NewStateValue}: ${a.AlarmName}`;
    const link = region
      ? `<https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#alarmsV2:alarm/${encodeURIComponent(a.AlarmName)}|Open in CloudWatch>`
      : undefined;
    const blocks: SlackBlock[] = [
      { type: 'header', text: { type: 'plain_text', text: clip(`${title}`, HEADER_MAX) } },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: clip(
            [
              `${STATE_ICON[a.NewStateValue]} *${slackEscape(a.AlarmName)}* is *${a.NewStateValue}*${a.OldStateValue ? ` (was ${slackEscape(a.OldStateValue)})` : ''}`,
              a.AlarmDescription ? slackEscape(a.AlarmDescription) : undefined,
              `_${slackEscape(a.NewStateReason)}_`,
            ]
              .filter(Boolean)
              .join('\n'),
            SECTION_MAX,
          ),
        },
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: [a.StateChangeTime, region, link].filter(Boolean).join(' · ') || 'CloudWatch alarm',
          },
        ],
      },
    ];
    return {
      kind: 'cloudwatch-alarm',
      title,
      slack: { text: `${STATE_ICON[a.NewStateValue]} ${title}`, blocks },
    };
  }
  // The alert job publishes AWS Chatbot custom notifications; the alerting module renders them for
  // webhooks exactly as Chatbot shows them.
  const chatbot = parseChatbotNotification(message);
  if (chatbot) {
    const slack = slackFromChatbot(chatbot);
    return { kind: 'alert', title: chatbot.content.title ?? slack.text, slack };
  }
  const title = subject ?? 'DGM database notification';
  return {
    kind: 'text',
    title,
    slack: {
      text: title,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: clip(title, HEADER_MAX) } },
        { type: 'section', text: { type: 'mrkdwn', text: clip(slackEscape(message), SECTION_MAX) } },
      ],
    },
  };
}

/** Thrown when Slack answers with an error; the status tells whether the URL itself is wrong. */
export class SlackPostError extends Error {
  override name = 'SlackPostError';
  readonly status: number;

  constructor(status: number) {
    super(`Slack webhook answered HTTP ${status}`);
    this.status = status;
  }
}

/** POSTs to the webhook with a timeout; never puts the URL (a credential) in an error. */
export async function postToWebhook(url: string, message: SlackMessage, timeoutMs = 5_000): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new Error(`Slack webhook unreachable: ${errorMessage(err)}`);
  }
  await response.body?.cancel().catch(() => {});
  if (!response.ok) throw new SlackPostError(response.status);
}

export function createSlackNotifierHandler(deps: SlackNotifierDeps) {
  const post = deps.post ?? ((url: string, message: SlackMessage) => postToWebhook(url, message));
  const logger: Logger = deps.logger ?? { info() {}, warn() {}, error() {} };
  return middy(async (event: unknown): Promise<SlackNotifierResult> => {
    const parsed = SnsEventSchema.safeParse(event);
    if (!parsed.success) throw new BadInputError(formatZodError('SNS event: ', parsed.error));
    let url = await deps.webhookUrl();
    const result: SlackNotifierResult = { delivered: 0, messages: [] };
    for (const { Sns } of parsed.data.Records) {
      const { kind, title, slack } = renderSlackMessage(Sns.Message, Sns.Subject);
      result.messages.push({ messageId: Sns.MessageId, kind, title });
      if (url === undefined) {
        result.rendered = [...(result.rendered ?? []), slack];
        continue;
      }
      try {
        await post(url, slack);
      } catch (err) {
        // 403/404/410: the webhook was revoked or replaced; read the secret again once (it may be rotated).
        if (!(err instanceof SlackPostError) || ![403, 404, 410].includes(err.status)) throw err;
        url = await deps.webhookUrl({ forceRefresh: true });
        if (url === undefined) throw err;
        await post(url, slack);
      }
      result.delivered++;
      logger.info('posted to Slack', { messageId: Sns.MessageId, kind });
    }
    return result;
  });
}

/**
 * Reads the webhook URL from Secrets Manager: the secret is the URL itself, or JSON with a `url` (or
 * `webhookUrl`) field. Cached per container for five minutes.
 */
export function secretsManagerWebhookUrl(
  secretId: string,
  client: SecretsManagerClient = new SecretsManagerClient({}),
  ttlMs = 5 * 60_000,
): SlackNotifierDeps['webhookUrl'] {
  let cached: { url: string; at: number } | undefined;
  return async (options = {}) => {
    if (cached && !options.forceRefresh && Date.now() - cached.at < ttlMs) return cached.url;
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    const raw = out.SecretString?.trim() ?? '';
    const json = tryJson(raw) as Record<string, unknown> | undefined;
    const url = typeof json === 'object' && json ? (json.url ?? json.webhookUrl ?? json.webhook_url) : raw;
    if (typeof url !== 'string' || !/^https:\/\//.test(url)) {
      throw new Error(`secret ${secretId} holds no https webhook URL (the URL itself, or JSON with "url")`);
    }
    cached = { url, at: Date.now() };
    return url;
  };
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new BadInputError(`environment ${name} is not set`);
  return value;
}

// The secret ARN comes from the stack; read lazily so importing this module never throws.
let awsWebhookUrl: SlackNotifierDeps['webhookUrl'] | undefined;
export const handler = createSlackNotifierHandler({
  webhookUrl: (options) => {
    awsWebhookUrl ??= secretsManagerWebhookUrl(requiredEnv('DGM_SLACK_WEBHOOK_SECRET_ARN'));
    return awsWebhookUrl(options);
  },
  logger: {
    info: (m, f) => console.log(JSON.stringify({ level: 'INFO', message: m, ...f })),
    warn: (m, f) => console.warn(JSON.stringify({ level: 'WARN', message: m, ...f })),
    error: (m, f) => console.error(JSON.stringify({ level: 'ERROR', message: m, ...f })),
  },
});
