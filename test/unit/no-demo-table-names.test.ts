import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// The project rule: no general mechanism names the DGM demo tables; the demo is one user, not the
// specification. This reads the code of maintenance, monitor, optimizer, alerting and jobs, and the
// runtime config, without its comments, and fails on any mention of the demo's tables.

const ROOT = join(import.meta.dirname, '..', '..');
const DIRS = ['maintenance', 'monitor', 'optimizer', 'alerting', 'jobs'].map((d) =>
  join(ROOT, 'functions', d),
);
const FILES = [join(ROOT, 'functions', 'config.ts')];
const NAMES = /performance_metrics|dgm_archive|compliance_logs|bandit_states|\bworkspaces\b/g;

/**
 * The compliance capability's own tables, read by the compliance feature (not by a general mechanism):
 * each allowed mention is one file and one name, with the reason.
 */
const ALLOWED: Array<{ file: string; name: string; why: string }> = [
  {
    file: 'functions/alerting/rule-definitions.ts',
    name: 'compliance_logs',
    why: "compliance_violations' runbook: the rule counts the compliance feature's critical log rows",
  },
  {
    file: 'functions/jobs/migrate.ts',
    name: 'dgm_archive',
    why: "migrate reports the constitution's compliance score, which the compliance feature keeps in the archive",
  },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|sql)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/** The file's text without comments: TypeScript through its scanner, SQL without `--` and block comments. */
function withoutComments(path: string, text: string): string {
  if (path.endsWith('.sql')) {
    return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/--[^\n]*/g, ' ');
  }
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const parts: string[] = [];
  const visit = (node: ts.Node) => {
    // JSDoc comments are nodes of the tree too.
    if (node.kind >= ts.SyntaxKind.FirstJSDocNode && node.kind <= ts.SyntaxKind.LastJSDocNode) return;
    if (node.getChildCount(source) === 0) parts.push(node.getText(source));
    else for (const child of node.getChildren(source)) visit(child);
  };
  visit(source);
  return parts.join(' ');
}

function mentions(path: string): Array<{ file: string; name: string }> {
  const file = relative(ROOT, path);
  const code = withoutComments(path, readFileSync(path, 'utf8'));
  return [...code.matchAll(NAMES)].map((m) => ({ file, name: m[0] }));
}

describe('general mechanisms name no DGM demo table', () => {
  it('the scanner drops comments and keeps code, strings and templates', () => {
    const code = withoutComments(
      'x.ts',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: TypeScript source text with a template literal in it
      '// dgm.workspaces\n/** dgm_archive */ const a = `SELECT 1 FROM ${t} JOIN dgm.bandit_states`; const b = "compliance_logs";',
    );
    expect([...code.matchAll(NAMES)].map((m) => m[0])).toEqual(['bandit_states', 'compliance_logs']);
    expect(
      withoutComments('x.sql', '-- dgm.workspaces\nSELECT 1 /* performance_metrics */ FROM dgm_archive'),
    ).not.toMatch(/workspaces|performance_metrics/);
  });

  it('finds none outside comments, except the compliance capability’s own, each with its reason', () => {
    const files = [...DIRS.flatMap(sourceFiles), ...FILES];
    // The scan covers the modules it is about.
    expect(files.length).toBeGreaterThan(50);
    expect(files.map((f) => relative(ROOT, f))).toEqual(
      expect.arrayContaining(['functions/maintenance/vacuum.ts', 'functions/maintenance/statistics.ts']),
    );
    const found = files.flatMap(mentions);
    const unexpected = found.filter((m) => !ALLOWED.some((a) => a.file === m.file && a.name === m.name));
    expect(unexpected).toEqual([]);
    // Each exception is still needed (remove it when its mention goes).
    for (const a of ALLOWED) expect(found, a.why).toContainEqual({ file: a.file, name: a.name });
  });
});
