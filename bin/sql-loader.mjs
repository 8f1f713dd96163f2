// Node module hook: `import text from './x.sql'` yields the file's text, as esbuild's text loader does
// in the Lambda bundles. Registered by bin/register.mjs before any TypeScript is loaded: `load` for
// module.register (a hooks thread), `loadSqlSync` for module.registerHooks (the loading thread).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

const asModule = (text) => ({
  format: 'module',
  source: `export default ${JSON.stringify(text)};`,
  shortCircuit: true,
});

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.sql')) return asModule(await readFile(new URL(url), 'utf8'));
  return nextLoad(url, context);
}

export function loadSqlSync(url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.sql')) return asModule(readFileSync(new URL(url), 'utf8'));
  return nextLoad(url, context);
}
