/**
 * Keeps or drops the `--#if name` / `--#else` / `--#endif` sections of a .sql template and replaces its
 * `__TOKEN__` placeholders. Tokens only ever take fixed column names or identifiers quoted by
 * quoteIdent/quoteQualified; values stay bind parameters.
 */
export function renderSqlTemplate(
  template: string,
  flags: Readonly<Record<string, boolean>>,
  tokens: Readonly<Record<string, string>> = {},
): string {
  const out: string[] = [];
  // Each open section: its condition and whether its current branch is kept.
  const stack: Array<{ keep: boolean; cond: boolean }> = [];
  const keeping = () => stack.every((s) => s.keep);
  for (const line of template.split('\n')) {
    const directive = /^\s*--#(if|else|endif)\b\s*(\w+)?/.exec(line);
    if (directive) {
      const [, kind, name] = directive;
      if (kind === 'if') {
        if (!name) throw new Error('sql template: --#if needs a name');
        if (!(name in flags)) throw new Error(`sql template: unknown flag ${name}`);
        const cond = Boolean(flags[name]);
        stack.push({ keep: cond, cond });
      } else if (kind === 'else') {
        const top = stack.at(-1);
        if (!top) throw new Error('sql template: --#else without --#if');
        top.keep = !top.cond;
      } else {
        if (!stack.pop()) throw new Error('sql template: --#endif without --#if');
      }
      continue;
    }
    // Whole-line comments document the template (and name its tokens): they are not sent.
    if (keeping() && !/^\s*--/.test(line)) out.push(line);
  }
  if (stack.length > 0) throw new Error('sql template: unclosed --#if');
  let sql = out.join('\n');
  for (const [token, value] of Object.entries(tokens)) sql = sql.replaceAll(`__${token}__`, value);
  const left = /__[A-Z][A-Z0-9_]*__/.exec(sql);
  if (left) throw new Error(`sql template: no value for ${left[0]}`);
  return sql;
}
