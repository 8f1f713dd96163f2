/**
 * The one helper through which every SQL identifier passes. Values never go into SQL text: they are
 * always bound parameters ($1, $2, ...).
 */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new Error('an SQL identifier cannot be empty');
  if (name.includes('\u0000')) throw new Error('an SQL identifier cannot contain a NUL character');
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a schema-qualified name: `quoteQualified('My Schema', 't')` gives `"My Schema"."t"`. */
export function quoteQualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/**
 * Splits a qualified name as PostgreSQL writes it (`dgm.t`, `"My ""S"""."T"`) into its parts.
 * Unquoted parts fold to lower case, as the server folds them.
 */
export function parseQualifiedName(text: string): { schema?: string; name: string } {
  const parts: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      let part = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`unterminated quoted identifier in ${text}`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += text[i];
        i++;
      }
      parts.push(part);
    } else {
      const end = text.indexOf('.', i);
      const raw = end === -1 ? text.slice(i) : text.slice(i, end);
      if (raw.length === 0 || /[\s"]/.test(raw)) throw new Error(`not a valid qualified name: ${text}`);
      parts.push(raw.toLowerCase());
      i = end === -1 ? text.length : end;
    }
    if (i < text.length) {
      if (text[i] !== '.') throw new Error(`not a valid qualified name: ${text}`);
      i++;
      if (i >= text.length) throw new Error(`not a valid qualified name: ${text}`);
    }
  }
  if (parts.length === 1) return { name: parts[0]! };
  if (parts.length === 2) return { schema: parts[0]!, name: parts[1]! };
  throw new Error(`not a valid qualified name: ${text}`);
}
