import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { COMMANDS as REGISTERED } from '../../bin/cli/commands.ts';
import { runCliInProcess, runCliProcess } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { tempDir } from '../support/tmp.ts';

// Bad input, as an attacker or an unlucky operator types it (issue 13): flags, database URLs, config
// files and Lambda events (through `invoke`, which validates them with the handlers' schema). Every case
// must exit 2 with exactly one line on stderr, show no secret, open no connection (validation comes
// before any effect) and leave the database as it was: audit rows, snapshots and a fingerprint of the
// schema are compared before and after. The cases run in this process (bin/cli/main.ts runCli, what the
// executable calls), a few also as real processes to see the process' own exit code and stderr.

const SECRET = 'S3cr3tFuzzPw';
const ENCODED_SECRET = 'S3cr3t%46uzz%50w'; // "S3cr3tFuzzPw" with two %-escapes
const SECRET_PATTERNS = [SECRET, ENCODED_SECRET, 'S3cr3t'];

let db: TestDatabase;
const dir = tempDir('dgm-fuzz-input');
/** The test database's URL with a password that must never be shown. */
let secretUrl: string;

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** What must not change: audit rows, snapshots, migrations, and the schema's shape. */
async function fingerprint(): Promise<Record<string, unknown>> {
  const { rows } = await db.client.query(`
    SELECT (SELECT count(*) FROM dgm.optimization_audit) AS audit,
           (SELECT count(*) FROM dgm.stat_snapshots) AS snapshots,
           (SELECT count(*) FROM dgm.schema_migrations) AS migrations,
           (SELECT count(*) FROM dgm.auto_indexes) AS auto_indexes,
           (SELECT md5(string_agg(format('%s.%s %s %s %s', n.nspname, c.relname, c.relkind,
                                         c.reloptions, pg_get_indexdef(c.oid)), ',' ORDER BY n.nspname, c.relname))
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%') AS relations,
           (SELECT md5(string_agg(format('%s.%s.%s %s %s', table_schema, table_name, column_name, data_type, column_default), ','
                                  ORDER BY table_schema, table_name, column_name))
              FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema')) AS columns,
           (SELECT md5(string_agg(format('%s %s', p.oid::regprocedure, md5(p.prosrc)), ',' ORDER BY 1))
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'dgm') AS functions`);
  return rows[0]!;
}

// Every registered command (bin/cli/commands.ts): a new command gets the same bad input.
const COMMANDS = REGISTERED.map((c) => c.name);

interface Case {
  name: string;
  args: string[];
  env?: Record<string, string>;
  /** The stderr line must match this (beyond: one line, no secret). */
  says?: RegExp;
}

function cases(): Case[] {
  const u = (password: string, rest = '') => {
    const url = new URL(secretUrl);
    url.password = password;
    return `${url.toString()}${rest}`;
  };
  const good = u(SECRET);
  const nullConfig = file('null.json', 'null');
  const contradictory = file('clear.json', '{"alerting":{"rules":{"lock_waits":{"clear":99}}}}');
  const configs: Array<[string, string, RegExp]> = [
    ['array', '[]', /must be a JSON object, got an array/],
    ['number', '42', /must be a JSON object, got number/],
    ['string', '"x"', /must be a JSON object, got string/],
    ['not JSON holding a URL', `postgres://app:${SECRET}@h/db`, /is not valid JSON \(syntax error\)/],
    ['not JSON holding a password', `password=${SECRET}`, /is not valid JSON/],
    ['truncated', '{"monitoring":', /is not valid JSON \(unexpected end of input\)/],
    ['unknown key', '{"colour":"red"}', /Unrecognized key/],
    ['negative threshold', '{"monitoring":{"slowQueryThresholdMs":-5}}', /slowQueryThresholdMs/],
    ['bad hash', '{"constitutionalHash":"XYZ"}', /constitutionalHash/],
    ['NUL in target', '{"target":"a\\u0000b"}', /target: control characters/],
    [
      'newline in a schema',
      '{"maintenance":{"schemas":["dgm\\nx"]}}',
      /maintenance\.schemas\.0: control characters/,
    ],
    [
      'warning beyond critical',
      '{"alerting":{"rules":{"cache_hit_ratio":{"warning":0.5,"critical":0.9}}}}',
      /warning 0\.5 is beyond critical 0\.9/,
    ],
    [
      'clear above warning',
      '{"alerting":{"rules":{"slow_queries":{"warning":1,"clear":5}}}}',
      /clear 5 must be below/,
    ],
    ['no threshold at all', '{"alerting":{"rules":{"lock_waits":{"warning":null}}}}', /lock_waits/],
    ['unknown rule', '{"alerting":{"rules":{"nope":{}}}}', /alerting\.rules/],
    ['negative cooldown', '{"alerting":{"alertCooldownMinutes":-1}}', /alertCooldownMinutes/],
    ['huge key', `{"${'k'.repeat(100_000)}":1}`, /Unrecognized key/],
    ['secret in a value', `{"target":"postgres://app:${SECRET}@h/db"}`, /target: must be a name/],
    ['wrong type', '{"optimization":{"autoIndexCreation":"yes"}}', /autoIndexCreation/],
    ['retries out of range', '{"maintenance":{"lockRetries":99}}', /lockRetries/],
  ];
  const out: Case[] = [];
  for (const cmd of COMMANDS) {
    out.push(
      cmd === 'invoke'
        ? { name: `${cmd}: a URL as the function`, args: [cmd, good], says: /name one function/ }
        : { name: `${cmd}: a URL as a positional`, args: [cmd, good], says: /Unexpected argument/ },
      {
        name: `${cmd}: unknown flag`,
        args: [cmd, '--frob', '--database-url', good],
        says: /Unknown option '--frob'/,
      },
      {
        name: `${cmd}: empty --database-url, DATABASE_URL set`,
        args: [cmd, '--database-url', ''],
        env: { DATABASE_URL: good },
        says: /--database-url is empty/,
      },
      {
        name: `${cmd}: sslmode=bogus`,
        args: [cmd, '--database-url', u(SECRET, '?sslmode=bogus')],
        says: /sslmode must be one of/,
      },
      {
        name: `${cmd}: bad %-escape`,
        args: [cmd, '--database-url', u(`${SECRET}%zz`)],
        says: /password has an invalid %-escape/,
      },
      {
        name: `${cmd}: --database-url twice`,
        args: [cmd, '--database-url', good, '--database-url', u(ENCODED_SECRET)],
        says: /--database-url is given more than once/,
      },
      {
        name: `${cmd}: --config null`,
        args: [cmd, '--database-url', good, '--config', nullConfig],
        says: /got null/,
      },
      {
        name: `${cmd}: contradictory thresholds`,
        args: [cmd, '--database-url', good, '--config', contradictory],
        says: /alerting\.rules\.lock_waits: clear 99 must be below the firing threshold/,
      },
    );
  }
  for (const [name, content, says] of configs) {
    out.push({
      name: `config: ${name}`,
      args: [
        'maintain',
        '--database-url',
        good,
        '--config',
        file(`${name.replaceAll(' ', '-')}.json`, content),
      ],
      says,
    });
  }
  out.push(
    {
      name: 'config: missing file',
      args: ['sample', '--database-url', good, '--config', join(dir, 'none.json')],
      says: /cannot read/,
    },
    {
      name: 'config: empty path',
      args: ['sample', '--database-url', good, '--config', ''],
      says: /--config is empty/,
    },
  );
  const urls: Array<[string, string, RegExp]> = [
    ['not a URL', `not a url ${SECRET}`, /is not a valid URL/],
    ['another scheme', `mysql://app:${SECRET}@h/db`, /must start with postgres:\/\//],
    ['no host', `postgres://app:${SECRET}@/db`, /no host|not a valid URL/],
    ['port out of range', `postgres://app:${SECRET}@h:99999/db`, /invalid port|not a valid URL/],
    ['unknown parameter', u(SECRET, '?options=-c%20log_statement%3Dall'), /unsupported parameter/],
    ['password parameter', `postgres://app@h/db?password=${SECRET}`, /unsupported parameter/],
    ['sslmode twice', u(SECRET, '?sslmode=require&sslmode=disable'), /given twice/],
    ['NUL in the password', u('a%00b'), /NUL/],
    ['bad escape in the user', `postgres://%E0%A4%A:${SECRET}@h/db`, /user name has an invalid %-escape/],
    ['bad escape in the database', `postgres://app:${SECRET}@h/%zz`, /database name has an invalid %-escape/],
    ['slash in the database', `postgres://app:${SECRET}@h/a/b`, /database name contains a \//],
    ['empty sslrootcert', u(SECRET, '?sslrootcert='), /sslrootcert is empty/],
    ['whitespace only', '   ', /--database-url is empty/],
  ];
  for (const [name, url, says] of urls)
    out.push({ name: `url: ${name}`, args: ['migrate', '--database-url', url], says });
  out.push(
    {
      name: 'url: bad DATABASE_URL',
      args: ['migrate'],
      env: { DATABASE_URL: u(`${SECRET}%zz`) },
      says: /^dgm-db-ops: DATABASE_URL: /,
    },
    {
      name: 'url: DATABASE_URL with sslmode=bogus',
      args: ['sample'],
      env: { DATABASE_URL: u(SECRET, '?sslmode=x') },
      says: /DATABASE_URL: sslmode/,
    },
  );
  const flags: Array<[string, string[], RegExp]> = [
    [
      'maintain --task <url>',
      ['maintain', '--task', good],
      /--task must be one of .*got 'postgres:\/\/[^']*:\*\*\*@/,
    ],
    [
      'maintain --task twice',
      ['maintain', '--task', 'partitions', '--task', 'statistics'],
      /--task is given more than once/,
    ],
    ['maintain --task empty', ['maintain', '--task', ''], /--task is empty/],
    ['maintain --task NUL', ['maintain', '--task', 'a\u0000b'], /got 'a\\u0000b'/],
    ['maintain --task 5 MB', ['maintain', '--task', 'x'.repeat(5_000_000)], /… \(5000000 chars\)'$/],
    ['maintain --task newline', ['maintain', '--task', 'all\nrm -rf /'], /got 'all\\nrm -rf \/'/],
    ['metrics --format', ['metrics', '--format', 'xml'], /--format must be one of/],
    ['alerts --format', ['alerts', '--format', `password=${SECRET}`], /--format must be text or prometheus/],
    [
      'report --format',
      ['report', '--format', 'pdf'],
      /--format must be one of text, markdown, html, got 'pdf'/,
    ],
    ['report --json --output', ['report', '--json', '--output', join(dir, 'r.html')], /drop --output/],
    ['demo --scale 0', ['demo', '--scale', '0'], /--scale must be a number/],
    ['demo --scale abc', ['demo', '--scale', 'abc'], /--scale must be a number/],
    ['demo --scale 11', ['demo', '--scale', '11'], /--scale must be a number/],
    ['optimize --baseline --apply', ['optimize', '--baseline', '--apply'], /do not go together/],
    [
      'optimize --workload missing',
      ['optimize', '--workload', join(dir, 'none.sql')],
      /--workload: cannot read/,
    ],
    [
      'optimize --workload not JSON',
      ['optimize', '--workload', file('w.json', `[postgres://app:${SECRET}@h/db`)],
      /is not valid JSON/,
    ],
    [
      'optimize --workload not an array',
      ['optimize', '--workload', file('w2.json', '[1, {"x":1}]')],
      /item 0 has no "sql" string|item 1/,
    ],
    [
      'optimize --workload bad SQL',
      ['optimize', '--workload', file('w.sql', `SELEC password FROM ${SECRET}`)],
      /is not valid SQL/,
    ],
    ['sample --full=x', ['sample', '--full=x'], /--full/],
    ['--json=1', ['migrate', '--json=1'], /--json/],
  ];
  for (const [name, args, says] of flags)
    out.push({ name: `flag: ${name}`, args: [...args, '--database-url', good], says });
  const eventFile = file('event.txt', `postgres://app:${SECRET}@h/db`);
  const events: Array<[string, string, string, RegExp]> = [
    [
      'NUL in reason',
      'maintainer',
      '{"task":"statistics","reason":"a\\u0000b"}',
      /reason: control characters/,
    ],
    ['unknown task', 'maintainer', '{"task":"drop-everything"}', /task must be one of/],
    ['task is a URL', 'maintainer', JSON.stringify({ task: good }), /got 'postgres:\/\/[^']*:\*\*\*@/],
    ['5 MB task', 'maintainer', JSON.stringify({ task: 'x'.repeat(5_000_000) }), /… \(5000000 chars\)'$/],
    ['extra key', 'maintainer', '{"task":"vacuum","sql":"DROP TABLE x"}', /Unrecognized key/],
    ['unknown target', 'maintainer', '{"task":"vacuum","target":"prod"}', /unknown target 'prod'/],
    ['empty target', 'maintainer', '{"task":"vacuum","target":""}', /target/],
    ['dryRun as a string', 'maintainer', '{"task":"vacuum","dryRun":"yes"}', /dryRun/],
    ['apply as a number', 'maintainer', '{"task":"optimize","apply":1}', /apply/],
    ['long reason', 'maintainer', JSON.stringify({ task: 'vacuum', reason: 'r'.repeat(201) }), /reason/],
    ['null event', 'maintainer', 'null', /event/],
    ['array event', 'maintainer', '[]', /event/],
    ['number event', 'maintainer', '7', /event/],
    ['no task', 'maintainer', '{}', /task/],
    ['sampler with a maintenance task', 'sampler', '{"task":"vacuum"}', /task must be one of sample/],
    ['sampler NUL target', 'sampler', '{"task":"sample","target":"a\\u0000"}', /target: control characters/],
    ['migrator with a sample task', 'migrator', '{"task":"sample"}', /task must be one of migrate/],
    [
      'migrator newline reason',
      'migrator',
      '{"task":"migrate","reason":"a\\nb"}',
      /reason: control characters/,
    ],
    ['not JSON', 'maintainer', `{task: ${SECRET}}`, /--event is not valid JSON/],
    [
      'event file not JSON',
      'maintainer',
      `@${eventFile}`,
      /event file .* is not valid JSON \(syntax error\)/,
    ],
    ['event file missing', 'maintainer', `@${join(dir, 'none.json')}`, /cannot read event file/],
    [
      'password in the event',
      'maintainer',
      JSON.stringify({ task: 'vacuum', password: SECRET }),
      /Unrecognized key/,
    ],
  ];
  for (const [name, fn, event, says] of events) {
    out.push({
      name: `event: ${name}`,
      args: ['invoke', fn, '--event', event, '--database-url', good],
      says,
    });
  }
  out.push(
    {
      name: 'event: no --event',
      args: ['invoke', 'maintainer', '--database-url', good],
      says: /--event is required/,
    },
    {
      name: 'event: two functions',
      args: ['invoke', 'sampler', 'maintainer', '--event', '{"task":"sample"}', '--database-url', good],
      says: /name one function/,
    },
    {
      name: 'event: unknown function',
      args: ['invoke', 'dropper', '--event', '{"task":"sample"}', '--database-url', good],
      says: /name one function/,
    },
    {
      name: 'event: webhook not http',
      args: ['invoke', 'slack-notifier', '--event', '{}', '--webhook-url', `ftp://u:${SECRET}@h/x`],
      says: /--webhook-url must be an http\(s\) URL/,
    },
    {
      name: 'command: a URL as the command',
      args: [good],
      says: /unknown command 'postgres:\/\/[^']*:\*\*\*@/,
    },
    { name: 'command: unknown', args: ['frobnicate'], says: /unknown command 'frobnicate'/ },
  );
  return out;
}

let before: Record<string, unknown>;
let all: Case[];

beforeAll(async () => {
  db = await createTestDatabase();
  const url = new URL(db.url);
  url.password = SECRET;
  secretUrl = url.toString();
  all = cases();
  before = await fingerprint();
});

afterAll(async () => {
  await db?.drop();
});

describe('fuzz: bad input exits 2 with one line, no secret, no connection, no change', () => {
  it('has at least 100 cases', () => {
    expect(all.length).toBeGreaterThanOrEqual(100);
  });

  it('every case, in process', async () => {
    const connects = vi.spyOn(pg.Client.prototype, 'connect');
    const failures: string[] = [];
    try {
      for (const c of all) {
        const run = await runCliInProcess(c.args, c.env ?? {});
        const problems: string[] = [];
        if (run.code !== 2) problems.push(`exit ${run.code}`);
        if (!/^dgm-db-ops: [^\n]*\n$/.test(run.stderr)) problems.push('not exactly one line on stderr');
        if (run.stdout !== '') problems.push('stdout not empty');
        if (SECRET_PATTERNS.some((s) => run.stderr.includes(s))) problems.push('secret shown');
        if (run.stderr.length > 1_200) problems.push(`${run.stderr.length} characters`);
        if (c.says && !c.says.test(run.stderr.trimEnd())) problems.push(`does not say ${c.says}`);
        if (connects.mock.calls.length > 0) problems.push('opened a connection');
        connects.mockClear();
        if (problems.length > 0)
          failures.push(`${c.name}: ${problems.join(', ')}: ${run.stderr.slice(0, 300)}`);
      }
    } finally {
      connects.mockRestore();
    }
    expect(failures).toEqual([]);
    expect(await fingerprint()).toEqual(before);
  });

  it('a few as real processes: the executable exits 2 with the same one line', async () => {
    const picked = all.filter((c) =>
      [
        'sample: a URL as a positional',
        'flag: maintain --task <url>',
        'event: event file not JSON',
        'maintain: contradictory thresholds',
      ].includes(c.name),
    );
    expect(picked).toHaveLength(4);
    const runs = await Promise.all(
      picked.map(async (c) => ({
        name: c.name,
        ...(await runCliProcess(c.args, { env: { DATABASE_URL: '', ...c.env } })),
      })),
    );
    for (const r of runs) {
      expect({ name: r.name, code: r.code, stdout: r.stdout }).toEqual({ name: r.name, code: 2, stdout: '' });
      expect(r.stderr).toMatch(/^dgm-db-ops: [^\n]*\n$/);
      expect(r.stderr).not.toContain(SECRET);
    }
    expect(await fingerprint()).toEqual(before);
  });
});
