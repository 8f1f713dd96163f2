import { plainLine, slack, slackCode } from '../format/escape.ts';
import { redactSecrets } from '../format/redact.ts';
import type { AlertNotification, AlertNotificationItem, AlertTransition, Severity } from '../ports.ts';

/**
 * The renderings of one grouped notification: a readable email, an AWS Chatbot (Amazon Q Developer in
 * chat applications) custom notification that a Chatbot Slack channel on the topic renders, a Slack
 * incoming-webhook payload (for the slack-notifier Lambda), and the SNS publish request that carries
 * the first two with message attributes for subscription filter policies. Pure functions.
 */

/** Items rendered in full; the rest are summed up in one line (SNS messages max out at 256 KB). */
const MAX_ITEMS = 25;
const MAX_MESSAGE_CHARS = 600;
/** Items in the structured (SQS) rendering; 60 full items stay far below SNS's 256 KB. */
const MAX_STRUCTURED_ITEMS = 60;
/** Room for alert items in the Chatbot description (Slack sections hold 3000 characters each). */
const DESCRIPTION_BUDGET = 6_500;

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

const TRANSITION_LABEL: Record<AlertTransition, string> = {
  firing: 'FIRING',
  escalated: 'ESCALATED',
  renotify: 'STILL FIRING',
  resolved: 'RESOLVED',
  flapping: 'FLAPPING',
};

const SEVERITY_EMOJI: Record<Severity, string> = {
  critical: ':red_circle:',
  warning: ':large_orange_circle:',
  info: ':large_blue_circle:',
};

function transitionEmoji(item: AlertNotificationItem): string {
  if (item.transition === 'resolved') return ':white_check_mark:';
  if (item.transition === 'flapping') return ':left_right_arrow:';
  return SEVERITY_EMOJI[item.alert.severity];
}

/** The highest severity among the items that still need attention (resolved ones count too). */
export function highestSeverity(n: AlertNotification): Severity {
  let best: Severity = 'info';
  for (const i of n.items) if (SEVERITY_RANK[i.alert.severity] > SEVERITY_RANK[best]) best = i.alert.severity;
  return best;
}

/** Distinct alert types (rule names) in the message, in order of appearance. */
export function alertTypes(n: AlertNotification): string[] {
  return [...new Set(n.items.map((i) => i.alert.name))];
}

function counts(n: AlertNotification): string {
  const by = new Map<string, number>();
  for (const i of n.items) {
    const label = i.transition === 'renotify' || i.transition === 'escalated' ? 'firing' : i.transition;
    by.set(label, (by.get(label) ?? 0) + 1);
  }
  const order = ['firing', 'flapping', 'resolved'];
  const parts = order.filter((k) => by.has(k)).map((k) => `${by.get(k)} ${k}`);
  if (n.heldBack.length > 0) parts.push(`${n.heldBack.length} held back`);
  return parts.join(', ') || 'no changes';
}

/** A one-line summary: "DGM prod: 2 firing, 1 resolved". */
export function summaryLine(n: AlertNotification): string {
  return `DGM ${n.target}: ${counts(n)}`;
}

/** "2026-11-28 08:01 UTC" */
export function formatTime(iso: string | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function duration(fromIso: string | undefined, toIso: string | undefined): string | null {
  if (!fromIso || !toIso) return null;
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  if (!Number.isFinite(ms) || ms < 0) return null;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  const min = Math.round(ms / 60_000);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  return `${h} h ${min % 60} min`;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A figure in the unit the rule measures in. */
export function formatValue(value: number | null, unit: string): string {
  if (value === null || !Number.isFinite(value)) return '-';
  switch (unit) {
    case 'ratio':
      return `${(value * 100).toFixed(value >= 0.995 && value < 1 ? 2 : 1)}%`;
    case 'ms':
      return `${value >= 100 ? Math.round(value) : value.toFixed(1)} ms`;
    case 'seconds':
      if (value >= 120) return `${(value / 60).toFixed(1)} min`;
      return value < 10 ? `${value.toFixed(1)} s` : `${Math.round(value)} s`;
    case 'bytes': {
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let v = value;
      let i = 0;
      while (Math.abs(v) >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
      }
      return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
    }
    case 'intervals':
      return `${value.toFixed(2)} intervals`;
    case 'xids':
      if (value >= 1e9) return `${(value / 1e9).toFixed(2)}B`;
      return value >= 1e6 ? `${(value / 1e6).toFixed(1)}M` : String(Math.round(value));
    default:
      return Number.isInteger(value) ? String(value) : value.toFixed(2);
  }
}

function whenLine(item: AlertNotificationItem): string {
  if (item.transition === 'resolved') {
    const lasted = duration(item.firingSince, item.resolvedAt);
    return `fired ${formatTime(item.firingSince)}, resolved ${formatTime(item.resolvedAt)}${lasted ? ` (${lasted})` : ''}`;
  }
  return `since ${formatTime(item.firingSince ?? item.alert.timestamp)}`;
}

function heldBackLine(n: AlertNotification): string | null {
  if (n.heldBack.length === 0) return null;
  const names = n.heldBack
    .slice(0, 10)
    .map((h) => `${h.name} on ${h.resource} (${h.severity})`)
    .join(', ');
  const more = n.heldBack.length > 10 ? ` and ${n.heldBack.length - 10} more` : '';
  return `${n.heldBack.length} more alert(s) held back by max_alerts_per_hour: ${names}${more}. They are sent when the hourly budget allows.`;
}

/** The email: an SNS subject (ASCII, under 100 characters) and a plain-text body. */
export function renderEmail(n: AlertNotification): { subject: string; body: string } {
  const severity = highestSeverity(n);
  const types = alertTypes(n);
  const allResolved = n.items.length > 0 && n.items.every((i) => i.transition === 'resolved');
  const tag = allResolved ? 'RESOLVED' : severity.toUpperCase();
  const subject = toSnsSubject(`[DGM ${tag}] ${n.target}: ${counts(n)} - ${types.join(', ')}`);
  const lines: string[] = [
    `dgm-db-ops alerts for target "${n.target}" at ${formatTime(n.generatedAt)}: ${counts(n)}.`,
    '',
  ];
  if (n.degraded) lines.push(`NOTE: ${plainLine(n.degraded)}`, '');
  for (const item of n.items.slice(0, MAX_ITEMS)) {
    const a = item.alert;
    const unit = item.unit;
    const escalation =
      item.transition === 'escalated' && item.previousSeverity ? ` (was ${item.previousSeverity})` : '';
    lines.push(
      `${TRANSITION_LABEL[item.transition]} - ${a.severity}${escalation} - ${item.title} (${a.name}) on ${plainLine(a.resource)}`,
      `  ${plainLine(clip(redactSecrets(a.message), MAX_MESSAGE_CHARS))}`,
      `  Value: ${formatValue(a.metric_value, unit)}   Threshold: ${formatValue(a.threshold, unit)}   ${whenLine(item)}`,
    );
    if (item.transition !== 'resolved' && item.runbook)
      lines.push(`  What to do: ${plainLine(item.runbook)}`);
    lines.push('');
  }
  if (n.items.length > MAX_ITEMS)
    lines.push(`... and ${n.items.length - MAX_ITEMS} more alert update(s).`, '');
  const held = heldBackLine(n);
  if (held) lines.push(held, '');
  lines.push(
    '--',
    `Notification ${n.id}. Message attributes severity=${severity}, alert_type=${types.join('|')}, target=${n.target} are set for SNS subscription filter policies.`,
  );
  return { subject, body: lines.join('\n') };
}

/** SNS subjects: ASCII, starting with a letter, digit or punctuation, no control characters, < 100. */
export function toSnsSubject(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const ascii = text.replace(/[\x00-\x1f\x7f]/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  const trimmed = ascii.trim().replace(/^[^A-Za-z0-9[\](){}<>.,:;!?'"#$%&*+\-/=@^_`|~\\]+/, '');
  return clip(trimmed || 'DGM alert', 99).replace('…', '.');
}

/** One item in Slack markdown (mrkdwn), as Chatbot and the webhook show it. */
export function slackItemMarkdown(item: AlertNotificationItem): string {
  const a = item.alert;
  const unit = item.unit;
  const escalation =
    item.transition === 'escalated' && item.previousSeverity ? ` (was ${item.previousSeverity})` : '';
  const lines = [
    `${transitionEmoji(item)} *${TRANSITION_LABEL[item.transition]}* · *${a.severity}*${escalation} · *${slack(item.title)}* on ${slackCode(a.resource)}`,
    slack(clip(redactSecrets(a.message), MAX_MESSAGE_CHARS)),
    `value *${formatValue(a.metric_value, unit)}* · threshold ${formatValue(a.threshold, unit)} · ${whenLine(item)}`,
  ];
  return lines.join('\n');
}

/** The AWS Chatbot custom-notification event (version 1.0, source custom). */
export interface ChatbotNotification {
  version: '1.0';
  source: 'custom';
  id?: string;
  content: {
    textType?: 'client-markdown';
    title?: string;
    description: string;
    nextSteps?: string[];
    keywords?: string[];
  };
  metadata?: {
    threadId?: string;
    summary?: string;
    eventType?: string;
    relatedResources?: string[];
    additionalContext?: Record<string, string>;
  };
}

function titleOf(n: AlertNotification): string {
  const severity = highestSeverity(n);
  const allResolved = n.items.length > 0 && n.items.every((i) => i.transition === 'resolved');
  return `${allResolved ? ':white_check_mark:' : SEVERITY_EMOJI[severity]} ${summaryLine(n)}`;
}

/** The Chatbot custom notification for a grouped message. */
export function renderChatbot(n: AlertNotification): ChatbotNotification {
  // Items go in while they fit Chatbot's description; the rest are counted, never cut mid-item.
  const parts: string[] = [];
  let used = 0;
  for (const item of n.items.slice(0, MAX_ITEMS)) {
    const md = slackItemMarkdown(item);
    if (used + md.length > DESCRIPTION_BUDGET) break;
    parts.push(md);
    used += md.length + 2;
  }
  if (parts.length < n.items.length)
    parts.push(`… and ${n.items.length - parts.length} more alert update(s).`);
  const held = heldBackLine(n);
  if (held) parts.push(`_${slack(held)}_`);
  if (n.degraded) parts.unshift(`:warning: _${slack(n.degraded)}_`);
  const nextSteps = [
    ...new Set(
      n.items
        .filter((i) => i.transition !== 'resolved' && i.runbook)
        .map((i) => `${slack(i.title)}: ${slack(i.runbook)}`),
    ),
  ].slice(0, 5);
  const types = alertTypes(n);
  return {
    version: '1.0',
    source: 'custom',
    id: n.id,
    content: {
      textType: 'client-markdown',
      title: clip(titleOf(n), 250),
      description: clip(parts.join('\n\n'), 7_500),
      ...(nextSteps.length > 0 ? { nextSteps } : {}),
      keywords: [n.target, highestSeverity(n), ...types].slice(0, 10),
    },
    metadata: {
      threadId: `dgm-db-ops-${n.target}`,
      summary: summaryLine(n),
      eventType: 'DatabaseAlert',
      relatedResources: [n.target],
      additionalContext: {
        target: n.target,
        severity: highestSeverity(n),
        alert_types: types.join(','),
        notification_id: n.id,
      },
    },
  };
}

/** A Slack incoming-webhook payload (Block Kit with a plain-text fallback). */
export interface SlackWebhookPayload {
  text: string;
  blocks: Array<Record<string, unknown>>;
}

const SLACK_SECTION_MAX = 3_000;
const SLACK_MAX_BLOCKS = 50;

function section(markdown: string): Record<string, unknown> {
  return { type: 'section', text: { type: 'mrkdwn', text: clip(markdown, SLACK_SECTION_MAX) } };
}

/** The Slack webhook rendering of a notification (what the slack-notifier Lambda posts). */
export function renderSlack(n: AlertNotification): SlackWebhookPayload {
  return slackFromChatbot(renderChatbot(n));
}

/**
 * The Slack webhook payload for a Chatbot custom notification: what the slack-notifier Lambda posts when
 * it receives our SNS message (the SNS "default" message is the Chatbot JSON).
 */
export function slackFromChatbot(c: ChatbotNotification): SlackWebhookPayload {
  const title = c.content.title ?? c.metadata?.summary ?? 'DGM alert';
  const blocks: Array<Record<string, unknown>> = [
    { type: 'header', text: { type: 'plain_text', text: clip(title, 150), emoji: true } },
  ];
  for (const chunk of c.content.description.split('\n\n')) {
    if (blocks.length >= SLACK_MAX_BLOCKS - 3) break;
    blocks.push(section(chunk));
  }
  if (c.content.nextSteps?.length) {
    blocks.push(section(`*Next steps*\n${c.content.nextSteps.map((s) => `• ${s}`).join('\n')}`));
  }
  const context = [c.metadata?.summary, c.id ? `notification ${c.id}` : undefined]
    .filter(Boolean)
    .join(' · ');
  if (context) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: clip(context, 2_000) }] });
  return { text: clip(title, 3_000), blocks };
}

/** Parses an SNS message body as a Chatbot custom notification; undefined when it is not one. */
export function parseChatbotNotification(text: string): ChatbotNotification | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const c = json as Partial<ChatbotNotification>;
  if (c?.version !== '1.0' || c.source !== 'custom' || typeof c.content?.description !== 'string')
    return undefined;
  return c as ChatbotNotification;
}

/** The SNS Publish request for a notification (MessageStructure json). */
export interface SnsPublishRequest {
  TopicArn: string;
  Subject: string;
  Message: string;
  MessageStructure: 'json';
  MessageAttributes: Record<string, { DataType: 'String' | 'String.Array'; StringValue: string }>;
}

/** The machine-readable notification SQS subscribers get: every DatabaseAlert field, items capped. */
export function renderStructured(n: AlertNotification): string {
  return JSON.stringify({
    type: 'dgm-db-ops.alert-notification',
    version: 1,
    ...n,
    items: n.items
      .slice(0, MAX_STRUCTURED_ITEMS)
      .map((i) => ({ ...i, alert: { ...i.alert, message: clip(i.alert.message, MAX_MESSAGE_CHARS) } })),
    omittedItems: Math.max(0, n.items.length - MAX_STRUCTURED_ITEMS),
  });
}

/**
 * The SNS publish request: `default` (every protocol without its own entry: https for Chatbot, lambda
 * for the Slack forwarder, email-json) is the Chatbot JSON; `email` is the readable text; `sqs` is the
 * structured notification with the design's DatabaseAlert fields. Attributes severity (the highest),
 * alert_type (every type, String.Array) and target let subscriptions filter.
 */
export function renderSnsPublish(n: AlertNotification, topicArn: string): SnsPublishRequest {
  const email = renderEmail(n);
  const chatbot = JSON.stringify(renderChatbot(n));
  return {
    TopicArn: topicArn,
    Subject: email.subject,
    MessageStructure: 'json',
    Message: JSON.stringify({ default: chatbot, email: email.body, sqs: renderStructured(n) }),
    MessageAttributes: {
      severity: { DataType: 'String', StringValue: highestSeverity(n) },
      alert_type: { DataType: 'String.Array', StringValue: JSON.stringify(alertTypes(n)) },
      target: { DataType: 'String', StringValue: n.target },
      transition: {
        DataType: 'String.Array',
        StringValue: JSON.stringify([...new Set(n.items.map((i) => i.transition))]),
      },
    },
  };
}

/** The console rendering: the email text and the Slack message, as a person would see them. */
export function renderConsole(n: AlertNotification): string {
  const email = renderEmail(n);
  const slack = renderChatbot(n);
  const rule = (label: string) => `── ${label} ${'─'.repeat(Math.max(4, 72 - label.length))}`;
  return [
    rule('email'),
    `Subject: ${email.subject}`,
    '',
    email.body,
    rule('slack'),
    slack.content.title ?? '',
    '',
    slack.content.description,
    ...(slack.content.nextSteps?.length
      ? ['', 'Next steps:', ...slack.content.nextSteps.map((s) => `• ${s}`)]
      : []),
    '─'.repeat(76),
  ].join('\n');
}
