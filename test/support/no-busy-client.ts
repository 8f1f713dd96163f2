import { afterAll } from 'vitest';

/**
 * Fails the test file when node-postgres warned that a query was issued on a client still executing
 * another one (a race today, an error in pg 9) or about any other of its deprecations. pg warns once per
 * process, so the warning's stack (where the query was issued) is kept for the failure message.
 */
const seen: string[] = [];
process.on('warning', (w) => {
  if (w.name === 'DeprecationWarning' && /pg@9/.test(w.message)) seen.push(w.stack ?? w.message);
});

afterAll(async () => {
  // emitWarning delivers on the next tick: let a warning from the last test arrive.
  await new Promise((resolve) => setImmediate(resolve));
  if (seen.length > 0) throw new Error(`node-postgres deprecation warning(s):\n${seen.join('\n\n')}`);
});
