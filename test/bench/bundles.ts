// `npm run bench -- bundles`: bundles every Lambda exactly as the stack does (lib/bundling.ts settings,
// local esbuild), then prints each bundle's size and its module init time on this Node 22: the time to
// import the bundle in a fresh process, which is the part of a Lambda cold start our code controls.
// Goal for the sampler: at most 1.5 MB and 300 ms.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { build } from 'esbuild';
import {
  ESBUILD_TARGET,
  ESM_BANNER,
  EXTERNAL_MODULES,
  HANDLER_ENTRIES,
  type HandlerName,
  LOADERS,
  MAIN_FIELDS,
  PROJECT_ROOT,
  RUNTIME_ASSETS,
} from '../../lib/bundling.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const GOAL = { name: 'sampler', bytes: 1.5 * 1024 * 1024, initMs: 300 };

/** What the stack puts in the functions' environment, with placeholder values (nothing is called). */
const LAMBDA_ENV: Record<string, string> = {
  AWS_REGION: 'eu-west-1',
  AWS_DEFAULT_REGION: 'eu-west-1',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
  AWS_ACCESS_KEY_ID: 'AKIDBENCH',
  AWS_SECRET_ACCESS_KEY: 'bench',
  NODE_OPTIONS: '--enable-source-maps',
  DGM_TARGETS: JSON.stringify([
    {
      name: 'bench',
      host: 'db.example',
      port: 5432,
      database: 'dgm',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf',
      config: {},
    },
  ]),
  DGM_CONFIG: '{}',
  DGM_ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:alerts',
  DGM_ALERT_TABLE: 'alerts',
  DGM_MAINTAINER_FUNCTION: 'maintainer',
  DGM_SLACK_WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-AbCdEf',
};

interface BundleFigures {
  name: HandlerName | 'anchor';
  codeBytes: number;
  mapBytes: number;
  assetBytes: number;
  /** What Lambda stores and loads: the zip of index.mjs, its map and the assets (deflate, as zip does). */
  zippedBytes: number;
  topInputs: Array<{ pkg: string; bytes: number }>;
  initMs: number[];
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MB`;
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))]!;
};

function packageOf(path: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return m ? m[1]! : path.startsWith('functions/') ? 'functions (ours)' : path;
}

async function bundle(
  name: HandlerName | 'anchor',
  outDir: string,
  entry: string,
): Promise<Omit<BundleFigures, 'initMs'>> {
  const outfile = join(outDir, 'index.mjs');
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: ESBUILD_TARGET,
    mainFields: MAIN_FIELDS,
    banner: { js: ESM_BANNER },
    loader: { ...LOADERS },
    external: EXTERNAL_MODULES,
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    metafile: true,
    logLevel: 'error',
    absWorkingDir: PROJECT_ROOT,
  });
  const code = readFileSync(outfile);
  const files = [outfile, `${outfile}.map`];
  let assetBytes = 0;
  for (const a of RUNTIME_ASSETS) {
    if (!code.includes(a.marker)) continue;
    const target = join(outDir, basename(a.source));
    copyFileSync(join(PROJECT_ROOT, a.source), target);
    assetBytes += statSync(target).size;
    files.push(target);
  }
  // A zip entry is the deflated file plus ~100 bytes of local and central headers.
  const zippedBytes = files.reduce(
    (sum, f) => sum + deflateRawSync(readFileSync(f), { level: 9 }).length + 100,
    22,
  );
  const byPackage = new Map<string, number>();
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint);
  for (const [input, info] of Object.entries(output?.inputs ?? {})) {
    const pkg = packageOf(input);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + info.bytesInOutput);
  }
  return {
    name,
    codeBytes: code.length,
    mapBytes: statSync(`${outfile}.map`).size,
    assetBytes,
    zippedBytes,
    topInputs: [...byPackage.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([pkg, bytes]) => ({ pkg, bytes })),
  };
}

/** Imports the bundle in a fresh Node process and returns the milliseconds the import took. */
function initTime(outDir: string): number {
  const probe = join(outDir, 'probe.mjs');
  if (!existsSync(probe)) {
    writeFileSync(
      probe,
      `const t0 = performance.now();
const m = await import(${JSON.stringify(join(outDir, 'index.mjs'))});
const ms = performance.now() - t0;
if (typeof m.handler !== 'function') throw new Error('no handler export');
process.stdout.write(String(ms));`,
    );
  }
  const run = spawnSync(process.execPath, [probe], {
    env: { PATH: process.env.PATH ?? '', ...LAMBDA_ENV },
    encoding: 'utf8',
  });
  if (run.status !== 0) {
    throw new Error(`init of ${outDir} failed: ${run.stderr.trim().split('\n').slice(-3).join(' ')}`);
  }
  return Number(run.stdout);
}

const root = mkdtempSync(join(tmpdir(), 'dgm-bundles-'));
const figures: BundleFigures[] = [];
const missing: string[] = [];
let anchor: BundleFigures;
try {
  // The anchor: the floor every one of our Lambdas pays, middy and one AWS SDK client (Secrets
  // Manager) bundled the same way and timed in the same interleaved runs; each handler's ratio to it
  // shows what its own code adds, whatever the load on this shared machine.
  const anchorEntry = join(PROJECT_ROOT, 'node_modules/.cache/dgm-bench-anchor.mjs');
  writeFileSync(
    anchorEntry,
    "import middy from '@middy/core';\nimport { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';\nconst client = new SecretsManagerClient({});\nexport const handler = middy(async () => client.config.region);\n",
  );
  anchor = { ...(await bundle('anchor', join(root, 'anchor'), anchorEntry)), initMs: [] };
  for (const name of Object.keys(HANDLER_ENTRIES) as HandlerName[]) {
    const entry = join(PROJECT_ROOT, HANDLER_ENTRIES[name]);
    if (!existsSync(entry)) {
      missing.push(name);
      continue;
    }
    const outDir = join(root, name);
    figures.push({ ...(await bundle(name, outDir, entry)), initMs: [] });
  }
  // Interleaved runs, so load changes on a shared machine spread over every bundle alike.
  for (let i = 0; i < RUNS; i++) {
    anchor.initMs.push(initTime(join(root, 'anchor')));
    for (const f of figures) f.initMs.push(initTime(join(root, f.name)));
  }
} finally {
  rmSync(root, { recursive: true, force: true });
  rmSync(join(PROJECT_ROOT, 'node_modules/.cache/dgm-bench-anchor.mjs'), { force: true });
}

const ms = (x: number) => `${x.toFixed(0)} ms`;
const anchorMedian = percentile(anchor!.initMs, 0.5);
console.log(
  `Lambda bundles (esbuild ${ESBUILD_TARGET}, ESM, minified, source maps): init = import in a fresh ${process.version} process (${process.arch}), ${RUNS} interleaved runs; load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} CPUs`,
);
console.log(
  `${'function'.padEnd(15)}${'code'.padStart(9)}${'+assets'.padStart(9)}${'zip'.padStart(9)}${'init median'.padStart(13)}${'min'.padStart(8)}${'p90'.padStart(8)}${'x anchor'.padStart(10)}`,
);
for (const f of figures) {
  const median = percentile(f.initMs, 0.5);
  console.log(
    `${f.name.padEnd(15)}${mb(f.codeBytes).padStart(9)}${mb(f.codeBytes + f.assetBytes).padStart(9)}${mb(f.zippedBytes).padStart(9)}${ms(median).padStart(13)}${ms(Math.min(...f.initMs)).padStart(8)}${ms(percentile(f.initMs, 0.9)).padStart(8)}${`${(median / anchorMedian).toFixed(1)}x`.padStart(10)}`,
  );
}
console.log(
  `${'anchor'.padEnd(15)}${mb(anchor!.codeBytes).padStart(9)}${''.padStart(18)}${ms(anchorMedian).padStart(13)}${ms(Math.min(...anchor!.initMs)).padStart(8)}${ms(percentile(anchor!.initMs, 0.9)).padStart(8)}`,
);
for (const f of figures) {
  console.log(
    `  ${f.name}: largest parts ${f.topInputs.map((t) => `${t.pkg} ${(t.bytes / 1024).toFixed(0)} KB`).join(', ')}${f.assetBytes ? `; assets ${(f.assetBytes / 1024).toFixed(0)} KB` : ''}`,
  );
}
console.log('  anchor: @middy/core and @aws-sdk/client-secrets-manager only, the floor of every handler');
for (const m of missing)
  console.log(`${m.padEnd(15)}not built yet (${HANDLER_ENTRIES[m as HandlerName]} missing)`);
const goal = figures.find((f) => f.name === GOAL.name);
if (goal) {
  const init = percentile(goal.initMs, 0.5);
  console.log(
    `sampler goal (<= 1.5 MB, <= ${GOAL.initMs} ms): deployment zip ${mb(goal.zippedBytes)} ${goal.zippedBytes <= GOAL.bytes ? 'met' : 'MISSED'}, code ${mb(goal.codeBytes)} ${goal.codeBytes <= GOAL.bytes ? 'met' : 'MISSED'} (unzipped with the parser wasm ${mb(goal.codeBytes + goal.assetBytes)}); init median ${ms(init)} ${init <= GOAL.initMs ? 'met' : 'MISSED'}`,
  );
}
