// `npm run bench -- <name>`: runs test/bench/<name>.ts (each prints its figures and ratios against the
// anchor it measures in the same run). Benchmarks are not tests: they time things on a noisy machine.
import { readdirSync } from 'node:fs';

const available = readdirSync(new URL('.', import.meta.url))
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();
const names = process.argv.slice(2);
if (names.length === 0 || names.some((n) => !available.includes(n))) {
  process.stderr.write(`usage: npm run bench -- <${available.join('|')}> ...\n`);
  process.exit(2);
}
for (const name of names) {
  process.stderr.write(`== bench ${name}\n`);
  await import(`./${name}.ts`);
}
