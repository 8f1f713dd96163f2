import { beforeAll, describe, expect, it } from 'vitest';
import {
  loadParser,
  parserLoaded,
  parseStatements,
  qualifiedName,
  stringValue,
  unwrap,
  walkEntries,
  walkNodes,
} from '../../functions/db/parse-tree.ts';

// The one walker over libpg-query's tree (functions/db/parse-tree.ts), used by the sampler's statement
// shapes and the optimizer's analysis: these pin what it visits and what it skips.

describe('parse tree: loading', () => {
  it('refuses to parse before the parser is loaded, then parses every statement of the text', async () => {
    // Runs first in this file's own module graph: nothing has loaded the parser yet.
    expect(parserLoaded()).toBe(false);
    expect(() => parseStatements('SELECT 1')).toThrow(/loadParser/);
    await loadParser();
    expect(parserLoaded()).toBe(true);
    const tree = parseStatements('SELECT 1; DELETE FROM t');
    expect(tree.stmts.map((s) => Object.keys(s.stmt ?? {})[0])).toEqual(['SelectStmt', 'DeleteStmt']);
    expect(() => parseStatements('SELEC 1')).toThrow(/syntax error/);
  });
});

describe('parse tree: walking', () => {
  beforeAll(loadParser);

  const sql =
    'SELECT a.x, count(*) FROM s.t a JOIN u ON u.id = a.uid ' +
    'WHERE a.y = $1 AND a.z IN (SELECT z FROM v WHERE w = $2) GROUP BY a.x ORDER BY 2 DESC LIMIT $3';

  it('visits every node once, depth first, in the order the tree holds them', () => {
    const types: string[] = [];
    walkNodes(parseStatements(sql).stmts, (type) => {
      types.push(type);
    });
    expect(types[0]).toBe('SelectStmt');
    expect(types.filter((t) => t === 'RangeVar')).toHaveLength(3);
    expect(types.filter((t) => t === 'ParamRef')).toHaveLength(3);
    expect(types.filter((t) => t === 'SubLink')).toHaveLength(1);
    expect(types.indexOf('SubLink')).toBeLessThan(types.lastIndexOf('RangeVar'));
    // Fields (targetList, relname, location ...) are not nodes.
    expect(types.every((t) => /^[A-Z]/.test(t))).toBe(true);
  });

  it('does not enter a node whose visit returns false, and goes on with its siblings', () => {
    const tables: string[] = [];
    const params: number[] = [];
    walkNodes(parseStatements(sql).stmts, (type, body) => {
      if (type === 'SubLink') return false;
      if (type === 'RangeVar') tables.push(String(body.relname));
      if (type === 'ParamRef') params.push(Number(body.number));
      return true;
    });
    expect(tables).toEqual(['t', 'u']);
    expect(params).toEqual([1, 3]);
  });

  it('walkEntries sees fields as well as nodes, and skips the value of a key whose visit returns false', () => {
    const keys = new Set<string>();
    const relations: string[] = [];
    const tree = parseStatements('UPDATE s.t SET a = 1 FROM u WHERE t.id = u.id').stmts;
    walkEntries(tree, (key, value) => {
      keys.add(key);
      if (key === 'fromClause') return false;
      if (key === 'relation') relations.push(String((value as { relname: string }).relname));
    });
    expect(keys.has('relation')).toBe(true);
    expect(keys.has('fromClause')).toBe(true);
    // UPDATE's target is a bare RangeVar body under `relation`; the FROM list was not entered.
    expect(relations).toEqual(['t']);
    const names: string[] = [];
    walkEntries(tree, (key, value) => {
      if (key === 'relname') names.push(String(value));
    });
    expect(names).toEqual(['t', 'u']);
  });

  it('reads node helpers: unwrap, String values and qualified names', () => {
    const stmt = parseStatements("SELECT pg_catalog.lower(x), upper('a')").stmts[0]!.stmt;
    const [type, body] = unwrap(stmt)!;
    expect(type).toBe('SelectStmt');
    const calls: Array<[string | null, string] | undefined> = [];
    walkNodes(body, (t, b) => {
      if (t === 'FuncCall') calls.push(qualifiedName(b.funcname));
    });
    expect(calls).toEqual([
      ['pg_catalog', 'lower'],
      [null, 'upper'],
    ]);
    expect(qualifiedName([])).toBeUndefined();
    expect(stringValue({ String: { sval: 'x' } })).toBe('x');
    expect(stringValue({ Integer: { ival: 1 } })).toBeUndefined();
    expect(unwrap({ a: 1, b: 2 })).toBeUndefined();
    expect(unwrap(null)).toBeUndefined();
  });
});
