import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// Every relative link and image in README.md and docs/*.md points to a file that exists and, with a
// #fragment, to a heading that exists in it (GitHub's anchors). External links (http:, mailto:) are not
// fetched: the tests never leave the machine.

const ROOT = join(import.meta.dirname, '../..');
const PAGES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** The text outside fenced code blocks and inline code spans, where links and headings are real. */
function prose(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | null = null;
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(```+|~~~+)/.exec(line)?.[1];
    if (marker && (fence === null || marker.startsWith(fence))) {
      fence = fence === null ? marker : null;
      continue;
    }
    if (fence === null) lines.push(line.replace(/`[^`]*`/g, (code) => ' '.repeat(code.length)));
  }
  return lines;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  let fence: string | null = null;
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(```+|~~~+)/.exec(line)?.[1];
    if (marker && (fence === null || marker.startsWith(fence))) {
      fence = fence === null ? marker : null;
      continue;
    }
    const heading = fence === null ? /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line) : null;
    if (!heading) continue;
    const slug = heading[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    result.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return result;
}

/** Targets of [text](target) and ![alt](target) in prose. */
function links(markdown: string): string[] {
  return prose(markdown).flatMap((text) =>
    [...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
  );
}

function brokenLinks(page: string): string[] {
  const text = readFileSync(join(ROOT, page), 'utf8');
  const broken: string[] = [];
  for (const target of links(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [path, fragment] = target.split('#', 2) as [string, string | undefined];
    const file = path === '' ? join(ROOT, page) : join(ROOT, dirname(page), decodeURI(path));
    if (!existsSync(file)) {
      broken.push(`${page}: ${target} (no file ${relative(ROOT, file)})`);
      continue;
    }
    if (fragment === undefined) continue;
    if (statSync(file).isDirectory() || !file.endsWith('.md')) {
      broken.push(`${page}: ${target} (an anchor into a file that is not markdown)`);
      continue;
    }
    if (!anchors(readFileSync(file, 'utf8')).has(decodeURIComponent(fragment)))
      broken.push(`${page}: ${target} (no heading #${fragment} in ${relative(ROOT, file)})`);
  }
  return broken;
}

describe('documentation links', () => {
  it('README.md and docs/ have the manuals the README links to', () => {
    expect(PAGES).toContain('README.md');
    expect(PAGES.length).toBeGreaterThanOrEqual(8);
    const fromReadme = links(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    for (const page of PAGES.filter((p) => p !== 'README.md'))
      expect(fromReadme, `README links to ${page}`).toContain(page);
  });

  it.each(PAGES)('every relative link in %s resolves to a file and heading', (page) => {
    expect(brokenLinks(page)).toEqual([]);
  });

  it("runs the README's two commands, and CI runs its test command", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toMatch(/^npm ci && npm start\b/m);
    expect(readme).toMatch(/^npm ci && npm test\b/m);
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    expect(ci).toMatch(/^step "npm ci" npm ci\b/m);
    expect(ci).toMatch(/^step "npm test[^"]*" npm test$/m);
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts;
    expect(scripts.start).toMatch(/dgm-db-ops\.mjs demo$/);
    expect(scripts.test).toBeDefined();
  });

  it('keeps the README a front page of at most 15 KB', () => {
    expect(statSync(join(ROOT, 'README.md')).size).toBeLessThanOrEqual(15 * 1024);
  });

  it('computes anchors as GitHub does, and skips code', () => {
    const page = [
      '# Configuration (`alerting` section, all optional)',
      "## The optimizer's tables",
      '## Running locally: `dgm-db-ops invoke`',
      '## Benchmark',
      '## Benchmark',
      '```sh',
      '# not a heading',
      '```',
    ].join('\n');
    expect([...anchors(page)]).toEqual([
      'configuration-alerting-section-all-optional',
      'the-optimizers-tables',
      'running-locally-dgm-db-ops-invoke',
      'benchmark',
      'benchmark-1',
    ]);
    expect(links('see [a](a.md#x) and `[b](b.md)`\n```\n[c](c.md)\n```\n![d](d.svg)')).toEqual([
      'a.md#x',
      'd.svg',
    ]);
  });
});
