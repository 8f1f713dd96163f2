import { type ParseArgsConfig, parseArgs } from 'node:util';
import { embeddedInterruptSignal } from '../../functions/adapters/local/embedded-postgres.ts';
import { validateAlertRules } from '../../functions/alerting/rules.ts';
import { loadConfigFile, parseConfig, type RuntimeConfig } from '../../functions/config.ts';
import { parseDatabaseUrl } from '../../functions/db/connection.ts';
import { BadInputError, errorMessage, JobFailedError } from '../../functions/errors.ts';
import { terminal } from '../../functions/format/escape.ts';
import { showValue } from '../../functions/format/redact.ts';
import { COMMANDS } from './commands.ts';
import { stderrLoggerFor, withDatabase } from './context.ts';
import { commandHelp, mainHelp, packageVersion } from './help.ts';
import type { Command, CommandContext, GlobalFlags } from './types.ts';

const GLOBAL_OPTIONS = {
  'database-url': { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** Where the CLI writes and what it reads from the environment (process streams, or a test's buffers). */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
}

export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
};

/**
 * `--scale -1` as `--scale=-1`: parseArgs takes a value that starts with '-' for an option and answers
 * "argument is ambiguous"; joined, the value reaches the command, which answers in its own words.
 */
function negativeValuesJoined(args: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (
      a.startsWith('--') &&
      options[a.slice(2)]?.type === 'string' &&
      next !== undefined &&
      /^-\d|^-\.\d/.test(next)
    ) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * Parses a command's flags strictly: unknown flags, positionals the command does not take, a
 * single-value flag given twice (which one was meant?) and an empty value are bad input.
 */
function parseFlags(command: Command, args: string[]) {
  const options = { ...GLOBAL_OPTIONS, ...(command.options ?? {}) };
  let parsed: {
    values: Record<string, string | boolean | Array<string | boolean> | undefined>;
    positionals: string[];
    tokens: Array<{ kind: string; name?: string; value?: string }>;
  };
  try {
    parsed = parseArgs({
      args: negativeValuesJoined(args, options),
      options,
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
      tokens: true,
    });
  } catch (err) {
    throw new BadInputError(`${command.name}: ${errorMessage(err)}`);
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || token.name === undefined) continue;
    const option = (options as NonNullable<ParseArgsConfig['options']>)[token.name];
    if (option?.type === 'string' && !option.multiple) {
      if (seen.has(token.name)) {
        throw new BadInputError(`${command.name}: --${token.name} is given more than once; give it once`);
      }
      seen.add(token.name);
    }
    if (option?.type === 'string' && token.value !== undefined && token.value.trim() === '') {
      throw new BadInputError(`${command.name}: --${token.name} is empty`);
    }
  }
  return parsed;
}

/** The flags, URL and config, all checked before anything connects or changes. */
function prepare(values: Record<string, string | boolean | string[] | undefined>, env: CliIo['env']) {
  const urlFlag = values['database-url'] as string | undefined;
  const flags: GlobalFlags = {
    // An explicit --database-url wins; an empty DATABASE_URL counts as unset (an empty flag was refused).
    databaseUrl: urlFlag ?? (env.DATABASE_URL || undefined),
    configPath: values.config as string | undefined,
    json: Boolean(values.json),
    dryRun: Boolean(values['dry-run']),
  };
  if (flags.databaseUrl !== undefined) {
    try {
      parseDatabaseUrl(flags.databaseUrl);
    } catch (err) {
      if (urlFlag === undefined && err instanceof BadInputError) {
        throw new BadInputError(`DATABASE_URL: ${err.message.replace(/^--database-url:? ?/, '')}`);
      }
      throw err;
    }
  }
  const config: RuntimeConfig =
    flags.configPath !== undefined ? loadConfigFile(flags.configPath) : parseConfig({});
  // Cross-field rules (alert thresholds against each other and the rule defaults), before any effect.
  validateAlertRules(config);
  return { flags, config };
}

/**
 * The CLI: parses and checks everything (flags, URL, config, then the command's own validate), and only
 * then runs the command. Returns the exit code: 0 ok, 1 failed job, 2 bad input (one line on stderr).
 */
export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  try {
    return await runCommand(argv, io);
  } catch (err) {
    const signal = embeddedInterruptSignal();
    if (signal) {
      io.stderr(`dgm-db-ops: interrupted (${signal}); the embedded PostgreSQL was stopped\n`);
      return signal === 'SIGINT' ? 130 : 143;
    }
    const json = argv.includes('--json');
    if (json && err instanceof JobFailedError && err.result !== undefined) {
      io.stdout(`${JSON.stringify(err.result, null, 2)}\n`);
    }
    io.stderr(`dgm-db-ops: ${errorMessage(err)}\n`);
    if (io.env.DGM_DEBUG) console.error(err);
    return err instanceof BadInputError ? 2 : 1;
  }
}

async function runCommand(argv: string[], io: CliIo): Promise<number> {
  const name = argv[0];
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(`${mainHelp(COMMANDS)}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    io.stdout(`dgm-db-ops ${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new BadInputError(`unknown command '${showValue(name, 40)}' (try --help)`);
  const parsed = parseFlags(command, argv.slice(1));
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.help) {
    io.stdout(`${commandHelp(command)}\n`);
    return 0;
  }
  const { flags, config } = prepare(values, io.env);
  await command.validate?.({ flags, config, values, positionals: parsed.positionals, env: io.env });
  const logger = stderrLoggerFor(io);
  const ctx: CommandContext = {
    flags,
    config,
    logger,
    values,
    positionals: parsed.positionals,
    env: io.env,
    withDatabase: (fn) => withDatabase(flags.databaseUrl, config, logger, fn),
  };
  const output = await command.run(ctx);
  if (flags.json) io.stdout(`${JSON.stringify(output.result, null, 2)}\n`);
  // Names and statements from the database reach the terminal: control characters (ANSI escapes) shown.
  else io.stdout(`${terminal(output.text ?? JSON.stringify(output.result, null, 2))}\n`);
  return output.exitCode ?? 0;
}
