/**
 * The one redaction for every message that can reach a user, a log or an alert (issue 13): whatever
 * looks like a connection string or a secret loses its secret part, control characters are shown as
 * escapes, and long values are cut. Error messages (errors.ts), the CLI's stderr and loggers, and alert
 * texts all go through redactText; values quoted into a message go through showValue.
 */

/** Longest value echoed inside a message; the rest is counted, not shown. */
export const MAX_VALUE_CHARS = 80;
/** Longest message line; a longer one is cut. */
export const MAX_MESSAGE_CHARS = 1_000;

const MASK = '***';

// scheme://user:password@host: the password is everything between the first ':' after the user and the
// last '@' before the host part (a raw '@' in a password is ambiguous; taking the last keeps it masked).
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@'"`<>]*):[^\s/?#'"`<>]*@/gi;
// scheme://token@host (no user name, e.g. a URL whose user is a key): a long opaque user part.
const URL_TOKEN_USER = /\b([a-z][a-z0-9+.-]*:\/\/)[A-Za-z0-9._~%+-]{24,}@/gi;
// key=value, key: value, "key":"value" for secret-like keys (conninfo strings, env, JSON, query strings).
const SECRET_KEY =
  /\b((?:pg)?pass(?:word|wd)?|pwd|secret(?:[_-]?(?:access)?[_-]?key)?|token|api[_-]?key|access[_-]?key|client[_-]?secret)("?\s*[=:]\s*"?)(?:'[^']*'|"[^"]*"|[^\s&;,'"}\])]+)/gi;
// Webhook URLs carry their secret in the path.
const SLACK_WEBHOOK = /\bhttps:\/\/hooks\.slack\.com\/(services|workflows|triggers)\/[^\s'"`<>]+/gi;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g;

/** The text with secrets masked: URL passwords, key=value secrets, webhook paths, bearer tokens. */
export function redactSecrets(text: string): string {
  return text
    .replace(SLACK_WEBHOOK, (_m, kind: string) => `https://hooks.slack.com/${kind}/${MASK}`)
    .replace(URL_USERINFO, `$1:${MASK}@`)
    .replace(URL_TOKEN_USER, `$1${MASK}@`)
    .replace(SECRET_KEY, `$1$2${MASK}`)
    .replace(BEARER, `$1 ${MASK}`);
}

/** Control characters (NUL, newlines, escape sequences) as visible escapes, so a message stays one line. */
export function escapeControls(text: string, options: { keepLines?: boolean } = {}): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
  const controls = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
  return text.replace(controls, (c) => {
    if (options.keepLines && (c === '\n' || c === '\t')) return c;
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** Cuts text to max characters, saying how much was left out. */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… (${text.length} chars)`;
}

/** A user-supplied value for quoting in a message: secrets masked, controls escaped, cut to a few words. */
export function showValue(value: unknown, max = MAX_VALUE_CHARS): string {
  const s = typeof value === 'string' ? value : String(value);
  // Cut a little beyond max first, so a 5 MB value is not scanned by every pattern.
  return cut(escapeControls(redactSecrets(s.length > max * 4 ? s.slice(0, max * 4) : s)), max).replace(
    /… \(\d+ chars\)$/,
    `… (${s.length} chars)`,
  );
}

/** A message line for a user, a log or an alert: secrets masked, one line, cut. */
export function redactText(text: string, max = MAX_MESSAGE_CHARS): string {
  const head = text.length > max * 4 ? text.slice(0, max * 4) : text;
  const line = cut(escapeControls(redactSecrets(head)), max);
  return text.length > head.length && line.length <= max ? `${line}… (${text.length} chars)` : line;
}

/** redactText line by line, for the few messages that are a list by design (cdk.json validation). */
export function redactLines(text: string, maxLines = 50): string {
  const lines = text.split('\n');
  const shown = lines.slice(0, maxLines).map((l) => redactText(l));
  if (lines.length > maxLines) shown.push(`… and ${lines.length - maxLines} more line(s)`);
  return shown.join('\n');
}

/**
 * Why JSON.parse failed, without the excerpt of the input V8 quotes (`Unexpected token 'p',
 * "postgres:/"... is not valid JSON` would echo a file's first characters): where, not what.
 */
export function jsonSyntaxError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/Unexpected end of JSON input/i.test(message)) return 'unexpected end of input';
  if (message.includes('"')) return 'syntax error';
  // V8's own wording without input excerpts: "Expected ',' or '}' after property value in JSON at position 9".
  return cut(message.replace(/ in JSON/, ''), 120);
}

/** A log record's fields with every string redacted (redactText), nested objects and arrays included. */
export function redactFields<T>(value: T, depth = 0): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1)) as T;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactFields(v, depth + 1)])) as T;
}
