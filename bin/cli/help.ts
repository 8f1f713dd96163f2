import { readFileSync } from 'node:fs';
import type { Command } from './types.ts';

/** The flags every command takes, with their help. */
interface FlagHelp {
  flag: string;
  value?: string;
  short?: string;
  text: string;
}

export const GLOBAL_FLAGS: readonly FlagHelp[] = [
  {
    flag: 'database-url',
    value: 'URL',
    text: 'PostgreSQL to work on (default: $DATABASE_URL, else an embedded PostgreSQL 18); ?sslmode=disable|allow|prefer|require|verify-ca|verify-full, ?sslrootcert=FILE',
  },
  {
    flag: 'config',
    value: 'FILE',
    text: 'JSON runtime config (target name, thresholds, budgets); see docs/configuration.md',
  },
  { flag: 'json', text: 'print one JSON document on stdout (logs go to stderr)' },
  { flag: 'dry-run', text: 'print the plan and change nothing' },
  { flag: 'help', short: 'h', text: 'this help' },
];

/** The package's version (package.json next to bin/). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function flagLines(flags: readonly FlagHelp[]): string[] {
  const heads = flags.map(
    (f) => `--${f.flag}${f.value ? ` ${f.value}` : ''}${f.short ? `, -${f.short}` : ''}`,
  );
  const width = Math.max(...heads.map((h) => h.length));
  return flags.map((f, i) => `  ${heads[i]!.padEnd(width)}  ${f.text}`);
}

/** `dgm-db-ops --help`. */
export function mainHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'dgm-db-ops: keep a time-series PostgreSQL fast and healthy (sampling, alerts, maintenance, optimizer)',
    '',
    'Usage: dgm-db-ops <command> [flags]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Flags of every command:',
    ...flagLines([
      ...GLOBAL_FLAGS.map((f) =>
        f.flag === 'help' ? { ...f, text: 'this help; `dgm-db-ops <command> --help` for a command' } : f,
      ),
      { flag: 'version', short: 'V', text: 'print the version (dgm-db-ops --version)' },
    ]),
    '',
    'Examples:',
    '  dgm-db-ops demo',
    '  dgm-db-ops sample --database-url postgres://monitor@db.example.com/app',
    '  dgm-db-ops metrics --listen 127.0.0.1:9187',
    '',
    'Exit codes: 0 success, 1 failed job, 2 bad input.',
  ].join('\n');
}

/** `dgm-db-ops <command> --help`: usage, summary, every flag described, examples. */
export function commandHelp(cmd: Command): string {
  const own = Object.entries(cmd.options ?? {}).map(([flag, o]) => {
    const h = cmd.flags?.[flag];
    const repeat = o.multiple ? ' (repeatable)' : '';
    return {
      flag,
      value: o.type === 'string' ? (h?.value ?? 'VALUE') : undefined,
      text: `${h?.text ?? ''}${repeat}`,
    };
  });
  return [
    `Usage: dgm-db-ops ${cmd.usage ?? cmd.name}`,
    '',
    cmd.summary,
    ...(own.length ? ['', 'Flags:', ...flagLines(own)] : []),
    '',
    'Flags of every command:',
    ...flagLines(GLOBAL_FLAGS),
    ...(cmd.helpDetails ? ['', ...cmd.helpDetails()] : []),
    '',
    'Examples:',
    ...cmd.examples.map((e) => `  ${e}`),
  ].join('\n');
}
