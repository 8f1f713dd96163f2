import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AlertStateStore, StoredAlertState } from '../../ports.ts';

/**
 * The CLI's AlertStateStore: one JSON file per record under a directory (the CLI uses .dgm-db-ops/).
 * Compare-and-set holds a lock file (created exclusively) while it compares the version and renames a
 * new file into place, so two CLI processes sampling at once behave as two Lambdas on DynamoDB do.
 */

interface FileRecord {
  version: number;
  expiresAt?: number;
  data: Record<string, unknown>;
}

const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 10_000;

export class FileAlertStateStore implements AlertStateStore {
  readonly dir: string;
  private readonly now: () => number;
  /**
   * Whose state this is (the CLI passes the database's identity, host:port/database), so one directory
   * holds the state of several databases that share a target name without mixing them.
   */
  readonly scope: string | undefined;

  constructor(dir: string, now: () => number = Date.now, scope?: string) {
    this.dir = dir;
    this.now = now;
    this.scope = scope;
  }

  /** The file a key is stored in. */
  fileFor(key: string): string {
    const scoped = this.scope === undefined ? key : `${key}@${this.scope}`;
    return join(this.dir, `${encodeURIComponent(scoped)}.json`);
  }

  private async read(key: string): Promise<FileRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.fileFor(key), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return JSON.parse(text) as FileRecord;
  }

  async get(key: string): Promise<StoredAlertState | undefined> {
    const rec = await this.read(key);
    if (!rec) return undefined;
    // Expired records read as empty, but keep their version so the next write still compares.
    if (rec.expiresAt !== undefined && rec.expiresAt * 1000 < this.now())
      return { key, version: rec.version, data: {} };
    return { key, version: rec.version, data: rec.data };
  }

  async compareAndSet(
    key: string,
    expectedVersion: number,
    data: Record<string, unknown>,
    ttlSeconds?: number,
  ): Promise<boolean> {
    await mkdir(this.dir, { recursive: true });
    const file = this.fileFor(key);
    const release = await this.lock(`${file}.lock`);
    try {
      const current = (await this.read(key))?.version ?? 0;
      if (current !== expectedVersion) return false;
      const rec: FileRecord = {
        version: expectedVersion + 1,
        ...(ttlSeconds ? { expiresAt: Math.floor(this.now() / 1000) + ttlSeconds } : {}),
        data,
      };
      const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, file);
      return true;
    } finally {
      await release();
    }
  }

  private async lock(path: string): Promise<() => Promise<void>> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(path, 'wx');
        await handle.close();
        return () => unlink(path).catch(() => {});
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // A lock left by a killed process would block every later run.
        const info = await stat(path).catch(() => undefined);
        if (info && Date.now() - info.mtimeMs > LOCK_STALE_MS) {
          await unlink(path).catch(() => {});
          continue;
        }
        if (Date.now() - started > LOCK_WAIT_MS) throw new Error(`alert state file is locked: ${path}`);
        await new Promise((r) => setTimeout(r, Math.min(100, 2 + attempt * 3) * Math.random() + 1));
      }
    }
  }
}
