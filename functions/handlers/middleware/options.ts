import { z } from 'zod';
import { formatZodError } from '../../config.ts';

/**
 * A middleware's options: its defaults, then the caller's options, checked against its schema when the
 * handler is built (as middy's own middlewares validate theirs), so a wrong option fails at module
 * load, never during an invocation.
 */
export function middlewareOptions<S extends z.ZodType>(
  name: string,
  schema: S,
  defaults: Partial<z.input<S>>,
  options: Partial<z.input<S>>,
): z.output<S> {
  // An option given as undefined keeps its default (deps objects pass their optional fields through).
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const parsed = schema.safeParse({ ...defaults, ...given });
  if (!parsed.success) throw new TypeError(formatZodError(`${name} middleware: `, parsed.error));
  return parsed.data;
}

/** An option holding a function (any function passes; its signature is the TypeScript type's). */
export const functionOption = <T>() =>
  z.custom<T>((v) => typeof v === 'function', { message: 'must be a function' });
