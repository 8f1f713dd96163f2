import { redactLines, redactText } from './format/redact.ts';

/**
 * Bad input from a user: a flag, an event, a URL, a config file. The CLI exits 2, nothing is changed.
 * The message is redacted at construction (secrets masked, controls escaped, each line cut).
 */
export class BadInputError extends Error {
  override name = 'BadInputError';
  constructor(message: string) {
    super(redactLines(message));
  }
}

/** A job that ran and failed (or refused). The CLI exits 1. */
export class JobFailedError extends Error {
  override name = 'JobFailedError';
  readonly result?: unknown;

  constructor(message: string, result?: unknown) {
    super(redactLines(message));
    this.result = result;
  }
}

/**
 * The one-line text of any thrown value, for logs, stderr and alerts: its first line, with secrets
 * masked, control characters escaped and long text cut (format/redact.ts).
 */
export function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return errorMessage(err.errors[0]);
  const text = err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : String(err);
  return redactText(text);
}
