import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localContext, localLambdaEnv, targetFromUrl, urlSecrets } from '../../bin/cli/invoke.ts';
import { ConstitutionMismatchError } from '../../functions/compliance/constitution.ts';
import { parseConfig } from '../../functions/config.ts';
import { DatabaseUnreachableError } from '../../functions/db/connection.ts';
import { BadInputError } from '../../functions/errors.ts';
import { createMigratorHandler } from '../../functions/handlers/migrator.ts';
import { MIGRATIONS } from '../../functions/sql/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';

let db: TestDatabase;
let env: Record<string, string>;
const ctx = (): Context => localContext('migrator', 300);

/** The event CloudFormation sends through the CDK Provider framework. */
function cfnEvent(
  requestType: 'Create' | 'Update' | 'Delete',
  physicalId?: string,
  hashes: { old?: string; new?: string } = {},
) {
  return {
    RequestType: requestType,
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:provider',
    ResponseURL: 'https://cloudformation-custom-resource-response.example/',
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/DgmDbOps/1',
    RequestId: 'req-1',
    LogicalResourceId: 'Schema',
    ResourceType: 'Custom::DgmSchema',
    ...(physicalId ? { PhysicalResourceId: physicalId } : {}),
    ResourceProperties: {
      ServiceToken: 'x',
      Target: 'main',
      MigrationsHash: 'abc',
      ConstitutionalHash: hashes.new,
    },
    ...(hashes.old
      ? {
          OldResourceProperties: {
            ServiceToken: 'x',
            Target: 'main',
            MigrationsHash: 'abc',
            ConstitutionalHash: hashes.old,
          },
        }
      : {}),
  };
}

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  env = localLambdaEnv(db.url, parseConfig({ target: 'main' }));
});
afterAll(async () => db?.drop());

/** Applied migrations, or -1 before the schema exists. */
async function migrationCount(): Promise<number> {
  const { rows } = await db.client.query<{ t: string | null }>(
    `SELECT to_regclass('dgm.schema_migrations')::text AS t`,
  );
  if (rows[0]?.t === null) return -1;
  const count = await db.client.query<{ n: number }>('SELECT count(*)::int AS n FROM dgm.schema_migrations');
  return count.rows[0]!.n;
}

describe('migrator handler: the schema custom resource', () => {
  it('Create installs the schema and returns a stable physical id with short attributes', async () => {
    expect(await migrationCount()).toBe(-1);
    const handler = createMigratorHandler({ secrets: urlSecrets(db.url), env, tls: 'disable' });
    const out = await handler(cfnEvent('Create'), ctx());
    expect(out).toEqual({
      PhysicalResourceId: 'dgm-schema-main',
      Data: {
        Applied: String(MIGRATIONS.length),
        AlreadyApplied: '0',
        Message: `applied ${MIGRATIONS.length} migration(s)`,
      },
    });
    expect(await migrationCount()).toBe(MIGRATIONS.length);
  });

  it('Update on an installed schema changes nothing and keeps the physical id', async () => {
    const handler = createMigratorHandler({ secrets: urlSecrets(db.url), env, tls: 'disable' });
    const out = await handler(cfnEvent('Update', 'dgm-schema-main'), ctx());
    expect(out).toMatchObject({
      PhysicalResourceId: 'dgm-schema-main',
      Data: { Applied: '0', Message: 'schema is up to date' },
    });
  });

  it('Delete keeps the schema and never touches the database', async () => {
    const secrets = urlSecrets(db.url);
    const handler = createMigratorHandler({ secrets, env, tls: 'disable' });
    const out = await handler(cfnEvent('Delete', 'dgm-schema-main'), ctx());
    expect(out).toEqual({ PhysicalResourceId: 'dgm-schema-main', Data: {} });
    expect(secrets.reads).toBe(0);
    expect(await migrationCount()).toBe(MIGRATIONS.length);
  });

  it('fails the deploy when the database holds another constitutional hash', async () => {
    const other = localLambdaEnv(
      db.url,
      parseConfig({ target: 'main', constitutionalHash: 'aaaaaaaaaaaaaaaa' }),
    );
    const handler = createMigratorHandler({ secrets: urlSecrets(db.url), env: other, tls: 'disable' });
    await expect(handler(cfnEvent('Update', 'dgm-schema-main'), ctx())).rejects.toBeInstanceOf(
      ConstitutionMismatchError,
    );
  });

  it('a deploy that changes the configured hash changes the constitution, audited, as a governance event', async () => {
    const DEFAULT = 'cdd01ef066bc6cf2';
    const NEXT = 'bbbbbbbbbbbbbbbb';
    const deployWith = (hash: string) =>
      createMigratorHandler({
        secrets: urlSecrets(db.url),
        env: localLambdaEnv(db.url, parseConfig({ target: 'main', constitutionalHash: hash })),
        tls: 'disable',
      });
    const stored = async () => (await db.client.query('SELECT hash FROM dgm.constitution')).rows[0].hash;

    const out = await deployWith(NEXT)(
      cfnEvent('Update', 'dgm-schema-main', { old: DEFAULT, new: NEXT }),
      ctx(),
    );
    expect(out).toMatchObject({ Data: { Applied: '0', Message: 'schema is up to date' } });
    expect(await stored()).toBe(NEXT);
    const { rows: events } = await db.client.query(
      `SELECT old_hash, new_hash, source, status FROM dgm.governance_events ORDER BY id DESC LIMIT 1`,
    );
    expect(events).toEqual([{ old_hash: DEFAULT, new_hash: NEXT, source: 'update', status: 'pending' }]);
    const { rows: audit } = await db.client.query(
      `SELECT job, status, constitutional_hash, details FROM dgm.optimization_audit
        WHERE action = 'constitution_change' ORDER BY id DESC LIMIT 1`,
    );
    expect(audit).toEqual([
      {
        job: 'migrate',
        status: 'succeeded',
        constitutional_hash: NEXT,
        details: { old_hash: DEFAULT, new_hash: NEXT, source: 'deploy' },
      },
    ]);

    // A deploy whose previous hash is not what the database holds does not touch it: the database was
    // changed outside the deployment, and migrate refuses.
    await expect(
      deployWith('cccccccccccccccc')(
        cfnEvent('Update', 'dgm-schema-main', { old: DEFAULT, new: 'cccccccccccccccc' }),
        ctx(),
      ),
    ).rejects.toBeInstanceOf(ConstitutionMismatchError);
    expect(await stored()).toBe(NEXT);

    // And back, so the rest of the file runs on the default hash.
    await deployWith(DEFAULT)(cfnEvent('Update', 'dgm-schema-main', { old: NEXT, new: DEFAULT }), ctx());
    expect(await stored()).toBe(DEFAULT);
  });

  it('retries an unreachable database on deploy, then fails with a one-line reason', async () => {
    const dead = `postgres://postgres:secret@127.0.0.1:1/nothing`;
    const secrets = urlSecrets(dead);
    const handler = createMigratorHandler({
      secrets,
      env: { DGM_TARGETS: JSON.stringify([{ ...targetFromUrl(dead, 'main') }]) },
      tls: 'disable',
      retryDelayMs: 10,
    });
    const err = await handler(cfnEvent('Create'), ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatabaseUnreachableError);
    expect((err as Error).message).toMatch(/^cannot connect to 127\.0\.0\.1:1\/nothing/);
    expect((err as Error).message).not.toContain('secret');
    expect(secrets.reads).toBe(3);
  });

  it('reads the secret again after an authentication failure (rotation), once', async (t) => {
    const u = new URL(db.url);
    // The Debian PostgreSQL 15 of the pg15 project trusts loopback logins: no password is ever rejected.
    if (!u.password) t.skip('the server under test uses trust authentication');
    u.password = 'wrong-password';
    const secrets = urlSecrets(u.toString());
    const handler = createMigratorHandler({ secrets, env, tls: 'disable', retryDelayMs: 10 });
    await expect(handler({ task: 'migrate' }, ctx())).rejects.toBeInstanceOf(DatabaseUnreachableError);
    expect(secrets.reads).toBe(2);
  });
});

describe('migrator handler: ad hoc invoke', () => {
  it('runs migrate with {"task":"migrate"} and returns the job result', async () => {
    const handler = createMigratorHandler({ secrets: urlSecrets(db.url), env, tls: 'disable' });
    const out = await handler({ task: 'migrate', dryRun: true }, ctx());
    expect(out).toMatchObject({
      job: 'migrate',
      status: 'planned',
      target: 'main',
      pending: [],
      alreadyApplied: MIGRATIONS.length,
      constitutional_compliance: { hash: 'cdd01ef066bc6cf2', validated: true },
    });
  });

  it.each([
    [{ task: 'sample' }, /^event: task must be one of migrate, got 'sample'$/],
    [{ task: 'migrate', target: 'nope' }, /^event: unknown target 'nope' \(one of main\)$/],
    [{ task: 'migrate', extra: 1 }, /^event: Unrecognized key: "extra"$/],
    [{ RequestType: 'Replace', ResourceProperties: {} }, /^custom resource event: RequestType: /],
  ])('rejects %j as bad input', async (event, message) => {
    const handler = createMigratorHandler({ secrets: urlSecrets(db.url), env, tls: 'disable' });
    const err = await handler(event, ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toMatch(message);
  });
});
