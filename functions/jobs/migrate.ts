import { createHash } from 'node:crypto';
import type pg from 'pg';
import { AuditTrail } from '../compliance/audit.ts';
import { ConstitutionMismatchError, complianceOf, mismatchMessage } from '../compliance/constitution.ts';
import { adoptDeployedConstitution } from '../compliance/deployed-constitution.ts';
import type { RuntimeConfig } from '../config.ts';
import { inTransaction } from '../db/connection.ts';
import { quoteIdent } from '../db/identifiers.ts';
import { ADVISORY_LOCKS } from '../db/locks.ts';
import { JobFailedError } from '../errors.ts';
import { ownComment } from '../monitor/own-statements.ts';
import type { Logger } from '../ports.ts';
import { MIGRATIONS, type Migration } from '../sql/migrations/index.ts';
import { elapsedMs, type JobResult } from './result.ts';

export interface MigrateResult extends JobResult {
  job: 'migrate';
  applied: Array<{ version: number; name: string; durationMs: number }>;
  pending: string[];
  alreadyApplied: number;
  extensions: Record<string, 'installed' | 'created' | 'unavailable' | 'not permitted'>;
}

const checksum = (m: Migration) => createHash('sha256').update(m.sql).digest('hex');

const BOOKKEEPING = `
CREATE SCHEMA IF NOT EXISTS dgm;
CREATE TABLE IF NOT EXISTS dgm.schema_migrations (
  version int PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  applied_by text NOT NULL DEFAULT current_user
)`;

/**
 * Installs or upgrades the DGM schema: pending migrations in one transaction under an advisory lock,
 * each recorded in dgm.schema_migrations. Running it again changes nothing. On an installed schema the
 * constitutional hash must match (a mutating job); a fresh install stores the configured hash.
 */
export async function migrate(
  client: pg.Client,
  config: RuntimeConfig,
  options: { dryRun?: boolean; logger?: Logger } = {},
): Promise<MigrateResult> {
  const started = performance.now();
  const hash = config.constitutionalHash;
  const extensions: MigrateResult['extensions'] = {};
  let result: Awaited<ReturnType<typeof applyPending>>;
  try {
    result = await applyPending(client, hash, options);
  } catch (err) {
    // The refusal is audited after the rollback, so the audit row is the only change.
    if (err instanceof ConstitutionMismatchError) {
      await new AuditTrail(client, 'migrate', hash)
        .record({
          action: 'constitution_check',
          target: 'dgm.constitution',
          status: 'refused',
          error: err.message,
        })
        .catch(() => {});
    }
    throw err;
  }
  if (!options.dryRun) {
    for (const ext of ['pg_stat_statements']) extensions[ext] = await ensureExtension(client, ext);
    await recordSqlSettings(client, config);
  }
  const { rows } = await client.query<{ score: number | null }>(
    options.dryRun
      ? 'SELECT NULL::float8 AS score'
      : `SELECT ${ownComment('migrate')} avg(constitutional_compliance_score) AS score FROM dgm.dgm_archive WHERE created_at > now() - interval '30 days'`,
  );
  return {
    job: 'migrate',
    status: options.dryRun ? 'planned' : 'succeeded',
    target: config.target,
    durationMs: elapsedMs(started),
    constitutional_compliance: complianceOf(hash, { storedHash: hash, archiveScore: rows[0]?.score ?? null }),
    message: options.dryRun
      ? `${result.pending.length} migration(s) pending`
      : result.applied.length === 0
        ? 'schema is up to date'
        : `applied ${result.applied.length} migration(s)`,
    ...result,
    extensions,
  };
}

/** Applies the pending migrations in one transaction under the migrate advisory lock. */
async function applyPending(client: pg.Client, hash: string, options: { dryRun?: boolean; logger?: Logger }) {
  return inTransaction(client, async () => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.migrate]);
    const { rows: state } = await client.query<{ installed: boolean; has_constitution: boolean }>(
      `SELECT to_regclass('dgm.schema_migrations') IS NOT NULL AS installed,
              to_regclass('dgm.constitution') IS NOT NULL AS has_constitution`,
    );
    let storedHash: string | null = null;
    if (state[0]?.has_constitution) {
      storedHash =
        (await client.query<{ hash: string }>('SELECT hash FROM dgm.constitution')).rows[0]?.hash ?? null;
    }
    const freshInstall = storedHash === null;
    if (!freshInstall && storedHash !== hash) {
      throw new ConstitutionMismatchError(mismatchMessage(hash, storedHash), {
        status: 'refused',
        constitutional_compliance: complianceOf(hash, { storedHash, archiveScore: null }),
      });
    }
    if (options.dryRun) {
      const applied = state[0]?.installed
        ? new Set(
            (await client.query<{ version: number }>('SELECT version FROM dgm.schema_migrations')).rows.map(
              (r) => r.version,
            ),
          )
        : new Set<number>();
      return {
        applied: [],
        pending: MIGRATIONS.filter((m) => !applied.has(m.version)).map((m) => m.name),
        alreadyApplied: applied.size,
      };
    }
    await client.query(BOOKKEEPING);
    const { rows: done } = await client.query<{ version: number; name: string; checksum: string }>(
      'SELECT version, name, checksum FROM dgm.schema_migrations ORDER BY version',
    );
    const byVersion = new Map(done.map((r) => [r.version, r]));
    for (const m of MIGRATIONS) {
      const prior = byVersion.get(m.version);
      if (prior && prior.checksum !== checksum(m)) {
        throw new JobFailedError(
          `migration ${m.name} was changed after it was applied (checksum differs); add a new migration instead`,
        );
      }
    }
    const applied: MigrateResult['applied'] = [];
    for (const m of MIGRATIONS.filter((x) => !byVersion.has(x.version))) {
      const t0 = performance.now();
      options.logger?.info(`applying migration ${m.name}`);
      await client.query(m.sql);
      await client.query('INSERT INTO dgm.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        checksum(m),
      ]);
      applied.push({ version: m.version, name: m.name, durationMs: elapsedMs(t0) });
    }
    if (freshInstall) {
      await client.query(
        'UPDATE dgm.constitution SET hash = $1, updated_at = now(), updated_by = current_user',
        [hash],
      );
    }
    const audit = new AuditTrail(client, 'migrate', hash);
    for (const a of applied) {
      await audit.record({
        action: 'apply_migration',
        target: a.name,
        status: 'succeeded',
        durationMs: a.durationMs,
      });
    }
    return { applied, pending: [] as string[], alreadyApplied: byVersion.size };
  });
}

/**
 * The config's settings the SQL API reads (dgm.settings, migration 011): the slow-query threshold of
 * dgm.slow_queries. Written only when it changed.
 */
async function recordSqlSettings(client: pg.Client, config: RuntimeConfig): Promise<void> {
  await client.query(
    `INSERT ${ownComment('migrate')} INTO dgm.settings AS s (name, value) VALUES ('slow_query_threshold_ms', $1)
     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = current_user
     WHERE s.value IS DISTINCT FROM EXCLUDED.value`,
    [String(config.slowQueryThresholdMs)],
  );
}

/** Creates an extension the server offers; never fails the run (a missing one is reported). */
async function ensureExtension(
  client: pg.Client,
  name: string,
): Promise<MigrateResult['extensions'][string]> {
  const { rows } = await client.query<{ installed: boolean; available: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1) AS installed,
            EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1) AS available`,
    [name],
  );
  if (rows[0]?.installed) return 'installed';
  if (!rows[0]?.available) return 'unavailable';
  try {
    await client.query(`CREATE EXTENSION IF NOT EXISTS ${quoteIdent(name)}`);
    return 'created';
  } catch {
    return 'not permitted';
  }
}

/**
 * The migrator's run for a deploy: when the deploy changed the configured constitutional hash (the
 * previous deploy's hash is given), the database adopts it first (compliance/deployed-constitution.ts);
 * then the schema migration.
 */
export async function migrateDeployment(
  client: pg.Client,
  config: RuntimeConfig,
  options: { dryRun?: boolean; logger?: Logger; previousHash?: string } = {},
): Promise<MigrateResult> {
  if (options.previousHash && options.previousHash !== config.constitutionalHash) {
    const change = await adoptDeployedConstitution(client, options.previousHash, config.constitutionalHash);
    options.logger?.info(`constitution: ${change}`, { target: config.target });
  }
  return migrate(client, config, { dryRun: options.dryRun, logger: options.logger });
}

/** The figures of a migrate run's log line. */
export function migrateLogFields(result: Record<string, unknown>): Record<string, unknown> {
  const r = result as Partial<MigrateResult>;
  return { applied: r.applied?.map((a) => a.name), status: r.status };
}
