import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// The house's rules (ARCHITECTURE.md "Import rules"), checked over the source so that a later change
// that breaks one fails the suite: handlers are thin middy entries, no source file grows past 600 lines,
// and imports only point down the layers. Imports are read by TypeScript's own pre-processor
// (ts.preProcessFile: static imports, `import type`, `export ... from`, dynamic import()).

const ROOT = join(import.meta.dirname, '../..');
const SOURCE = /\.(ts|mts|mjs|js)$/;

/** Source files under a folder of the repository, as repository paths (functions/jobs/sample.ts). */
function sourceFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((f) => SOURCE.test(f))
    .map((f) => `${folder}/${f.split('\\').join('/')}`)
    .sort();
}

/** The module specifiers a file imports or re-exports, static or dynamic. */
function importsOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/**
 * The area of functions/ a relative import of `file` lands in: its first folder under functions/
 * (jobs, adapters, ...) or the file's name for functions/'s own files (config.ts); null outside functions/
 * or for a package.
 */
function areaOf(file: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const target = relative(join(ROOT, 'functions'), resolve(ROOT, dirname(file), specifier));
  if (target.startsWith('..')) return null;
  return target.split(/[\\/]/)[0]!;
}

const DOMAINS = ['monitor', 'alerting', 'maintenance', 'optimizer', 'compliance'];
/** What the CDK code may take from the runtime code: side-effect free schemas and definitions. */
const LIB_MAY_IMPORT = [
  'functions/deployment.ts',
  'functions/config.ts',
  'functions/ports.ts',
  'functions/alerting/rule-definitions.ts',
];
const RULES: { from: string[]; never: string[] }[] = [
  { from: DOMAINS, never: ['jobs', 'adapters', 'handlers'] },
  { from: ['adapters'], never: ['handlers'] },
  { from: ['jobs'], never: ['adapters'] },
  // The core everything may use depends on nothing above it.
  {
    from: ['db', 'format', 'ports.ts', 'errors.ts'],
    never: [...DOMAINS, 'jobs', 'adapters', 'handlers', 'demo', 'config.ts', 'deployment.ts'],
  },
];

/** Every import that breaks a rule, as "file -> specifier (area)". */
function forbiddenImports(files: { path: string; text: string }[]): string[] {
  const broken: string[] = [];
  for (const { path, text } of files) {
    const own = path.split('/')[1]!;
    const never = RULES.filter((r) => r.from.includes(own)).flatMap((r) => r.never);
    for (const specifier of importsOf(text)) {
      const area = areaOf(path, specifier);
      if (area !== null && never.includes(area)) broken.push(`${path} -> ${specifier} (${area}/)`);
    }
  }
  return broken;
}

const read = (path: string) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') });
const lineCount = (text: string) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);

describe('the house: handlers', () => {
  const handlers = readdirSync(join(ROOT, 'functions/handlers'))
    .filter((f) => SOURCE.test(f))
    .map((f) => read(`functions/handlers/${f}`));

  it('holds only Lambda entries at the root of functions/handlers (support files in subfolders)', () => {
    expect(handlers.map((h) => h.path)).toEqual(
      expect.arrayContaining(['functions/handlers/sampler.ts', 'functions/handlers/maintainer.ts']),
    );
    for (const { path, text } of handlers) {
      expect(text, `${path} exports a Lambda handler`).toMatch(/^export const handler\b/m);
      expect(text, `${path} is a middy handler`).toMatch(/from '@middy\/core'/);
    }
  });

  it.each(handlers.map((h) => [h.path, h.text]))(
    '%s is at most 100 lines and uses middleware',
    (path, text) => {
      expect(lineCount(text), path).toBeLessThanOrEqual(100);
      expect(text).toMatch(/\.use\(/);
    },
  );
});

describe('the house: sizes', () => {
  it('no source file under functions/, lib/ or bin/ is over 600 lines', () => {
    const files = ['functions', 'lib', 'bin'].flatMap(sourceFiles);
    expect(files.length).toBeGreaterThan(100);
    const tooLong = files
      .map(read)
      .filter((f) => lineCount(f.text) > 600)
      .map((f) => `${f.path}: ${lineCount(f.text)} lines`);
    expect(tooLong).toEqual([]);
  });
});

describe('the house: imports point down the layers', () => {
  const files = sourceFiles('functions').map(read);

  it('reads imports of every form, and resolves them to their area', () => {
    const text = [
      "import { a } from '../jobs/alert.ts';",
      "import type { B } from '../adapters/aws/sns-notifier.ts';",
      "export { c } from './rules.ts';",
      "export * from '../handlers/support/runtime.ts';",
      "const d = await import('../../functions/handlers/sampler.ts');",
      "import pg from 'pg';",
    ].join('\n');
    const specifiers = importsOf(text);
    expect(specifiers).toEqual([
      '../jobs/alert.ts',
      '../adapters/aws/sns-notifier.ts',
      './rules.ts',
      '../handlers/support/runtime.ts',
      '../../functions/handlers/sampler.ts',
      'pg',
    ]);
    expect(specifiers.map((s) => areaOf('functions/alerting/x.ts', s))).toEqual([
      'jobs',
      'adapters',
      'alerting',
      'handlers',
      'handlers',
      null,
    ]);
    expect(forbiddenImports([{ path: 'functions/alerting/x.ts', text }])).toEqual([
      'functions/alerting/x.ts -> ../jobs/alert.ts (jobs/)',
      'functions/alerting/x.ts -> ../adapters/aws/sns-notifier.ts (adapters/)',
      'functions/alerting/x.ts -> ../handlers/support/runtime.ts (handlers/)',
      'functions/alerting/x.ts -> ../../functions/handlers/sampler.ts (handlers/)',
    ]);
    // A subfolder of a domain is the domain (functions/maintenance/sql/..., functions/monitor/collect/...).
    expect(
      forbiddenImports([{ path: 'functions/monitor/collect/y.ts', text: "import '../../jobs/sample.ts';" }]),
    ).toEqual(['functions/monitor/collect/y.ts -> ../../jobs/sample.ts (jobs/)']);
  });

  it('finds every layer it rules over', () => {
    const areas = new Set(files.map((f) => f.path.split('/')[1]));
    for (const area of [...DOMAINS, 'jobs', 'adapters', 'handlers']) expect(areas).toContain(area);
  });

  it('no domain module imports jobs/, adapters/ or handlers/; no adapter imports handlers/; no job imports adapters/; the core imports nothing above it', () => {
    expect(forbiddenImports(files)).toEqual([]);
  });

  it('lib/ imports from functions/ only the schemas, port types and rule definitions (handlers are bundled by path)', () => {
    const imported = sourceFiles('lib')
      .map(read)
      .flatMap(({ path, text }) =>
        importsOf(text)
          .filter((s) => s.startsWith('.'))
          .map((s) =>
            relative(ROOT, resolve(ROOT, dirname(path), s))
              .split('\\')
              .join('/'),
          )
          .filter((target) => target.startsWith('functions/')),
      );
    expect(imported.length).toBeGreaterThan(0);
    expect([...new Set(imported)].filter((t) => !LIB_MAY_IMPORT.includes(t))).toEqual([]);
  });
});
