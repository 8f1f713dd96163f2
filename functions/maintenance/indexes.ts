import type pg from 'pg';
import { z } from 'zod';
import type { MaintenanceConfig } from '../config.ts';
import { parseQualifiedName, quoteQualified } from '../db/identifiers.ts';
import { fitIdentifier, type MaintenanceAction } from './plan.ts';
import { rollingIndexSpecs } from './rolling-index.ts';
import auditedBuildsSql from './sql/audited-index-builds.sql';
import widthSql from './sql/btree-width.sql';
import indexHealthSql from './sql/index-health.sql';
import optimizerIndexesSql from './sql/optimizer-indexes.sql';
import type { MaintenanceTaskDefinition, TaskPlan } from './task.ts';

/**
 * Index health (weekly): btree bloat estimated from statistics and rebuilt with REINDEX CONCURRENTLY above
 * a ratio and a size floor; INVALID indexes that our own failed concurrent builds left (known from the
 * audit) dropped; unused and duplicate indexes reported, and dropped only when configured.
 */

export interface IndexRow {
  oid: string;
  schema_name: string;
  table_name: string;
  index_name: string;
  /** 'i' an index with storage, 'I' a partitioned index. */
  index_kind: string;
  table_kind: string;
  am: string;
  is_valid: boolean;
  is_unique: boolean;
  is_primary: boolean;
  constraint_type: string | null;
  is_partition: boolean;
  parent_index: string | null;
  bytes: string | number;
  relpages: string | number;
  reltuples: number;
  fillfactor: number;
  scans: string | number;
  identity: string;
  definition: string;
  being_built: boolean;
  table_live_rows: string | number | null;
  table_mods_since_analyze: string | number | null;
  table_analyzed: boolean | null;
}

export interface BtreeWidthRow {
  oid: string;
  data_width: number;
  has_nulls: boolean;
  stats_missing: boolean;
  has_name_type: boolean;
  block_size: number;
}

export interface IndexFacts {
  indexes: IndexRow[];
  widths: BtreeWidthRow[];
  /** Indexes our runs built or rebuilt concurrently, from the audit. */
  audited: Array<{ schema?: string; name: string }>;
  /** Days the index usage statistics cover (since stats_reset, else the server start). */
  statsAgeDays: number;
  /** Rolling partial indexes and their "_next" builds, which the partitions task manages. */
  rolling: Array<{ schema: string; name: string }>;
  /** Indexes the optimizer built and still owns (dgm.auto_indexes): its probation decides on them. */
  optimizer: Array<{ schema: string; name: string }>;
}

export interface BloatEstimate {
  bytes: number;
  bloatBytes: number;
  ratio: number;
  /** False where the estimate cannot be trusted (statistics missing or stale, name columns, tiny). */
  reliable: boolean;
  note?: string;
}

export interface IndexFinding {
  index: string;
  table: string;
  bytes: number;
  action: 'reindex' | 'drop' | 'report' | 'analyze first';
  note: string;
  bloatRatio?: number;
  duplicateOf?: string;
}

export interface IndexFindings {
  statsAgeDays: number;
  bloated: IndexFinding[];
  invalid: IndexFinding[];
  unused: IndexFinding[];
  duplicates: IndexFinding[];
}

const MAXALIGN = 8;
const PAGE_HEADER = 24;
const BTREE_OPAQUE = 16;

function staleStatistics(ix: IndexRow): boolean {
  if (!ix.table_analyzed) return true;
  const live = Number(ix.table_live_rows ?? 0);
  return Number(ix.table_mods_since_analyze ?? 0) > 0.1 * Math.max(live, 1000);
}

/**
 * The btree bloat estimate of ioguix's btree_bloat.sql: the leaf pages the rows would need at the index's
 * fillfactor, from pg_stats widths, against the pages the index has.
 */
export function estimateBtreeBloat(ix: IndexRow, w: BtreeWidthRow): BloatEstimate {
  const bytes = Number(ix.bytes);
  const relpages = Number(ix.relpages);
  const hdr = w.has_nulls ? 8 + Math.floor((32 + 8 - 1) / 8) : 8;
  const data = Math.trunc(w.data_width);
  const width =
    hdr +
    MAXALIGN -
    (hdr % MAXALIGN === 0 ? MAXALIGN : hdr % MAXALIGN) +
    w.data_width +
    MAXALIGN -
    (w.data_width === 0 ? 0 : data % MAXALIGN === 0 ? MAXALIGN : data % MAXALIGN);
  const perPage = Math.floor(
    ((w.block_size - BTREE_OPAQUE - PAGE_HEADER) * ix.fillfactor) / (100 * (4 + width)),
  );
  const estPages = perPage > 0 ? 1 + Math.ceil(Math.max(ix.reltuples, 0) / perPage) : relpages;
  const extra = Math.max(0, relpages - estPages);
  const ratio = relpages > 0 ? extra / relpages : 0;
  let note: string | undefined;
  if (w.stats_missing) note = 'no statistics for a column';
  else if (w.has_name_type) note = 'a name column (the estimate over-counts)';
  else if (ix.reltuples < 0 || relpages < 10) note = 'too small or never analyzed';
  else if (staleStatistics(ix)) note = 'statistics are stale';
  return {
    bytes,
    bloatBytes: extra * w.block_size,
    ratio: Math.round(ratio * 1000) / 1000,
    reliable: note === undefined,
    ...(note ? { note } : {}),
  };
}

const key = (schema: string | undefined, name: string) => `${schema ?? ''}\u0000${name}`;

/** Whether an INVALID index is one our concurrent builds left: an audited name, or its _ccnew/_ccold. */
export function isOurLeftover(ix: IndexRow, audited: IndexFacts['audited']): boolean {
  const ours = audited.filter((a) => (a.schema ?? ix.schema_name) === ix.schema_name);
  if (ours.some((a) => a.name === ix.index_name)) return true;
  const m = /^(.*)_cc(new|old)\d*$/.exec(ix.index_name);
  return m !== null && ours.some((a) => a.name.startsWith(m[1]!));
}

/** Names the optimizer gives partition indexes: <partition>_dgm_auto_<8 hex> (optimizer/build-plan.ts). */
const OPTIMIZER_PARTITION_INDEX = /_dgm_auto_[0-9a-f]{8}$/;

/** An index the optimizer registered, or one of the partition indexes its builds create. */
export function isOptimizerBuild(ix: IndexRow, optimizerOwned: Set<string>): boolean {
  return (
    optimizerOwned.has(key(ix.schema_name, ix.index_name)) || OPTIMIZER_PARTITION_INDEX.test(ix.index_name)
  );
}

/** Plans the indexes task from the facts; pure. With allowAnalyze, stale statistics get an ANALYZE first. */
export function planIndexMaintenance(
  facts: IndexFacts,
  config: Pick<
    MaintenanceConfig,
    | 'reindexBloatRatio'
    | 'reindexMinBytes'
    | 'dropUnusedIndexes'
    | 'dropDuplicateIndexes'
    | 'unusedIndexMinStatsDays'
  >,
  options: { allowAnalyze: boolean },
): { actions: MaintenanceAction[]; findings: IndexFindings; recheck: boolean } {
  const actions: MaintenanceAction[] = [];
  const findings: IndexFindings = {
    statsAgeDays: Math.round(facts.statsAgeDays * 10) / 10,
    bloated: [],
    invalid: [],
    unused: [],
    duplicates: [],
  };
  const widths = new Map(facts.widths.map((w) => [String(w.oid), w]));
  const rolling = new Set(facts.rolling.map((r) => key(r.schema, r.name)));
  const optimizerOwned = new Set(facts.optimizer.map((r) => key(r.schema, r.name)));
  const q = (ix: IndexRow) => quoteQualified(ix.schema_name, ix.index_name);
  const table = (ix: IndexRow) => quoteQualified(ix.schema_name, ix.table_name);
  const dropStatement = (ix: IndexRow): Pick<MaintenanceAction, 'statements' | 'mode'> =>
    ix.index_kind === 'i'
      ? { statements: [`DROP INDEX CONCURRENTLY IF EXISTS ${q(ix)}`], mode: 'autocommit' }
      : { statements: [`DROP INDEX IF EXISTS ${q(ix)}`], mode: 'transaction' };
  const toAnalyze = new Set<string>();
  let recheck = false;

  for (const ix of facts.indexes) {
    const bytes = Number(ix.bytes);
    const base = { index: q(ix), table: table(ix), bytes };
    if (!ix.is_valid) {
      if (ix.being_built || rolling.has(key(ix.schema_name, ix.index_name))) continue;
      if (isOptimizerBuild(ix, optimizerOwned)) {
        // Its build belongs to the optimizer, which finishes or drops it (root and partitions together)
        // at the start of its next run, and maintain does so when no optimize run holds its lock.
        // Dropping a partition's index here would leave its partitioned parent INVALID for good.
        findings.invalid.push({
          ...base,
          action: 'report',
          note: 'an optimizer build in progress (or interrupted): the optimizer reconciles it',
        });
        continue;
      }
      const ours = ix.index_kind === 'i' && isOurLeftover(ix, facts.audited);
      findings.invalid.push({
        ...base,
        action: ours ? 'drop' : 'report',
        note: ours
          ? 'left by a failed concurrent build of ours'
          : ix.index_kind === 'I'
            ? 'a partitioned index not attached on every partition'
            : 'not ours (not in the audit): left for its owner',
      });
      if (ours) {
        actions.push({
          task: 'indexes',
          kind: 'drop_invalid_index',
          target: q(ix),
          reason: 'INVALID index left by a failed concurrent build of ours',
          ...dropStatement(ix),
        });
      }
      continue;
    }
    if (ix.index_kind !== 'i' || ix.am !== 'btree' || ix.constraint_type === 'x') continue;
    const w = widths.get(String(ix.oid));
    if (!w) continue;
    const est = estimateBtreeBloat(ix, w);
    if (est.ratio < config.reindexBloatRatio || bytes < config.reindexMinBytes) continue;
    if (!est.reliable) {
      const stale = est.note === 'statistics are stale' || est.note === 'too small or never analyzed';
      if (stale && options.allowAnalyze) {
        toAnalyze.add(table(ix));
        recheck = true;
        findings.bloated.push({
          ...base,
          bloatRatio: est.ratio,
          action: 'analyze first',
          note: est.note ?? '',
        });
      } else {
        findings.bloated.push({
          ...base,
          bloatRatio: est.ratio,
          action: 'report',
          note: `estimate not trusted: ${est.note}`,
        });
      }
      continue;
    }
    findings.bloated.push({
      ...base,
      bloatRatio: est.ratio,
      action: 'reindex',
      note: `about ${Math.round(est.bloatBytes / 1024)} kB reclaimable`,
    });
    actions.push({
      task: 'indexes',
      kind: 'reindex',
      target: q(ix),
      reason: `estimated bloat ${(est.ratio * 100).toFixed(0)}% of ${Math.round(bytes / 1024)} kB`,
      statements: [`REINDEX INDEX CONCURRENTLY ${q(ix)}`],
      mode: 'autocommit',
      cleanup: { schema: ix.schema_name, table: ix.table_name, ccOf: ix.index_name },
      details: { bloat_ratio: est.ratio, bytes },
    });
  }

  // Unused and duplicates are judged on whole indexes: a partitioned index with its partitions summed.
  const top = facts.indexes.filter((ix) => ix.is_valid && !ix.is_partition);
  // Identical indexes share their scans: the planner picks either, so neither copy is unused when one is.
  const groupScans = new Map<string, number>();
  for (const ix of top) groupScans.set(ix.identity, (groupScans.get(ix.identity) ?? 0) + Number(ix.scans));
  const droppable = new Set<string>();
  for (const ix of top) {
    if (ix.is_unique || ix.is_primary || ix.constraint_type || (groupScans.get(ix.identity) ?? 0) > 0)
      continue;
    const managed = rolling.has(key(ix.schema_name, ix.index_name));
    const owned = optimizerOwned.has(key(ix.schema_name, ix.index_name));
    const history = facts.statsAgeDays >= config.unusedIndexMinStatsDays;
    const drop = config.dropUnusedIndexes && history && !managed && !owned;
    findings.unused.push({
      index: q(ix),
      table: table(ix),
      bytes: Number(ix.bytes),
      action: drop ? 'drop' : 'report',
      note: !history
        ? `usage statistics cover only ${findings.statsAgeDays} days`
        : managed
          ? 'a rolling partial index (kept)'
          : owned
            ? 'built by the optimizer: its probation decides (dgm-db-ops optimize)'
            : 'no scans since the statistics were reset (idx_scan counts per server: check replicas too)',
    });
    if (drop) droppable.add(q(ix));
  }
  const groups = new Map<string, IndexRow[]>();
  for (const ix of top) groups.set(ix.identity, [...(groups.get(ix.identity) ?? []), ix]);
  const rank = (ix: IndexRow) => (ix.is_primary ? 0 : ix.constraint_type ? 1 : ix.is_unique ? 2 : 3);
  for (const same of groups.values()) {
    if (same.length < 2) continue;
    same.sort((a, b) => rank(a) - rank(b) || Number(a.oid) - Number(b.oid));
    const keeper = same[0]!;
    for (const ix of same.slice(1)) {
      const canDrop = !ix.constraint_type && (!ix.is_unique || keeper.is_unique);
      const drop = config.dropDuplicateIndexes && canDrop;
      findings.duplicates.push({
        index: q(ix),
        table: table(ix),
        bytes: Number(ix.bytes),
        duplicateOf: q(keeper),
        action: drop ? 'drop' : 'report',
        note: canDrop ? 'same definition as the index kept' : 'backs a constraint: drop by hand if at all',
      });
      if (drop) droppable.add(q(ix));
    }
  }
  for (const ix of top.filter((x) => droppable.has(q(x)))) {
    const dup = findings.duplicates.find((d) => d.index === q(ix));
    actions.push({
      task: 'indexes',
      kind: dup ? 'drop_duplicate_index' : 'drop_unused_index',
      target: q(ix),
      reason: dup ? `duplicate of ${dup.duplicateOf}` : 'never scanned',
      ...dropStatement(ix),
    });
  }
  for (const t of toAnalyze) {
    actions.unshift({
      task: 'indexes',
      kind: 'analyze',
      target: t,
      reason: 'fresh statistics before judging index bloat',
      statements: [`ANALYZE ${t}`],
      mode: 'transaction',
    });
  }
  return { actions, findings, recheck };
}

/** Reads the facts of the indexes task for schemas. */
export async function collectIndexFacts(
  client: pg.Client,
  schemas: string[],
  rollingIndexes: Array<{ index: string }>,
): Promise<IndexFacts> {
  const { rows: indexes } = await client.query<IndexRow>(indexHealthSql, [schemas]);
  const { rows: widths } = await client.query<BtreeWidthRow>(widthSql, [schemas]);
  const { rows: audited } = await client.query<{ target: string }>(auditedBuildsSql);
  const { rows: optimizer } = await client.query<{ index_schema: string; index_name: string }>(
    optimizerIndexesSql,
  );
  const { rows: age } = await client.query<{ days: number }>(
    `SELECT extract(epoch FROM now() - coalesce(stats_reset, pg_postmaster_start_time()))::float8 / 86400 AS days
     FROM pg_stat_database WHERE datname = current_database()`,
  );
  const rolling: IndexFacts['rolling'] = [];
  for (const r of rollingIndexes) {
    const p = parseQualifiedName(r.index);
    rolling.push(
      { schema: p.schema ?? 'public', name: p.name },
      { schema: p.schema ?? 'public', name: fitIdentifier(p.name, '_next') },
    );
  }
  return {
    indexes,
    widths,
    audited: audited.flatMap((a) => {
      try {
        return [parseQualifiedName(a.target)];
      } catch {
        return [];
      }
    }),
    statsAgeDays: Number(age[0]?.days ?? 0),
    rolling,
    optimizer: optimizer.map((o) => ({ schema: o.index_schema, name: o.index_name })),
  };
}

/** The indexes task's part of the maintenance config. */
export const INDEXES_CONFIG = {
  /** REINDEX CONCURRENTLY above this estimated bloat ratio and size floor. */
  reindexBloatRatio: z.number().min(0).max(1).default(0.3),
  reindexMinBytes: z
    .number()
    .int()
    .positive()
    .default(10 * 1024 * 1024),
  dropUnusedIndexes: z.boolean().default(false),
  dropDuplicateIndexes: z.boolean().default(false),
  /** An index is called unused only when the statistics cover at least this many days. */
  unusedIndexMinStatsDays: z.number().nonnegative().default(7),
};

/** The readable lines of the index findings. */
export function describeIndexFindings(ix: IndexFindings): string[] {
  const lines = [`index health (usage statistics cover ${ix.statsAgeDays} days):`];
  const list = (title: string, items: IndexFinding[]) => {
    if (items.length === 0) {
      lines.push(`  ${title}: none`);
      return;
    }
    lines.push(`  ${title}:`);
    for (const f of items.slice(0, 20)) {
      const extra = f.bloatRatio !== undefined ? ` ${(f.bloatRatio * 100).toFixed(0)}% bloat` : '';
      const dup = f.duplicateOf ? ` duplicate of ${f.duplicateOf}` : '';
      lines.push(
        `    ${f.action.padEnd(13)} ${f.index} (${Math.round(f.bytes / 1024)} kB${extra}${dup}): ${f.note}`,
      );
    }
    if (items.length > 20) lines.push(`    ... and ${items.length - 20} more (see --json)`);
  };
  list('bloated', ix.bloated);
  list('invalid', ix.invalid);
  list('unused', ix.unused);
  list('duplicates', ix.duplicates);
  return lines;
}

/**
 * Weekly: interrupted optimizer builds finished or dropped first, then bloated, invalid, unused and
 * duplicate indexes. Stale statistics make bloat estimates wrong: a run (not a dry run) analyzes those
 * tables first and judges again.
 */
export const indexesTask: MaintenanceTaskDefinition<'indexes', typeof INDEXES_CONFIG, IndexFindings> = {
  name: 'indexes',
  description: 'rebuild bloated indexes, clean up invalid ones, report unused and duplicate indexes',
  schedule: { kind: 'weekly', expression: 'cron(0 2 ? * SUN *)' },
  config: INDEXES_CONFIG,
  async plan({ client, settings, dryRun, finishInterruptedIndexBuilds }) {
    const done = dryRun ? [] : await finishInterruptedIndexBuilds();
    const rollingIndexes = await rollingIndexSpecs(client, settings.rollingIndexes);
    const facts = () => collectIndexFacts(client, settings.schemas, rollingIndexes);
    const final = (p: ReturnType<typeof planIndexMaintenance>): TaskPlan<IndexFindings> => ({
      actions: p.actions,
      findings: p.findings,
    });
    const first = planIndexMaintenance(await facts(), settings, { allowAnalyze: !dryRun });
    if (!first.recheck || dryRun) return { done, ...final(first) };
    return {
      done,
      actions: first.actions.filter((a) => a.kind === 'analyze'),
      note: '',
      next: async () => final(planIndexMaintenance(await facts(), settings, { allowAnalyze: false })),
    };
  },
  describeFindings: describeIndexFindings,
};
