import type pg from 'pg';
import { z } from 'zod';
import type { MaintenanceConfig } from '../config.ts';
import { quoteIdent, quoteQualified } from '../db/identifiers.ts';
import type { MaintenanceAction, Statement } from './plan.ts';
import freezeSql from './sql/freeze-candidates.sql';
import highWriteSql from './sql/high-write-tables.sql';
import leavesSql from './sql/vacuum-leaves.sql';
import { tableKey } from './statistics.ts';
import { type MaintenanceTaskDefinition, problemAction } from './task.ts';

/**
 * Vacuum: per-table autovacuum settings (partitioned parents take none, so they go on every leaf), and
 * the wraparound guard: a time-boxed VACUUM (FREEZE) of the tables with the oldest transaction IDs first.
 *
 * Which tables get which settings, lowest precedence first:
 * - measured: a table in the schemas looked after whose rows were updated or deleted at least
 *   highWriteChurnRatio times its row count since the statistics reset (pg_stat_user_tables, summed over
 *   a partitioned table's leaves), with at least highWriteMinRows rows, gets highWriteAutovacuum;
 * - a registered partition set's storage_parameters (dgm.partition_config);
 * - config.autovacuum's entry for the table, which replaces the measured choice entirely (an empty
 *   entry opts a table out of it) and is also stored in dgm.partition_config for new partitions.
 */

export type StorageValue = number | boolean | string;

export interface SettingsTarget {
  /** The name as configured (config key or dgm.partition_config.parent_table). */
  key: string;
  /** Set for partition sets: their storage_parameters, applied to new partitions. */
  partitionConfig?: { parentTable: string; storageParameters: Record<string, StorageValue> };
  /** The configured settings (config.autovacuum), if any. */
  configured?: Record<string, number | boolean>;
  /** Set when the table's measured write churn makes it a high-write table (and it has no config entry). */
  highWrite?: HighWriteFigure;
  exists: boolean;
  leaves: Array<{ schema: string; name: string; reloptions: string[] }>;
}

/** The measurement behind a high-write decision. */
export interface HighWriteFigure {
  /** Rows updated or deleted since the statistics reset (all leaves of a partitioned table). */
  churn: number;
  /** Its rows (reltuples; the live-tuple count for a table never vacuumed or analyzed). */
  rows: number;
  /** When the database's statistics were last reset; null: never since the cluster began. */
  since: string | null;
  settings: Record<string, StorageValue>;
}

/** A table's measured write churn (high-write-tables.sql). */
export interface HighWriteRow {
  schema_name: string;
  table_name: string;
  churn: number;
  row_count: number;
  stats_reset: Date | string | null;
}

/** Whether a measured table is a high-write table: churn at least ratio × its rows (ratio 0: never). */
export function isHighWrite(
  row: { churn: number; row_count: number },
  ratio: number,
  minRows: number,
): boolean {
  return ratio > 0 && row.row_count >= minRows && row.row_count > 0 && row.churn >= ratio * row.row_count;
}

function describeHighWrite(f: HighWriteFigure): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  return `high write rate: ${n(f.churn)} rows updated or deleted ${
    f.since ? `since the statistics reset of ${f.since}` : 'since the statistics began'
  }, ${(f.churn / f.rows).toFixed(2)}x its ${n(f.rows)} rows`;
}

export interface FreezeCandidate {
  schema_name: string;
  table_name: string;
  xid_age: string | number;
  bytes: string | number;
}

export interface VacuumFacts {
  targets: SettingsTarget[];
  freeze: FreezeCandidate[];
  databaseXidAge: number;
  freezeMaxAge: number;
}

/** reloptions ('name=value') as a map. */
export function parseReloptions(options: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of options) {
    const i = o.indexOf('=');
    if (i > 0) out[o.slice(0, i)] = o.slice(i + 1);
  }
  return out;
}

const TRUE = new Set(['true', 'on', 'yes', '1', 't']);
const FALSE = new Set(['false', 'off', 'no', '0', 'f']);

/** Whether a stored reloption value equals a wanted one (numbers by value, booleans in any spelling). */
export function sameSetting(stored: string | undefined, wanted: StorageValue): boolean {
  if (stored === undefined) return false;
  if (typeof wanted === 'boolean')
    return wanted ? TRUE.has(stored.toLowerCase()) : FALSE.has(stored.toLowerCase());
  if (typeof wanted === 'number') return Number(stored) === wanted;
  const n = Number(wanted);
  if (wanted.trim() !== '' && !Number.isNaN(n)) return Number(stored) === n;
  const s = wanted.toLowerCase();
  if (TRUE.has(s)) return TRUE.has(stored.toLowerCase());
  if (FALSE.has(s)) return FALSE.has(stored.toLowerCase());
  return stored === wanted;
}

const PARAM = /^(toast\.)?([a-z][a-z0-9_]{0,62})$/;

/** `name = value` for ALTER TABLE ... SET (...); the name was validated, the value is a number or boolean. */
export function renderSetting(name: string, value: StorageValue): string {
  const m = PARAM.exec(name);
  if (!m) throw new Error(`not a storage parameter name: ${name}`);
  const rendered =
    typeof value === 'number'
      ? Number.isFinite(value)
        ? String(value)
        : (() => {
            throw new Error(`${name}: not a finite number`);
          })()
      : typeof value === 'boolean'
        ? String(value)
        : `'${value.replaceAll("'", "''")}'`;
  return `${m[1] ? 'toast.' : ''}${quoteIdent(m[2]!)} = ${rendered}`;
}

/** Plans the vacuum task from the facts; pure. */
export function planVacuum(
  facts: VacuumFacts,
  config: Pick<MaintenanceConfig, 'freezeAgeThreshold'>,
): { actions: MaintenanceAction[]; problems: string[] } {
  const actions: MaintenanceAction[] = [];
  const problems: string[] = [];
  for (const t of facts.targets) {
    if (!t.exists) {
      if (t.configured) problems.push(`autovacuum: table ${t.key} does not exist`);
      continue;
    }
    const wanted: Record<string, StorageValue> = {
      ...(t.configured ? {} : (t.highWrite?.settings ?? {})),
      ...(t.partitionConfig?.storageParameters ?? {}),
      ...(t.configured ?? {}),
    };
    if (Object.keys(wanted).length === 0) continue;
    const statements: Statement[] = [];
    const changed: string[] = [];
    for (const leaf of t.leaves) {
      const have = parseReloptions(leaf.reloptions);
      const diff = Object.entries(wanted).filter(([k, v]) => !sameSetting(have[k], v));
      if (diff.length === 0) continue;
      statements.push(
        `ALTER TABLE ${quoteQualified(leaf.schema, leaf.name)} SET (${diff.map(([k, v]) => renderSetting(k, v)).join(', ')})`,
      );
      changed.push(leaf.name);
    }
    let syncsConfig = false;
    if (t.partitionConfig && t.configured) {
      const stored = t.partitionConfig.storageParameters;
      const merged = { ...stored, ...t.configured };
      const same =
        Object.keys(merged).length === Object.keys(stored).length &&
        Object.entries(merged).every(
          ([k, v]) => stored[k] !== undefined && sameSetting(String(stored[k]), v),
        );
      if (!same) {
        statements.push({
          text: 'UPDATE dgm.partition_config SET storage_parameters = $1::jsonb, updated_at = now() WHERE parent_table = $2',
          values: [JSON.stringify(merged), t.partitionConfig.parentTable],
        });
        syncsConfig = true;
      }
    }
    if (statements.length === 0) continue;
    actions.push({
      task: 'vacuum',
      kind: 'set_autovacuum',
      target: t.key,
      reason: `${changed.length} table(s) without the wanted autovacuum settings${
        syncsConfig ? '; new partitions will get them too' : ''
      }${t.highWrite && !t.configured ? ` (${describeHighWrite(t.highWrite)})` : ''}`,
      statements,
      mode: 'transaction',
      details: {
        settings: wanted,
        tables: changed,
        ...(t.highWrite && !t.configured
          ? { highWrite: { churn: t.highWrite.churn, rows: t.highWrite.rows, since: t.highWrite.since } }
          : {}),
      },
    });
  }
  for (const c of facts.freeze) {
    const table = quoteQualified(c.schema_name, c.table_name);
    actions.push({
      task: 'vacuum',
      kind: 'vacuum_freeze',
      target: table,
      reason: `transaction ID age ${Number(c.xid_age).toLocaleString('en-US')} >= ${config.freezeAgeThreshold.toLocaleString('en-US')}`,
      statements: [`VACUUM (FREEZE) ${table}`],
      mode: 'autocommit',
      timeBoxed: true,
      details: { xid_age: Number(c.xid_age), bytes: Number(c.bytes) },
    });
  }
  return { actions, problems };
}

/** Reads the facts of the vacuum task. */
export async function collectVacuumFacts(
  client: pg.Client,
  config: Pick<
    MaintenanceConfig,
    | 'autovacuum'
    | 'freezeAgeThreshold'
    | 'schemas'
    | 'highWriteAutovacuum'
    | 'highWriteChurnRatio'
    | 'highWriteMinRows'
  >,
): Promise<VacuumFacts> {
  const { rows: sets } = await client.query<{
    parent_table: string;
    storage_parameters: Record<string, StorageValue>;
  }>('SELECT parent_table, storage_parameters FROM dgm.partition_config WHERE enabled ORDER BY parent_table');
  // One target per table: config keys and registered parents that name the same table are merged.
  const targets = new Map<string, SettingsTarget & { schema: string; name: string }>();
  const add = (key: string, fill: (t: SettingsTarget) => void) => {
    let parsed: { schema: string; name: string };
    try {
      parsed = tableKey(key);
    } catch {
      targets.set(`bad:${key}`, { key, exists: false, leaves: [], schema: '', name: '' });
      fill(targets.get(`bad:${key}`)!);
      return;
    }
    const id = `${parsed.schema}\u0000${parsed.name}`;
    const t = targets.get(id) ?? { key, exists: false, leaves: [], ...parsed };
    fill(t);
    targets.set(id, t);
  };
  for (const s of sets) {
    add(s.parent_table, (t) => {
      t.partitionConfig = { parentTable: s.parent_table, storageParameters: s.storage_parameters ?? {} };
    });
  }
  for (const [key, settings] of Object.entries(config.autovacuum)) {
    add(key, (t) => {
      t.configured = settings;
    });
  }
  if (config.highWriteChurnRatio > 0 && Object.keys(config.highWriteAutovacuum).length > 0) {
    const { rows: measured } = await client.query<HighWriteRow>(highWriteSql, [
      config.schemas,
      config.highWriteMinRows,
    ]);
    for (const r of measured) {
      const row = { churn: Number(r.churn), row_count: Number(r.row_count) };
      if (!isHighWrite(row, config.highWriteChurnRatio, config.highWriteMinRows)) continue;
      const id = `${r.schema_name}\u0000${r.table_name}`;
      const t = targets.get(id) ?? {
        key: quoteQualified(r.schema_name, r.table_name),
        exists: false,
        leaves: [],
        schema: r.schema_name,
        name: r.table_name,
      };
      t.highWrite = {
        churn: row.churn,
        rows: row.row_count,
        since: r.stats_reset ? new Date(r.stats_reset).toISOString() : null,
        settings: config.highWriteAutovacuum,
      };
      targets.set(id, t);
    }
  }
  const list = [...targets.values()].filter((t) => t.schema !== '');
  const { rows } = await client.query<{
    ord: number;
    found: boolean;
    schema_name: string | null;
    table_name: string | null;
    reloptions: string[] | null;
  }>(leavesSql, [list.map((t) => t.schema), list.map((t) => t.name)]);
  for (const r of rows) {
    const t = list[r.ord - 1]!;
    t.exists ||= r.found;
    if (r.schema_name && r.table_name) {
      t.leaves.push({ schema: r.schema_name, name: r.table_name, reloptions: r.reloptions ?? [] });
    }
  }
  const { rows: freeze } = await client.query<FreezeCandidate>(freezeSql, [config.freezeAgeThreshold]);
  const { rows: db } = await client.query<{ age: number; max_age: string }>(
    `SELECT age(datfrozenxid)::int AS age, current_setting('autovacuum_freeze_max_age') AS max_age
     FROM pg_database WHERE datname = current_database()`,
  );
  return {
    targets: [...targets.values()].map(({ schema: _s, name: _n, ...t }) => t),
    freeze,
    databaseXidAge: Number(db[0]?.age ?? 0),
    freezeMaxAge: Number(db[0]?.max_age ?? 0),
  };
}

/** The settings for high-write tables (the reference design's "Autovacuum Tuning"): vacuum and analyze twice as often, throttled less. */
export const HIGH_WRITE_AUTOVACUUM = {
  autovacuum_vacuum_scale_factor: 0.1,
  autovacuum_analyze_scale_factor: 0.05,
  autovacuum_vacuum_cost_delay: 10,
} as const;

/** A storage parameter name: autovacuum_*, toast.autovacuum_*, fillfactor and the like (never free SQL). */
const storageParameterName = z
  .string()
  .regex(/^(toast\.)?[a-z][a-z0-9_]{0,62}$/, 'not a storage parameter name');

/** The vacuum task's part of the maintenance config. */
export const VACUUM_CONFIG = {
  /**
   * Per-table autovacuum settings, applied to every leaf partition of a partitioned table (partitioned
   * parents take none). An entry replaces the measured high-write choice for its table; {} opts it out.
   */
  autovacuum: z
    .record(z.string(), z.record(storageParameterName, z.union([z.number(), z.boolean()])))
    .default({}),
  /**
   * A table in the schemas looked after whose rows updated + deleted since the statistics reset reach
   * this multiple of its row count is a high-write table and gets highWriteAutovacuum (0: off).
   */
  highWriteChurnRatio: z.number().min(0).default(1),
  /**
   * Smaller tables are never high-write tables: autovacuum already visits them after a few thousand
   * dead rows at most, and a small table's churn ratio says little (lower it for small, hot queue tables).
   */
  highWriteMinRows: z.number().int().min(0).default(10_000),
  /** The settings a high-write table gets. */
  highWriteAutovacuum: z
    .record(storageParameterName, z.union([z.number(), z.boolean()]))
    .default({ ...HIGH_WRITE_AUTOVACUUM }),
  /** Time box for the wraparound VACUUM (FREEZE) pass. */
  freezeTimeBoxMs: z.number().int().positive().default(300_000),
  /** Tables whose transaction ID age (table or TOAST) reaches this get a VACUUM (FREEZE), oldest first. */
  freezeAgeThreshold: z.number().int().positive().default(500_000_000),
};

export interface VacuumFindings {
  databaseXidAge: number;
  freezeMaxAge: number;
  tablesToFreeze: number;
  /** Tables measured as high-write (whether or not their settings were already in place). */
  highWriteTables: string[];
}

/** Weekly: autovacuum settings per table (every leaf partition), and VACUUM (FREEZE) against wraparound. */
export const vacuumTask: MaintenanceTaskDefinition<'vacuum', typeof VACUUM_CONFIG, VacuumFindings> = {
  name: 'vacuum',
  description: 'autovacuum settings per table and partition, VACUUM (FREEZE) of tables near wraparound',
  schedule: { kind: 'weekly', expression: 'cron(0 3 ? * SUN *)' },
  config: VACUUM_CONFIG,
  async plan({ client, settings }) {
    const facts = await collectVacuumFacts(client, settings);
    const plan = planVacuum(facts, settings);
    return {
      actions: [...plan.problems.map((p) => problemAction('vacuum', p)), ...plan.actions],
      findings: {
        databaseXidAge: facts.databaseXidAge,
        freezeMaxAge: facts.freezeMaxAge,
        tablesToFreeze: facts.freeze.length,
        highWriteTables: facts.targets.filter((t) => t.highWrite && !t.configured).map((t) => t.key),
      },
      note: `${plan.actions.length} action(s)`,
    };
  },
  describeFindings: (v) => [
    `wraparound: database transaction ID age ${v.databaseXidAge.toLocaleString('en-US')} ` +
      `(autovacuum_freeze_max_age ${v.freezeMaxAge.toLocaleString('en-US')}), ${v.tablesToFreeze} table(s) over the freeze threshold`,
    `high-write tables (updates + deletes since the statistics reset >= highWriteChurnRatio x rows): ${
      v.highWriteTables.length > 0 ? v.highWriteTables.join(', ') : 'none'
    }`,
  ],
};
