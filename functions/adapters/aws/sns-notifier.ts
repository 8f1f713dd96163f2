import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { renderSnsPublish } from '../../alerting/render.ts';
import type { AlertNotification, Notifier } from '../../ports.ts';

/**
 * Notifier on SNS: one Publish per grouped notification, MessageStructure json (email text for email
 * subscriptions, the AWS Chatbot custom-notification JSON for every other protocol) with the message
 * attributes severity, alert_type and target for subscription filter policies. A failed publish
 * throws, so the alert job leaves the alerts un-notified and the next run sends them.
 */
export class SnsNotifier implements Notifier {
  private clientInstance: SNSClient | undefined;
  private readonly factory: (() => SNSClient) | undefined;

  private readonly topicArn: string;

  constructor(
    topicArn: string,
    /** A client, or a factory called on first use (module init stays cheap in the Lambda). */
    client?: SNSClient | (() => SNSClient),
  ) {
    this.topicArn = topicArn;
    if (client instanceof SNSClient) this.clientInstance = client;
    else this.factory = client;
  }

  private get client(): SNSClient {
    this.clientInstance ??=
      this.factory?.() ??
      new SNSClient({ maxAttempts: 3, requestHandler: { requestTimeout: 5_000, connectionTimeout: 2_000 } });
    return this.clientInstance;
  }

  async publish(notification: AlertNotification): Promise<void> {
    await this.client.send(new PublishCommand(renderSnsPublish(notification, this.topicArn)));
  }
}
