import type pg from 'pg';
import { quoteIdent, quoteQualified } from '../db/identifiers.ts';
import settingsSql from './sql/settings.sql';

/**
 * Planner and autovacuum settings derived from the database's own statistics: work_mem from the temp
 * files statements spill, random_page_cost and effective_io_concurrency from the storage type and cache
 * behaviour, autovacuum from dead tuples and how far autovacuum is behind. Each recommendation carries
 * the statement that applies it, or for server-level settings the RDS parameter-group name and value.
 */

export interface SettingRecommendation {
  kind: 'setting';
  name: string;
  current: string;
  recommended: string;
  /** database/role: ALTER DATABASE|ROLE ... SET; table: ALTER TABLE ... SET (...); server: parameter group. */
  scope: 'database' | 'role' | 'table' | 'server';
  /** SQL that applies it, where SQL can. */
  statement?: string;
  /** The RDS parameter group entry (server-level settings, or the cluster-wide alternative). */
  parameterGroup?: { name: string; value: string };
  reason: string;
  /** The figures it was derived from. */
  evidence: Record<string, number | string | boolean | null>;
}

export interface SettingsFacts {
  database: string;
  versionNum: number;
  isRds: boolean;
  settings: Record<string, { setting: string; unit: string | null; context: string }>;
  tempFiles: number;
  tempBytes: number;
  statsResetAgeSeconds: number | null;
  heapHit: number;
  heapRead: number;
  tables: Array<{
    schema: string;
    name: string;
    liveTuples: number;
    deadTuples: number;
    modsSinceAnalyze: number;
    insertsSinceVacuum: number;
    lastAutovacuumAgeSeconds: number | null;
    autovacuumCount: number;
    options: string[];
  }>;
}

/** One query: the settings and statistics the rules read. */
export async function readSettingsFacts(client: pg.Client): Promise<SettingsFacts> {
  const { rows } = await client.query(settingsSql);
  const r = rows[0];
  return {
    database: r.database,
    versionNum: Number(r.version_num),
    isRds: r.is_rds,
    settings: r.settings,
    tempFiles: Number(r.temp_files),
    tempBytes: Number(r.temp_bytes),
    statsResetAgeSeconds: r.stats_reset_age === null ? null : Number(r.stats_reset_age),
    heapHit: Number(r.heap_hit),
    heapRead: Number(r.heap_read),
    tables: (r.tables ?? []).map((t: Record<string, unknown>) => ({
      schema: t.schema,
      name: t.name,
      liveTuples: Number(t.live),
      deadTuples: Number(t.dead),
      modsSinceAnalyze: Number(t.mods),
      insertsSinceVacuum: Number(t.ins),
      lastAutovacuumAgeSeconds: t.last_av_age === null ? null : Number(t.last_av_age),
      autovacuumCount: Number(t.av_count),
      options: (t.options as string[] | null) ?? [],
    })),
  };
}

export interface SettingsOptions {
  storage: 'ssd' | 'hdd';
  /** Per-statement temp spill, from the workload: the largest one sizes work_mem. */
  spills: Array<{ queryid: string | null; tempBytesPerCall: number; calls: number }>;
}

/** Bytes of a setting's value (setting × unit, e.g. 4096 × kB). */
export function settingBytes(s: { setting: string; unit: string | null } | undefined): number | null {
  if (!s) return null;
  const n = Number(s.setting);
  if (!Number.isFinite(n)) return null;
  const unit = s.unit ?? '';
  const m = /^(\d+)?\s*(B|kB|MB|GB|TB)$/.exec(unit);
  if (!m) return n;
  const mult = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[
    m[2] as 'B' | 'kB' | 'MB' | 'GB' | 'TB'
  ];
  return n * Number(m[1] ?? 1) * mult;
}

function mb(bytes: number): string {
  return `${Math.round(bytes / 1024 ** 2)}MB`;
}

const MB = 1024 ** 2;

/** The recommendations, from the facts alone (pure). */
export function recommendSettings(facts: SettingsFacts, options: SettingsOptions): SettingRecommendation[] {
  const out: SettingRecommendation[] = [];
  const db = quoteIdent(facts.database);
  const current = (name: string) => facts.settings[name]?.setting ?? '';

  // work_mem: a sort or hash that spills N bytes to disk needs roughly twice that in memory.
  const workMem = settingBytes(facts.settings.work_mem) ?? 4 * MB;
  const spills = options.spills
    .filter((s) => s.tempBytesPerCall > 0)
    .sort((a, b) => b.tempBytesPerCall - a.tempBytesPerCall);
  if (spills.length > 0 || facts.tempFiles > 0) {
    const largest =
      spills[0]?.tempBytesPerCall ?? (facts.tempFiles > 0 ? facts.tempBytes / facts.tempFiles : 0);
    let target = 2 ** Math.ceil(Math.log2(Math.max(largest * 2, workMem * 2, MB)));
    target = Math.min(target, 1024 * MB);
    if (target > workMem) {
      out.push({
        kind: 'setting',
        name: 'work_mem',
        current: mb(workMem),
        recommended: mb(target),
        scope: 'database',
        statement: `ALTER DATABASE ${db} SET work_mem = '${mb(target)}'`,
        parameterGroup: { name: 'work_mem', value: String(target / 1024) },
        reason:
          `statements spill sorts and hashes to temp files (largest ${mb(largest)} per call); ` +
          'raise work_mem for this database (or per role with ALTER ROLE ... SET) rather than server-wide, ' +
          'since every sort node of every connection may use it',
        evidence: {
          spilling_statements: spills.length,
          largest_spill_bytes_per_call: Math.round(largest),
          temp_files: facts.tempFiles,
          temp_bytes: facts.tempBytes,
        },
      });
    }
  }

  const hitRatio =
    facts.heapHit + facts.heapRead > 0 ? facts.heapHit / (facts.heapHit + facts.heapRead) : null;
  const ssd = options.storage === 'ssd';
  // random_page_cost: 4 models spinning disks; on SSD (every current RDS storage type) random reads
  // cost about as much as sequential ones.
  const rpc = Number(current('random_page_cost'));
  if (ssd && Number.isFinite(rpc) && rpc > 1.5) {
    out.push({
      kind: 'setting',
      name: 'random_page_cost',
      current: String(rpc),
      recommended: '1.1',
      scope: 'database',
      statement: `ALTER DATABASE ${db} SET random_page_cost = 1.1`,
      parameterGroup: { name: 'random_page_cost', value: '1.1' },
      reason:
        'storage is SSD: random reads cost about as much as sequential ones, and at 4 the planner ' +
        'prefers sequential scans where an index scan is faster',
      evidence: {
        storage: options.storage,
        is_rds: facts.isRds,
        heap_cache_hit_ratio: hitRatio && round4(hitRatio),
      },
    });
  }
  // effective_io_concurrency: how many reads a bitmap heap scan issues ahead; SSDs serve many at once.
  const eic = Number(current('effective_io_concurrency'));
  if (ssd && Number.isFinite(eic) && eic < 100) {
    out.push({
      kind: 'setting',
      name: 'effective_io_concurrency',
      current: String(eic),
      recommended: '200',
      scope: 'database',
      statement: `ALTER DATABASE ${db} SET effective_io_concurrency = 200`,
      parameterGroup: { name: 'effective_io_concurrency', value: '200' },
      reason:
        'storage is SSD: bitmap heap scans can prefetch many pages at once' +
        (facts.heapRead > 0
          ? ` (${facts.heapRead} heap blocks were read from storage since the stats reset)`
          : ''),
      evidence: {
        storage: options.storage,
        heap_blocks_read: facts.heapRead,
        heap_cache_hit_ratio: hitRatio && round4(hitRatio),
      },
    });
  }

  // Autovacuum: tables whose dead tuples passed the threshold while autovacuum has not come by.
  const scale = Number(current('autovacuum_vacuum_scale_factor')) || 0.2;
  const threshold = Number(current('autovacuum_vacuum_threshold')) || 50;
  const behind = facts.tables.filter(
    (t) =>
      t.deadTuples > threshold + scale * t.liveTuples &&
      (t.lastAutovacuumAgeSeconds === null || t.lastAutovacuumAgeSeconds > 3600),
  );
  if (behind.length >= 3) {
    const costLimit = Number(current('autovacuum_vacuum_cost_limit'));
    const effective = costLimit > 0 ? costLimit : Number(current('vacuum_cost_limit')) || 200;
    if (effective < 2000) {
      out.push({
        kind: 'setting',
        name: 'autovacuum_vacuum_cost_limit',
        current: String(effective),
        recommended: '2000',
        scope: 'server',
        parameterGroup: { name: 'autovacuum_vacuum_cost_limit', value: '2000' },
        reason: `${behind.length} tables are past their autovacuum threshold and not vacuumed within the last hour: let each autovacuum worker do more work per cycle`,
        evidence: { tables_behind: behind.length, autovacuum_max_workers: current('autovacuum_max_workers') },
      });
    }
  }
  // Large tables: the default 20% scale factor lets millions of dead tuples pile up before a vacuum.
  for (const t of facts.tables) {
    const own = t.options.find((o) => o.startsWith('autovacuum_vacuum_scale_factor='));
    const factor = own ? Number(own.split('=')[1]) : scale;
    if (t.liveTuples < 1_000_000 || factor <= 0.05) continue;
    const recommended = t.liveTuples > 10_000_000 ? 0.01 : 0.05;
    out.push({
      kind: 'setting',
      name: 'autovacuum_vacuum_scale_factor',
      current: String(factor),
      recommended: String(recommended),
      scope: 'table',
      statement: `ALTER TABLE ${quoteQualified(t.schema, t.name)} SET (autovacuum_vacuum_scale_factor = ${recommended}, autovacuum_analyze_scale_factor = ${recommended / 2})`,
      reason: `${t.liveTuples} live rows: at ${factor} autovacuum waits for ${Math.round(t.liveTuples * factor)} dead rows`,
      evidence: { live_tuples: t.liveTuples, dead_tuples: t.deadTuples },
    });
  }
  return out;
}

function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
