#!/usr/bin/env node
// `npm test`: vitest with a temporary directory of its own (TMPDIR), removed afterwards. Every folder a test,
// a CLI it spawns or an embedded server makes lands there; one that is still there when vitest ends (other
// than the caches of tsx and node) was left behind by a test, and fails the run by name: a test run leaves
// nothing in the system's temporary directory.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CACHES = /^(tsx-\d+|node-compile-cache|vite-.*|\.vitest.*)$/;
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(join(tmpdir(), 'dgm-test-run-'));
// As root, the test servers run as user postgres, which must be able to reach their folders in here.
chmodSync(dir, 0o755);
const vitest = join(root, 'node_modules/vitest/vitest.mjs');
const child = spawn(process.execPath, [vitest, 'run', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: dir, TMP: dir, TEMP: dir },
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('close', (code, signal) => {
  let leftovers = [];
  try {
    leftovers = readdirSync(dir).filter((name) => !CACHES.test(name));
  } catch {}
  rmSync(dir, { recursive: true, force: true });
  if (leftovers.length > 0 && code === 0) {
    process.stderr.write(`test run left behind in the temporary directory: ${leftovers.join(', ')}\n`);
    process.exit(1);
  }
  process.exit(code ?? (signal ? 1 : 0));
});
