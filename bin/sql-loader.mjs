// Node module hook: `import text from './x.sql'` yields the file's text, as esbuild's text loader does
// in the Lambda bundles. Registered by bin/dgm-db-ops.mjs before any TypeScript is loaded.
import { readFile } from 'node:fs/promises';

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.sql')) {
    const text = await readFile(new URL(url), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return nextLoad(url, context);
}
