import { describe, expect, it } from 'vitest';
import {
  formatValue,
  parseChatbotNotification,
  renderChatbot,
  renderConsole,
  renderEmail,
  renderSlack,
  renderSnsPublish,
  slackFromChatbot,
  toSnsSubject,
} from '../../functions/alerting/render.ts';
import { renderSlackMessage } from '../../functions/alerting/slack-message.ts';
import type { AlertNotification, AlertNotificationItem } from '../../functions/ports.ts';

function item(
  over: Partial<Omit<AlertNotificationItem, 'alert'>> & {
    alert?: Partial<AlertNotificationItem['alert']>;
  } = {},
) {
  const { alert, ...rest } = over;
  return {
    transition: 'firing',
    title: 'Connection utilization',
    unit: 'ratio',
    runbook: 'Find who holds the connections.',
    firingSince: '2026-11-28T08:01:00.000Z',
    ...rest,
    alert: {
      name: 'connection_utilization',
      severity: 'critical',
      message: '190 of 197 usable connections in use (96.4%)',
      metric_value: 0.964,
      threshold: 0.95,
      timestamp: '2026-11-28T08:02:00.000Z',
      target: 'prod',
      resource: 'database',
      ...alert,
    },
  } as AlertNotificationItem;
}

const NOTIFICATION: AlertNotification = {
  id: 'run-1',
  target: 'prod',
  generatedAt: '2026-11-28T08:02:00.000Z',
  items: [
    item(),
    item({
      transition: 'resolved',
      title: 'Slow queries',
      unit: 'count',
      resolvedAt: '2026-11-28T08:02:00.000Z',
      firingSince: '2026-11-28T07:40:00.000Z',
      alert: {
        name: 'slow_queries',
        severity: 'warning',
        message: 'No statement averaged above 200 ms',
        metric_value: 0,
        threshold: 1,
      },
    }),
  ],
  heldBack: [{ name: 'lock_waits', resource: 'database', severity: 'warning' }],
};

describe('alert renderings', () => {
  it('email: an ASCII subject under 100 characters and a readable body with every DatabaseAlert field', () => {
    const { subject, body } = renderEmail(NOTIFICATION);
    expect(subject).toBe(
      '[DGM CRITICAL] prod: 1 firing, 1 resolved, 1 held back - connection_utilization, slow_queries',
    );
    expect(subject.length).toBeLessThan(100);
    expect(body).toContain('FIRING - critical - Connection utilization (connection_utilization) on database');
    expect(body).toContain('190 of 197 usable connections in use (96.4%)');
    expect(body).toContain('Value: 96.4%   Threshold: 95.0%   since 2026-11-28 08:01 UTC');
    expect(body).toContain('What to do: Find who holds the connections.');
    expect(body).toContain('RESOLVED - warning - Slow queries (slow_queries) on database');
    expect(body).toContain('fired 2026-11-28 07:40 UTC, resolved 2026-11-28 08:02 UTC (22 min)');
    expect(body).toContain(
      '1 more alert(s) held back by max_alerts_per_hour: lock_waits on database (warning)',
    );
  });

  it('SNS subjects drop non-ASCII and control characters and stay under 100 characters', () => {
    expect(toSnsSubject('Ärger\nim\tSystem')).toBe('?rger im System');
    const long = toSnsSubject(`[DGM] ${'x'.repeat(200)}`);
    expect(long.length).toBeLessThan(100);
    expect(long).toMatch(/^\[DGM\] x+\.$/);
  });

  it('Chatbot: the custom-notification schema with markdown, next steps, keywords and a thread per target', () => {
    const c = renderChatbot(NOTIFICATION);
    expect(c.version).toBe('1.0');
    expect(c.source).toBe('custom');
    expect(c.id).toBe('run-1');
    expect(c.content.textType).toBe('client-markdown');
    expect(c.content.title).toBe(':red_circle: DGM prod: 1 firing, 1 resolved, 1 held back');
    expect(c.content.description).toContain(
      ':red_circle: *FIRING* · *critical* · *Connection utilization* on `database`',
    );
    expect(c.content.description).toContain(':white_check_mark: *RESOLVED*');
    expect(c.content.nextSteps).toEqual(['Connection utilization: Find who holds the connections.']);
    expect(c.content.keywords).toEqual(['prod', 'critical', 'connection_utilization', 'slow_queries']);
    expect(c.metadata).toMatchObject({
      threadId: 'dgm-db-ops-prod',
      eventType: 'DatabaseAlert',
      additionalContext: {
        target: 'prod',
        severity: 'critical',
        alert_types: 'connection_utilization,slow_queries',
      },
    });
    expect(parseChatbotNotification(JSON.stringify(c))).toEqual(c);
    expect(parseChatbotNotification('{"hello":1}')).toBeUndefined();
    expect(parseChatbotNotification('not json')).toBeUndefined();
  });

  it('SNS publish: MessageStructure json with default (Chatbot) and email, and filterable attributes', () => {
    const req = renderSnsPublish(NOTIFICATION, 'arn:aws:sns:eu-west-1:123456789012:alerts');
    expect(req.MessageStructure).toBe('json');
    const message = JSON.parse(req.Message);
    expect(Object.keys(message).sort()).toEqual(['default', 'email', 'sqs']);
    const structured = JSON.parse(message.sqs);
    expect(structured).toMatchObject({
      type: 'dgm-db-ops.alert-notification',
      version: 1,
      id: 'run-1',
      target: 'prod',
    });
    // The design's DatabaseAlert fields, for machines.
    expect(Object.keys(structured.items[0].alert).sort()).toEqual([
      'message',
      'metric_value',
      'name',
      'resource',
      'severity',
      'target',
      'threshold',
      'timestamp',
    ]);
    expect(JSON.parse(message.default)).toEqual(renderChatbot(NOTIFICATION));
    expect(message.email).toBe(renderEmail(NOTIFICATION).body);
    expect(req.Subject).toBe(renderEmail(NOTIFICATION).subject);
    expect(req.MessageAttributes).toEqual({
      severity: { DataType: 'String', StringValue: 'critical' },
      alert_type: { DataType: 'String.Array', StringValue: '["connection_utilization","slow_queries"]' },
      target: { DataType: 'String', StringValue: 'prod' },
      transition: { DataType: 'String.Array', StringValue: '["firing","resolved"]' },
    });
    expect(Buffer.byteLength(req.Message)).toBeLessThan(256 * 1024);
  });

  it('stays under the SNS size limit with hundreds of alerts', () => {
    const items = Array.from({ length: 400 }, (_, i) =>
      item({ alert: { resource: `table_${i}`, message: 'x'.repeat(2000) } }),
    );
    const req = renderSnsPublish({ ...NOTIFICATION, items }, 'arn:aws:sns:eu-west-1:1:t');
    expect(Buffer.byteLength(req.Message) + Buffer.byteLength(req.Subject)).toBeLessThan(256 * 1024);
    const description = JSON.parse(JSON.parse(req.Message).default).content.description as string;
    expect(description).toMatch(/… and 3\d\d more alert update\(s\)\./);
  });

  it('Slack webhook payload from the notification and from the Chatbot JSON on the topic', () => {
    const slack = renderSlack(NOTIFICATION);
    expect(slack.text).toBe(':red_circle: DGM prod: 1 firing, 1 resolved, 1 held back');
    expect(slack.blocks[0]).toEqual({
      type: 'header',
      text: {
        type: 'plain_text',
        text: ':red_circle: DGM prod: 1 firing, 1 resolved, 1 held back',
        emoji: true,
      },
    });
    const sections = slack.blocks.filter((b) => b.type === 'section');
    expect(sections.length).toBe(4); // two alerts, the held-back line, next steps
    for (const b of slack.blocks) {
      const text = (b.text as { text?: string } | undefined)?.text ?? '';
      expect(text.length).toBeLessThanOrEqual(3000);
    }
    expect(slackFromChatbot(renderChatbot(NOTIFICATION))).toEqual(slack);
  });

  it('the slack-notifier Lambda reads our SNS default message as an alert', () => {
    const req = renderSnsPublish(NOTIFICATION, 'arn:aws:sns:eu-west-1:1:t');
    const onTopic = JSON.parse(req.Message).default as string;
    const { kind, title, slack } = renderSlackMessage(onTopic, req.Subject);
    expect(kind).toBe('alert');
    expect(title).toBe(':red_circle: DGM prod: 1 firing, 1 resolved, 1 held back');
    expect(JSON.stringify(slack.blocks)).toContain('Connection utilization');
  });

  it('console: both the email and the Slack rendering, and a fail-open note when degraded', () => {
    const text = renderConsole({ ...NOTIFICATION, degraded: 'Alert state store unavailable' });
    expect(text).toContain('── email');
    expect(text).toContain('Subject: [DGM CRITICAL] prod');
    expect(text).toContain('NOTE: Alert state store unavailable');
    expect(text).toContain('── slack');
    expect(text).toContain(':warning: _Alert state store unavailable_');
  });

  it('formats values in the unit of the rule', () => {
    expect(formatValue(0.9641, 'ratio')).toBe('96.4%');
    expect(formatValue(812.4, 'ms')).toBe('812 ms');
    expect(formatValue(45, 'seconds')).toBe('45 s');
    expect(formatValue(600, 'seconds')).toBe('10.0 min');
    expect(formatValue(3 * 1024 ** 3, 'bytes')).toBe('3.0 GiB');
    expect(formatValue(1_234_567_890, 'xids')).toBe('1.23B');
    expect(formatValue(12_345_678, 'xids')).toBe('12.3M');
    expect(formatValue(null, 'count')).toBe('-');
    expect(formatValue(3, 'count')).toBe('3');
  });
});
