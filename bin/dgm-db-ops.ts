import { type ParseArgsConfig, parseArgs } from 'node:util';
import { embeddedInterruptSignal } from '../functions/adapters/local/embedded-postgres.ts';
import { loadConfigFile, parseConfig } from '../functions/config.ts';
import { BadInputError, errorMessage, JobFailedError } from '../functions/errors.ts';
import { COMMANDS } from './cli/commands.ts';
import { stderrLogger, withDatabase } from './cli/context.ts';
import { commandHelp, mainHelp, packageVersion } from './cli/help.ts';
import type { CommandContext, GlobalFlags } from './cli/types.ts';

const GLOBAL_OPTIONS = {
  'database-url': { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

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

async function main(argv: string[]): Promise<number> {
  const name = argv[0];
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${mainHelp(COMMANDS)}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`dgm-db-ops ${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new BadInputError(`unknown command '${name}' (try --help)`);
  const options = { ...GLOBAL_OPTIONS, ...(command.options ?? {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: negativeValuesJoined(argv.slice(1), options),
      options,
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    });
  } catch (err) {
    throw new BadInputError(`${name}: ${errorMessage(err)}`);
  }
  const v = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (v.help) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return 0;
  }
  const flags: GlobalFlags = {
    databaseUrl: (v['database-url'] as string | undefined) ?? (process.env.DATABASE_URL || undefined),
    configPath: v.config as string | undefined,
    json: Boolean(v.json),
    dryRun: Boolean(v['dry-run']),
  };
  const config = flags.configPath ? loadConfigFile(flags.configPath) : parseConfig({});
  const ctx: CommandContext = {
    flags,
    config,
    logger: stderrLogger,
    values: v,
    positionals: parsed.positionals,
    withDatabase: (fn) => withDatabase(flags.databaseUrl, config, stderrLogger, fn),
  };
  const output = await command.run(ctx);
  if (flags.json) process.stdout.write(`${JSON.stringify(output.result, null, 2)}\n`);
  else process.stdout.write(`${output.text ?? JSON.stringify(output.result, null, 2)}\n`);
  return output.exitCode ?? 0;
}

// process.exit, not process.exitCode: embedded-postgres's exit hook ends the process with 0 on
// beforeExit, which would hide a failure. Writes to stdout/stderr are synchronous for files and pipes.
let exitCode = 0;
try {
  exitCode = await main(process.argv.slice(2));
} catch (err) {
  const signal = embeddedInterruptSignal();
  if (signal) {
    process.stderr.write(`dgm-db-ops: interrupted (${signal}); the embedded PostgreSQL was stopped\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  }
  const json = process.argv.includes('--json');
  const code = err instanceof BadInputError ? 2 : 1;
  if (json && err instanceof JobFailedError && err.result !== undefined) {
    process.stdout.write(`${JSON.stringify(err.result, null, 2)}\n`);
  }
  process.stderr.write(`dgm-db-ops: ${errorMessage(err)}\n`);
  if (process.env.DGM_DEBUG) console.error(err);
  exitCode = code;
}
process.exit(exitCode);
