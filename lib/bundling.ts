import { join, resolve } from 'node:path';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, LogLevel, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';

/**
 * How every Lambda is bundled: one place, read by the stack (NodejsFunction, local esbuild, no Docker)
 * and by the bundle benchmark (esbuild directly), so the benchmark measures what is deployed.
 */

export const PROJECT_ROOT = resolve(import.meta.dirname, '..');

/** Each Lambda's entry file, relative to the project root. */
export const HANDLER_ENTRIES = {
  sampler: 'functions/handlers/sampler.ts',
  maintainer: 'functions/handlers/maintainer.ts',
  migrator: 'functions/handlers/migrator.ts',
  'slack-notifier': 'functions/handlers/slack-notifier.ts',
  fanout: 'functions/handlers/fanout.ts',
  registry: 'functions/handlers/registry.ts',
} as const;
export type HandlerName = keyof typeof HANDLER_ENTRIES;

/**
 * Pinned, not NODEJS_LATEST: the latest moves with aws-cdk-lib (to 24 in 2.259) while the code and its
 * tests run on Node 22 (the CLI's node devDependency, middy 7's engine).
 */
export const LAMBDA_RUNTIME = Runtime.NODEJS_22_X;
export const LAMBDA_ARCHITECTURE = Architecture.ARM_64;
export const ESBUILD_TARGET = 'node22';

/**
 * ESM output needs require/__filename/__dirname for the CommonJS inside dependencies (pg's optional
 * requires, libpg-query's emscripten loader, which finds its .wasm next to the bundle via __dirname).
 */
export const ESM_BANNER =
  "import{createRequire as __dgmCreateRequire}from'node:module';" +
  "import{fileURLToPath as __dgmFileURLToPath}from'node:url';" +
  "import{dirname as __dgmDirname}from'node:path';" +
  'const require=__dgmCreateRequire(import.meta.url);' +
  'const __filename=__dgmFileURLToPath(import.meta.url);' +
  'const __dirname=__dgmDirname(__filename);';

/** SQL files are imported as text, as the CLI's loader does. */
export const LOADERS = { '.sql': 'text' } as const;

/**
 * pg's optional native binding is never installed. Everything else, the AWS SDK included, is bundled:
 * a pinned SDK, and esbuild keeps only the clients a handler imports (smaller and faster to load than
 * the runtime's full SDK).
 */
export const EXTERNAL_MODULES = ['pg-native'];
export const MAIN_FIELDS = ['module', 'main'];

/** Files a bundle loads at run time from next to itself, copied when the bundle references them. */
export const RUNTIME_ASSETS = [
  { marker: 'libpg-query.wasm', source: 'node_modules/libpg-query/wasm/libpg-query.wasm' },
] as const;

/** The NodejsFunction bundling options; extraFiles (absolute paths) are copied next to the bundle. */
export function nodejsBundling(extraFiles: readonly string[] = []): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: ESBUILD_TARGET,
    mainFields: MAIN_FIELDS,
    banner: ESM_BANNER,
    minify: true,
    sourceMap: true,
    sourcesContent: false,
    loader: { ...LOADERS },
    externalModules: EXTERNAL_MODULES,
    bundleAwsSDK: true,
    forceDockerBundling: false,
    logLevel: LogLevel.ERROR,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      // The bundle is index.mjs in outputDir; copy an asset only when the bundle refers to it.
      afterBundling: (inputDir: string, outputDir: string) => [
        ...RUNTIME_ASSETS.map(
          (a) =>
            `if grep -q "${a.marker}" "${join(outputDir, 'index.mjs')}"; then cp "${join(inputDir, a.source)}" "${outputDir}/"; fi`,
        ),
        ...extraFiles.map((f) => `cp "${f}" "${outputDir}/"`),
      ],
    },
  };
}
