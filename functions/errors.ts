/** Bad input from a user: a flag, an event, a URL, a config file. The CLI exits 2, nothing is changed. */
export class BadInputError extends Error {
  override name = 'BadInputError';
}

/** A job that ran and failed (or refused). The CLI exits 1. */
export class JobFailedError extends Error {
  override name = 'JobFailedError';
  readonly result?: unknown;

  constructor(message: string, result?: unknown) {
    super(message);
    this.result = result;
  }
}

/** The one-line text of any thrown value, for logs and stderr. */
export function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return errorMessage(err.errors[0]);
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.name;
  return String(err);
}
