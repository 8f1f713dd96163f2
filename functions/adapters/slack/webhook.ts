import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { renderSlack, type SlackWebhookPayload } from '../../alerting/render.ts';
import { errorMessage } from '../../errors.ts';
import type { AlertNotification, Notifier } from '../../ports.ts';
import { SecretsManagerSecrets } from '../aws/secrets-manager.ts';

/**
 * A Slack incoming webhook: the POST (with a timeout; the URL, a credential, never in an error), the
 * URL read from Secrets Manager, and a Notifier that posts an alert notification straight to it.
 */

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
export async function postToWebhook(
  url: string,
  message: SlackWebhookPayload,
  timeoutMs = 5_000,
): Promise<void> {
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

/** Reads the webhook URL; forceRefresh skips the cache (the URL was revoked or rotated). */
export type WebhookUrlReader = (options?: { forceRefresh?: boolean }) => Promise<string | undefined>;

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Reads the webhook URL from Secrets Manager (through the one Secrets Manager adapter): the secret is
 * the URL itself, or JSON with a `url` (or `webhookUrl`) field. Cached per container for five minutes.
 */
export function secretsManagerWebhookUrl(
  secretId: string,
  client?: SecretsManagerClient,
  ttlMs = 5 * 60_000,
): WebhookUrlReader {
  const secrets = new SecretsManagerSecrets(client, ttlMs);
  return async (options = {}) => {
    const raw = (await secrets.getSecretString(secretId, options)).trim();
    const json = tryJson(raw) as Record<string, unknown> | undefined;
    const url = typeof json === 'object' && json ? (json.url ?? json.webhookUrl ?? json.webhook_url) : raw;
    if (typeof url !== 'string' || !/^https:\/\//.test(url)) {
      throw new Error(`secret ${secretId} holds no https webhook URL (the URL itself, or JSON with "url")`);
    }
    return url;
  };
}

/** Notifier posting each grouped notification to a Slack webhook (as the forwarder would render it). */
export class SlackWebhookNotifier implements Notifier {
  private readonly url: WebhookUrlReader;
  private readonly post: (url: string, message: SlackWebhookPayload) => Promise<void>;

  constructor(
    url: WebhookUrlReader,
    post: (url: string, message: SlackWebhookPayload) => Promise<void> = postToWebhook,
  ) {
    this.url = url;
    this.post = post;
  }

  async publish(notification: AlertNotification): Promise<void> {
    const url = await this.url();
    if (!url) throw new Error('no Slack webhook URL configured');
    await this.post(url, renderSlack(notification));
  }
}
