import type { ParseArgsConfig } from 'node:util';
import type pg from 'pg';
import type { RuntimeConfig } from '../../functions/config.ts';
import type { Logger } from '../../functions/ports.ts';

/** Flags every command takes. */
export interface GlobalFlags {
  databaseUrl?: string;
  configPath?: string;
  json: boolean;
  dryRun: boolean;
}

export interface CommandContext {
  flags: GlobalFlags;
  config: RuntimeConfig;
  /** Progress and logs: stderr, never stdout. */
  logger: Logger;
  /** The command's own flags and positionals, as parsed from its options. */
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** The environment the CLI was started with (process.env, or a test's). */
  env: Record<string, string | undefined>;
  /**
   * Runs fn with a connected client: DATABASE_URL or --database-url, else an embedded PostgreSQL 18 with
   * the schema installed, stopped afterwards on every path.
   */
  withDatabase<T>(fn: (client: pg.Client, url: string) => Promise<T>): Promise<T>;
}

export interface Command {
  name: string;
  /** One line for --help. */
  summary: string;
  usage?: string;
  options?: NonNullable<ParseArgsConfig['options']>;
  /**
   * --help for each own flag (every option has one; test/unit/cli-help.test.ts checks): the value's
   * placeholder for string flags, and what the flag does.
   */
  flags?: Record<string, { value?: string; text: string }>;
  /** Command lines --help shows, at least one per command. */
  examples: string[];
  /** More --help text after the flags (e.g. invoke's event shapes). */
  helpDetails?(): string[];
  allowPositionals?: boolean;
  /**
   * Checks the command's own flags, files and events completely, before anything connects or changes
   * (BadInputError on bad input). run() may assume it passed.
   */
  validate?(input: CommandInput): void | Promise<void>;
  run(ctx: CommandContext): Promise<CommandOutput>;
}

/** What validate sees: everything parsed, nothing opened. */
export type CommandInput = Pick<CommandContext, 'flags' | 'config' | 'values' | 'positionals' | 'env'>;

export interface CommandOutput {
  /** The JSON document printed with --json. */
  result: unknown;
  /** The readable rendering printed without --json. */
  text?: string;
  /** Exit code; 0 unless the job failed. */
  exitCode?: number;
}

/** What the demo passes to each command's demo step (`demo<Name>(client, ctx)`). */
export interface DemoContext {
  config: RuntimeConfig;
  logger: Logger;
}
