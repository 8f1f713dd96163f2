import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { lambdaLogger } from '../adapters/aws/powertools-logger.ts';
import {
  postToWebhook,
  SlackPostError,
  secretsManagerWebhookUrl,
  type WebhookUrlReader,
} from '../adapters/slack/webhook.ts';
import { renderSlackMessage, type SlackMessage, type SlackMessageKind } from '../alerting/slack-message.ts';
import { BadInputError } from '../errors.ts';
import { type Logger, silentLogger } from '../ports.ts';
import { secretFrom, secretValue } from './middleware/secret-value.ts';
import { type SnsEvent, snsRecords } from './middleware/sns-records.ts';

/**
 * The Slack webhook forwarder: subscribed to the alert topic, it posts each SNS message to a Slack
 * incoming webhook whose URL lives in Secrets Manager; the alternative to AWS Chatbot for teams that
 * cannot authorize Chatbot in their workspace. Rendering: alerting/slack-message.ts; the webhook:
 * adapters/slack/webhook.ts. It runs outside the VPC: Slack is on the internet.
 */

export interface SlackNotifierDeps {
  /** The incoming-webhook URL; undefined renders without posting (the CLI's invoke without a URL). */
  webhookUrl: WebhookUrlReader;
  /** Posts one message; throws on a failure (the async invoke is retried, then sent to the DLQ). */
  post?(url: string, message: SlackMessage): Promise<void>;
  logger?: Logger;
}

export interface SlackNotifierResult {
  delivered: number;
  /** Set when no webhook URL is configured: the messages were rendered, not sent. */
  rendered?: SlackMessage[];
  messages: Array<{ messageId: string; kind: SlackMessageKind; title: string }>;
}

/** 403/404/410: the webhook was revoked or replaced; the secret is read again once (it may be rotated). */
const GONE = [403, 404, 410];

export function createSlackNotifierHandler(deps: SlackNotifierDeps) {
  const post = deps.post ?? ((url: string, message: SlackMessage) => postToWebhook(url, message));
  const logger = deps.logger ?? silentLogger;
  return middy(async (event: unknown, context: Context): Promise<SlackNotifierResult> => {
    const secret = secretFrom(context, 'webhookUrl');
    let url = secret.value;
    const result: SlackNotifierResult = { delivered: 0, messages: [] };
    for (const { Sns } of (event as SnsEvent).Records) {
      const { kind, title, slack } = renderSlackMessage(Sns.Message, Sns.Subject);
      result.messages.push({ messageId: Sns.MessageId, kind, title });
      if (url === undefined) {
        result.rendered = [...(result.rendered ?? []), slack];
        continue;
      }
      try {
        await post(url, slack);
      } catch (err) {
        if (!(err instanceof SlackPostError) || !GONE.includes(err.status)) throw err;
        url = await secret.refresh();
        if (url === undefined) throw err;
        await post(url, slack);
      }
      result.delivered++;
      logger.info('posted to Slack', { messageId: Sns.MessageId, kind });
    }
    return result;
  })
    .use(snsRecords())
    .use(secretValue({ read: deps.webhookUrl, contextKey: 'webhookUrl' }));
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new BadInputError(`environment ${name} is not set`);
  return value;
}

// The secret ARN comes from the stack; read lazily so importing this module never throws.
let awsWebhookUrl: WebhookUrlReader | undefined;
export const handler = createSlackNotifierHandler({
  webhookUrl: (options) => {
    awsWebhookUrl ??= secretsManagerWebhookUrl(requiredEnv('DGM_SLACK_WEBHOOK_SECRET_ARN'));
    return awsWebhookUrl(options);
  },
  logger: lambdaLogger('dgm-slack-notifier'),
});
