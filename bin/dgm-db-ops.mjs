#!/usr/bin/env node
// Entry for `npx dgm-db-ops` and the npm scripts (npm puts the devDependency node@22 first on PATH).
import './register.mjs';

await import('./dgm-db-ops.ts');
