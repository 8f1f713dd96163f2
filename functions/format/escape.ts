import { escapeControls } from './redact.ts';

/**
 * Escaping per output format, in one place (issue 13). Every text that comes from the database or a
 * user (table, partition and index names, statement text, messages, targets) goes through the function
 * of the format it is written into; the renderers (optimizer/render.ts, alerting/render.ts, the
 * CLI's tables) never build markup from raw text.
 */

/** Text for an HTML element or a quoted attribute. */
export function html(text: unknown): string {
  return String(text ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/**
 * Text for Markdown (GitHub flavour) prose or a table cell: the inline markup characters backslash-
 * escaped (emphasis, code, links, tables, strikethrough; with `[` escaped no link or image can form), HTML
 * (which GitHub passes through) as entities, line breaks as spaces (a newline would end a table row).
 * Callers put it mid-line, so line-start markup (#, >, -) cannot take effect.
 */
export function markdown(text: unknown): string {
  return plainLine(String(text ?? ''))
    .replace(/[\\`*_[\]|~]/g, (c) => `\\${c}`)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');
}

/**
 * An inline code span holding text as is: delimited by one backtick more than the longest run inside
 * (CommonMark), padded when the text starts or ends with a backtick. In a table cell, `|` must still be
 * escaped inside code (GFM).
 */
export function markdownCode(text: unknown, options: { inTable?: boolean } = {}): string {
  let t = plainLine(String(text ?? ''));
  if (options.inTable) t = t.replaceAll('|', '\\|');
  if (t === '') return '` `';
  const longest = Math.max(0, ...[...t.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = t.startsWith('`') || t.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${t}${pad}${fence}`;
}

/** A fenced code block whose fence is longer than any backtick run in the text. */
export function markdownCodeBlock(text: unknown, language = ''): string {
  const t = escapeControls(String(text ?? ''), { keepLines: true });
  const longest = Math.max(0, ...[...t.matchAll(/`{3,}/g)].map((m) => m[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${language}\n${t}\n${fence}`;
}

/**
 * Text for Slack mrkdwn (Block Kit sections, Chatbot descriptions): `&`, `<` and `>` as entities, which
 * is all Slack parses as markup (links, @channel mentions). *, _ and ~ only style text and Slack has no
 * escape for them, so they are left as they are.
 */
export function slack(text: unknown): string {
  return plainLine(String(text ?? ''))
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');
}

/** An inline code span in Slack mrkdwn (Slack has no backtick escape: a backtick becomes ˋ). */
export function slackCode(text: unknown): string {
  const t = slack(text).replaceAll('`', 'ˋ');
  return `\`${t === '' ? ' ' : t}\``;
}

/** Text for a terminal or a plain-text email: control characters (ANSI escapes included) made visible. */
export function plain(text: unknown): string {
  return escapeControls(String(text ?? ''));
}

/** Text for a terminal, several lines: newlines and tabs kept, every other control character shown. */
export function terminal(text: unknown): string {
  return escapeControls(String(text ?? ''), { keepLines: true });
}

/** Plain text on one line: whitespace runs (newlines included) as one space, other controls escaped. */
export function plainLine(text: string): string {
  return escapeControls(text.replace(/[\s\u2028\u2029]+/g, ' '));
}
