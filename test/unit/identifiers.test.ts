import { describe, expect, it } from 'vitest';
import { parseQualifiedName, quoteIdent, quoteQualified } from '../../functions/db/identifiers.ts';

describe('quoteIdent', () => {
  it('quotes and doubles embedded quotes', () => {
    expect(quoteIdent('plain')).toBe('"plain"');
    expect(quoteIdent('With "Quotes" and spaces')).toBe('"With ""Quotes"" and spaces"');
    expect(quoteIdent('Ünïcødé')).toBe('"Ünïcødé"');
    expect(quoteQualified('My Schema', 'x"; DROP TABLE y; --')).toBe('"My Schema"."x""; DROP TABLE y; --"');
  });
  it('rejects what no identifier can hold', () => {
    expect(() => quoteIdent('')).toThrow(/empty/);
    expect(() => quoteIdent('a\u0000b')).toThrow(/NUL/);
  });
});

describe('parseQualifiedName', () => {
  it('reads names as PostgreSQL writes them', () => {
    expect(parseQualifiedName('dgm.dgm_archive')).toEqual({ schema: 'dgm', name: 'dgm_archive' });
    expect(parseQualifiedName('Public.Foo')).toEqual({ schema: 'public', name: 'foo' });
    expect(parseQualifiedName('"My ""S"""."Tbl ü"')).toEqual({ schema: 'My "S"', name: 'Tbl ü' });
    expect(parseQualifiedName('"a.b"')).toEqual({ name: 'a.b' });
  });
  it('round-trips through quoteQualified', () => {
    const parts = { schema: 'We"ird Schema', name: 'Tåble.name' };
    expect(parseQualifiedName(quoteQualified(parts.schema, parts.name))).toEqual(parts);
  });
  it('rejects malformed names', () => {
    for (const bad of ['', 'a.', '.a', 'a b', '"open', 'a.b.c', '"x"y']) {
      expect(() => parseQualifiedName(bad), bad).toThrow();
    }
  });
});
