import { execFileSync, spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '../../functions/adapters/local/embedded-postgres.ts';

/**
 * A throwaway PostgreSQL cluster that a test may crash and restart (never the shared test server):
 * initdb into a temporary folder, removed by destroy(). PostgreSQL 18 from the embedded-postgres
 * package, or 15 from /usr/lib/postgresql/15/bin when DGM_TEST_SERVER is pg15. As root (CI), the
 * server runs as the user postgres, as .ci/run and embedded-postgres do.
 */
export interface ThrowawayCluster {
  url(database?: string): string;
  port: number;
  label: string;
  /** Stops the server without a shutdown checkpoint (as a crash would) and starts it again. */
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

async function binDir(): Promise<{ dir: string; label: string }> {
  if (process.env.DGM_TEST_SERVER === 'pg15') return { dir: '/usr/lib/postgresql/15/bin', label: 'pg15' };
  // The platform package embedded-postgres itself loads: it exports the paths of its binaries.
  const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as {
    pg_ctl: string;
  };
  return { dir: dirname(binaries.pg_ctl), label: 'pg18' };
}

/** The port of the throwaway cluster: DGM_TEST_CLUSTER_PORT when set, else a free one. */
async function clusterPort(): Promise<number> {
  const fixed = process.env.DGM_TEST_CLUSTER_PORT;
  return fixed ? Number(fixed) : freePort();
}

/** uid/gid of the user postgres when running as root, else undefined (run as ourselves). */
function runAs(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

function run(bin: string, args: string[], user: ReturnType<typeof runAs>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(user ?? {}) });
    let err = '';
    child.stderr.on('data', (d) => {
      err += String(d);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${bin} exited ${code}: ${err.trim().slice(0, 500)}`)),
    );
  });
}

export async function startThrowawayCluster(
  settings: Record<string, string> = {},
): Promise<ThrowawayCluster> {
  const { dir, label } = await binDir();
  const user = runAs();
  const base = await mkdtemp(join(tmpdir(), 'dgm-faults-'));
  await chmod(base, 0o755);
  if (user) await chown(base, user.uid, user.gid);
  const data = join(base, 'data');
  const port = await clusterPort();
  const options = {
    port: String(port),
    unix_socket_directories: base,
    listen_addresses: '127.0.0.1',
    shared_preload_libraries: 'pg_stat_statements',
    'pg_stat_statements.track': 'all',
    // A crash must not lose what was committed (the tests check what an interruption left): commits
    // wait for their WAL write; fsync off is enough, as the machine itself does not crash.
    fsync: 'off',
    synchronous_commit: 'on',
    full_page_writes: 'off',
    max_connections: '50',
    ...settings,
  };
  const ctl = join(dir, 'pg_ctl');
  const start = () =>
    run(
      ctl,
      [
        '-D',
        data,
        '-w',
        '-t',
        '120',
        '-l',
        join(base, 'log'),
        '-o',
        Object.entries(options)
          .map(([k, v]) => `-c ${k}=${v}`)
          .join(' '),
        'start',
      ],
      user,
    );
  const stop = (mode: 'immediate' | 'fast') => run(ctl, ['-D', data, '-m', mode, '-w', 'stop'], user);
  try {
    await run(
      join(dir, 'initdb'),
      ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8', '-N'],
      user,
    );
    await start();
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    throw err;
  }
  let destroyed = false;
  return {
    port,
    label,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async restart() {
      await stop('immediate');
      await start();
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await stop('immediate').catch(() => {});
      await rm(base, { recursive: true, force: true });
    },
  };
}
