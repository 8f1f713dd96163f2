// `node --import ./bin/register.mjs file.ts`: loads .sql files as text (as esbuild's text loader does in
// the Lambda bundles) and TypeScript. The CLI entry and the benchmarks use it.
//
// On Node.js 22.18 and later (the devDependency node@22 that every npm script and `npx dgm-db-ops` run
// on) TypeScript is loaded by Node itself, which strips the types (the code uses only erasable syntax:
// tsconfig's erasableSyntaxOnly), and the .sql hook runs in the loading thread. A CLI run then starts in
// about half the time it took through tsx, whose hooks run on a separate thread and transform every
// module. Older Node versions fall back to tsx.
import module from 'node:module';
import { loadSqlSync } from './sql-loader.mjs';

if (process.features.typescript && typeof module.registerHooks === 'function') {
  module.registerHooks({ load: loadSqlSync });
} else {
  const { register } = await import('tsx/esm/api');
  register();
  module.register('./sql-loader.mjs', import.meta.url);
}
