// `npm run bench -- fleet-synth [sizes...]`: `cdk synth` as a user runs it (offline, bundling on) for a
// fleet of N existing databases spread over several VPCs; prints per size the time, the resources of
// every template, the largest template's size, and the total against "a fixed base plus one per target".
// DGM_SYNTH_SIZES="1,10,100,1000" picks the sizes; DGM_SYNTH_INGRESS=none synthesizes with
// fleet.databaseIngress "none".
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../lib/bundling.ts';
import { fleetConfig } from '../infra/support.ts';

function synth(n: number, ingress: 'stack' | 'none') {
  const home = mkdtempSync(join(tmpdir(), 'dgm-fleet-synth-'));
  const out = join(home, 'cdk.out');
  const configFile = join(home, 'fleet.json');
  writeFileSync(configFile, JSON.stringify(fleetConfig(n, ingress)));
  const started = performance.now();
  const run = spawnSync(
    join(PROJECT_ROOT, 'node_modules/.bin/cdk'),
    ['synth', '--quiet', '--no-notices', '-o', out, '-c', `dgm=@${configFile}`],
    {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        AWS_CONFIG_FILE: join(home, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
        AWS_EC2_METADATA_DISABLED: 'true',
        CDK_DISABLE_VERSION_CHECK: '1',
        HTTPS_PROXY: 'http://127.0.0.1:9',
        HTTP_PROXY: 'http://127.0.0.1:9',
      },
    },
  );
  const seconds = (performance.now() - started) / 1000;
  try {
    return measure(n, run, seconds, out);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

function measure(n: number, run: ReturnType<typeof spawnSync>, seconds: number, out: string) {
  if (run.status !== 0)
    return {
      n,
      ok: false,
      seconds,
      error: `${run.error?.message ?? ''} ${String(run.stderr ?? '').slice(-2000)}`,
    };
  const templates = readdirSync(out).filter((f) => f.endsWith('.template.json'));
  const sizes = templates.map((f) => {
    const text = readFileSync(join(out, f), 'utf8');
    return {
      file: f,
      resources: Object.keys(JSON.parse(text).Resources ?? {}).length,
      bytes: statSync(join(out, f)).size,
    };
  });
  return { n, ok: true, seconds, sizes };
}

const sizes = (process.env.DGM_SYNTH_SIZES ?? '1,10,100,1000').split(',').map(Number);
const ingress = process.env.DGM_SYNTH_INGRESS === 'none' ? 'none' : 'stack';
for (const n of sizes) {
  const r = synth(n, ingress);
  if (!r.ok) {
    process.stdout.write(`${n} targets: synth FAILED after ${r.seconds.toFixed(1)} s\n${r.error}\n`);
    continue;
  }
  const total = r.sizes!.reduce((a, s) => a + s.resources, 0);
  const largest = r.sizes!.reduce((a, s) => (s.bytes > a.bytes ? s : a));
  const most = Math.max(...r.sizes!.map((s) => s.resources));
  process.stdout.write(
    `${n} targets (ingress ${ingress}): ${r.seconds.toFixed(1)} s, ${r.sizes!.length} template(s), ${total} resources in all (most in one: ${most}), largest template ${(largest.bytes / 1024).toFixed(0)} KB (${largest.file})\n`,
  );
}
