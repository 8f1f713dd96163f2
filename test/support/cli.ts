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
