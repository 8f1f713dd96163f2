// `node --import ./bin/register.mjs file.ts`: loads .sql files as text (as esbuild's text loader does in
// the Lambda bundles) and TypeScript through tsx. The CLI entry and the benchmarks use it.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./sql-loader.mjs', import.meta.url);
