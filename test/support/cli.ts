import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../../bin/cli/main.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI in this process (bin/cli/main.ts runCli, what bin/dgm-db-ops.ts calls) with its output
 * captured: the same parsing, validation and exit codes as a spawned CLI, without a node start-up per
 * case. env replaces process.env for the run (DATABASE_URL unset unless given).
 */
export async function runCliInProcess(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: { PATH: process.env.PATH, ...env },
  });
  return { code, stdout, stderr };
}

/** The CLI's executable, as `npx dgm-db-ops` runs it. */
export const CLI_ENTRY = join(import.meta.dirname, '../../bin/dgm-db-ops.mjs');

export interface CliProcessRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcessOptions {
  /** Working directory (the CLI keeps its local alert state under it, .dgm-db-ops/alerts). */
  cwd?: string;
  /** Added to this process's environment; a value undefined removes the variable. */
  env?: Record<string, string | undefined>;
}

/** A CLI process started by startCliProcess: the child (to kill it) and its end. */
export interface CliProcess {
  child: ChildProcess;
  /** True once the process exited. */
  exited: boolean;
  /** What it wrote so far on stderr. */
  stderr(): string;
  /** Its stderr then stdout, as far as it got (for a failure message). */
  output(): string;
  done: Promise<CliProcessRun>;
}

/**
 * Starts bin/dgm-db-ops.mjs in a node process of its own with `args`: for what needs a real process
 * (a signal, a kill, the executable's own start-up and exit). Everything else can use runCliInProcess.
 */
export function startCliProcess(args: string[], options: CliProcessOptions = {}): CliProcess {
  const child = spawn(process.execPath, [CLI_ENTRY, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += String(d);
  });
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const run: CliProcess = {
    child,
    exited: false,
    stderr: () => stderr,
    output: () => `${stderr}\n${stdout}`.trim(),
    // 'close': the process exited and its output streams are drained.
    done: new Promise((resolve) =>
      child.on('close', (code, signal) => {
        run.exited = true;
        resolve({ code, signal, stdout, stderr });
      }),
    ),
  };
  return run;
}

/** Runs bin/dgm-db-ops.mjs in a process of its own to its end (see startCliProcess). */
export function runCliProcess(args: string[], options: CliProcessOptions = {}): Promise<CliProcessRun> {
  return startCliProcess(args, options).done;
}
