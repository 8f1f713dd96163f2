import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type EmbeddedServer,
  startEmbeddedPostgres,
} from '../../functions/adapters/local/embedded-postgres.ts';
import { connect, DatabaseUnreachableError } from '../../functions/db/connection.ts';
import { runCliInProcess } from '../support/cli.ts';
import { tempDir } from '../support/tmp.ts';

// sslmode with libpq's meaning (issue 13), against a throwaway server of this file's own with ssl=on, a
// self-signed certificate made here with openssl (for host "localhost" only), and a pg_hba.conf where
// the role `sslonly` may log in over TLS only. The server under test (pg18/pg15) is not involved: its
// TLS settings are not ours to change. The file ends by shutting the server down (a smart shutdown
// with a session open) to see that a server going away is a failed run (exit 1), not bad input.

let server: EmbeddedServer;
const dir = tempDir('dgm-tls-test');
const cert = join(dir, 'server.crt');
let base: URL;

function url(user: string, host: string, params: string): string {
  const u = new URL(base);
  u.hostname = host;
  u.username = user;
  if (user !== 'postgres') u.password = '';
  u.search = params;
  return u.toString();
}

async function tlsOf(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ ssl: boolean }>(
    'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
  );
  return rows[0]!.ssl;
}

async function sessionTls(connectUrl: string): Promise<boolean> {
  const client = await connect({ url: connectUrl });
  try {
    return await tlsOf(client);
  } finally {
    await client.end();
  }
}

async function refusal(connectUrl: string): Promise<DatabaseUnreachableError> {
  const err = await connect({ url: connectUrl }).then(
    async (c) => {
      await c.end();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DatabaseUnreachableError);
  return err as DatabaseUnreachableError;
}

beforeAll(async () => {
  chmodSync(dir, 0o755);
  const key = join(dir, 'server.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  chmodSync(key, 0o600);
  chmodSync(cert, 0o644);
  // As root the embedded server runs as user postgres, which must own its key.
  if (userInfo().uid === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(key, uid, gid);
  }
  const hba = join(dir, 'pg_hba.conf');
  writeFileSync(
    hba,
    [
      'local all all trust',
      'hostssl all sslonly 127.0.0.1/32 trust',
      'hostssl all sslonly ::1/128 trust',
      'host all postgres 127.0.0.1/32 scram-sha-256',
      'host all postgres ::1/128 scram-sha-256',
      '',
    ].join('\n'),
  );
  chmodSync(hba, 0o644);
  server = await startEmbeddedPostgres({
    settings: {
      ssl: 'on',
      ssl_cert_file: cert,
      ssl_key_file: key,
      hba_file: hba,
      listen_addresses: 'localhost',
    },
  });
  base = new URL(server.url);
  const admin = await connect({ url: server.url });
  await admin.query('CREATE ROLE sslonly LOGIN');
  await admin.end();
});

afterAll(async () => {
  await server?.stop().catch(() => {});
});

describe('sslmode as libpq means it', () => {
  it('prefer (libpq default) negotiates TLS with a server that offers it', async () => {
    expect(await sessionTls(url('postgres', '127.0.0.1', '?sslmode=prefer'))).toBe(true);
  });

  it('prefer falls back to plain with a server that offers no TLS', async () => {
    // The server under test runs without TLS.
    const plainUrl = new URL(inject('serverUrl'));
    plainUrl.search = '?sslmode=prefer';
    expect(await sessionTls(plainUrl.toString())).toBe(false);
  });

  it('disable is plain; require is TLS without checking the certificate', async () => {
    expect(await sessionTls(url('postgres', '127.0.0.1', '?sslmode=disable'))).toBe(false);
    expect(await sessionTls(url('postgres', '127.0.0.1', '?sslmode=require'))).toBe(true);
  });

  it('allow is plain first, TLS when the server refuses plain', async () => {
    expect(await sessionTls(url('postgres', '127.0.0.1', '?sslmode=allow'))).toBe(false);
    expect(await sessionTls(url('sslonly', '127.0.0.1', '?sslmode=allow'))).toBe(true);
    const refused = await refusal(url('sslonly', '127.0.0.1', '?sslmode=disable'));
    expect(refused.message).toMatch(/no pg_hba\.conf entry|no encryption/);
    expect(refused.isWrongTarget).toBe(true);
  });

  it('verify-ca checks the chain (sslrootcert), not the host name', async () => {
    const untrusted = await refusal(url('postgres', '127.0.0.1', '?sslmode=verify-ca'));
    expect(untrusted.message).toMatch(/self[- ]signed/i);
    expect(untrusted.isWrongTarget).toBe(true);
    expect(
      await sessionTls(
        url('postgres', '127.0.0.1', `?sslmode=verify-ca&sslrootcert=${encodeURIComponent(cert)}`),
      ),
    ).toBe(true);
  });

  it('verify-full checks the host name as well', async () => {
    const rootcert = `sslrootcert=${encodeURIComponent(cert)}`;
    const wrongName = await refusal(url('postgres', '127.0.0.1', `?sslmode=verify-full&${rootcert}`));
    expect(wrongName.message).toMatch(/altnames|does not match/i);
    expect(await sessionTls(url('postgres', 'localhost', `?sslmode=verify-full&${rootcert}`))).toBe(true);
  });

  it('the CLI refuses an unknown sslmode and an unreadable sslrootcert as bad input', async () => {
    const bogus = await runCliInProcess([
      'migrate',
      '--database-url',
      url('postgres', '127.0.0.1', '?sslmode=bogus'),
    ]);
    expect(bogus).toMatchObject({ code: 2, stdout: '' });
    expect(bogus.stderr).toMatch(
      /^dgm-db-ops: --database-url: sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full, got bogus\n$/,
    );
    const missing = await runCliInProcess([
      'migrate',
      '--database-url',
      url(
        'postgres',
        '127.0.0.1',
        `?sslmode=verify-full&sslrootcert=${encodeURIComponent(join(dir, 'none.crt'))}`,
      ),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read sslrootcert/);
    expect(missing.stderr).not.toContain('dgm-local');
  });
});

describe('a server that is going away', () => {
  it('is a failed run (exit 1), not bad input', async () => {
    const held = await connect({ url: server.url });
    // Smart shutdown (SIGTERM to the postmaster): the open session keeps the server up, new
    // connections are refused with 57P03 "the database system is shutting down".
    const pid = Number(readFileSync(join(server.dataDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGTERM');
    for (;;) {
      const outcome: unknown = await connect({ url: server.url }).then(
        (c) => c.end(),
        (e: unknown) => e,
      );
      const cause = outcome instanceof DatabaseUnreachableError ? outcome.causeError : undefined;
      if ((cause as { code?: string } | undefined)?.code === '57P03') break;
    }
    const run = await runCliInProcess(['migrate', '--database-url', server.url]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^dgm-db-ops: cannot connect to 127\.0\.0\.1:\d+\/postgres: the database system is shutting down\n$/,
    );
    expect(run.stderr).not.toContain('dgm-local');
    await held.end();
  });
});
