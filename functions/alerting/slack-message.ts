import { z } from 'zod';
import { parseChatbotNotification, type SlackWebhookPayload, slackFromChatbot } from './render.ts';

/**
 * What the Slack webhook forwarder posts for one message of the alert topic. The topic carries three
 * kinds: CloudWatch alarm state changes, the alert job's notifications (AWS Chatbot's custom
 * notification schema, rendered as Chatbot shows them: render.ts), and anything else as plain text.
 */

/** The webhook payload: Block Kit blocks with a plain-text fallback. */
export type SlackMessage = SlackWebhookPayload;

type SlackBlock = SlackWebhookPayload['blocks'][number];

export type SlackMessageKind = 'cloudwatch-alarm' | 'alert' | 'text';

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
): { kind: SlackMessageKind; title: string; slack: SlackMessage } {
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
