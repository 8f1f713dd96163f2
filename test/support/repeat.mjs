#!/usr/bin/env node
// `npm run repeat -- FILE [--runs N] [--load K] [--project NAME] [--test PATTERN]`: runs one test file N
// times in a row (default 20), each in a fresh vitest (its own embedded server, as CI starts it), optionally
// while K busy loops occupy the cores (as `yes >/dev/null &` would), and reports how many runs failed: the way
// to prove a flaky test fixed. The output of a failed run is kept in the temporary folder it names.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const usage =
  'usage: npm run repeat -- FILE [--runs N] [--load K] [--project pg18|pg15|unit|infra] [--test PATTERN]';
let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string', default: '20' },
      load: { type: 'string', default: '0' },
      project: { type: 'string' },
      test: { type: 'string' },
    },
  });
} catch (err) {
  console.error(`repeat: ${err.message}\n${usage}`);
  process.exit(2);
}
const runs = Number(args.values.runs);
const load = Number(args.values.load);
if (
  args.positionals.length !== 1 ||
  !Number.isInteger(runs) ||
  runs < 1 ||
  !Number.isInteger(load) ||
  load < 0
) {
  console.error(usage);
  process.exit(2);
}
const file = args.positionals[0];
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const vitestArgs = [join(root, 'test/support/run-vitest.mjs'), file];
if (args.values.project) vitestArgs.push('--project', args.values.project);
if (args.values.test) vitestArgs.push('-t', args.values.test);

const busy = Array.from({ length: load }, () =>
  spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
);
const stopBusy = () => {
  for (const b of busy) b.kill('SIGKILL');
};
process.on('exit', stopBusy);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

function once() {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, vitestArgs, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out, seconds: (Date.now() - started) / 1000 }));
  });
}

let failed = 0;
const logs = mkdtempSync(join(tmpdir(), 'dgm-repeat-'));
console.log(`${file}: ${runs} runs${load ? `, ${load} busy loop(s)` : ''}`);
for (let i = 1; i <= runs; i++) {
  const r = await once();
  let note = '';
  if (r.code !== 0) {
    failed++;
    const log = join(logs, `run-${i}.log`);
    writeFileSync(log, r.out);
    note = `  (output: ${log})`;
  }
  console.log(
    `run ${i}: ${r.code === 0 ? 'passed' : `FAILED (exit ${r.code})`} in ${r.seconds.toFixed(1)} s${note}`,
  );
}
stopBusy();
if (failed === 0) rmSync(logs, { recursive: true, force: true });
console.log(`repeat: ${runs - failed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
