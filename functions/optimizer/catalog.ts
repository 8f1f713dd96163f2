import type pg from 'pg';
import catalogSql from './sql/catalog.sql';

export interface ColumnInfo {
  name: string;
  type: string;
  /** pg_type.typcategory: S string, N numeric, D date/time, U user (jsonb), A array, B boolean... */
  typeCategory: string;
  notNull: boolean;
  /** pg_stats.n_distinct: positive = count, negative = share of rows; null without statistics. */
  nDistinct: number | null;
  nullFrac: number | null;
  avgWidth: number | null;
  correlation: number | null;
  /** The column's collation (its locale; the database's for the default collation); null: not collatable. */
  collation?: string | null;
  /** Whether the column's collation is C/POSIX by name. */
  collationC?: boolean | null;
  /** pg_attribute.attstattarget: -1 (before 17) or null (17+) for the default. */
  statisticsTarget?: number | null;
}

/** Whether LIKE 'prefix%' can use a plain btree on this column (C collation), or needs text_pattern_ops. */
export function byteOrderCollation(col: ColumnInfo): boolean {
  return col.collationC === true || col.collation === 'C' || col.collation === 'POSIX';
}

export interface IndexKey {
  column: string | null;
  expression: string | null;
  desc: boolean;
  nullsFirst: boolean;
  opclass: string;
  included: boolean;
}

export interface IndexInfo {
  oid: number;
  name: string;
  schema: string;
  method: string;
  valid: boolean;
  unique: boolean;
  primary: boolean;
  keyCount: number;
  predicate: string | null;
  definition: string;
  keys: IndexKey[];
  bytes: number;
  scans: number;
}

export interface TableActivity {
  seq_scan: number;
  seq_tup_read: number;
  idx_scan: number;
  idx_tup_fetch: number;
  n_tup_ins: number;
  n_tup_upd: number;
  n_tup_del: number;
  n_live_tup: number;
  n_dead_tup: number;
}

export interface TableInfo {
  oid: number;
  schema: string;
  name: string;
  /** r plain table, p partitioned, m materialized view. */
  relkind: string;
  isPartition: boolean;
  leafCount: number;
  totalBytes: number;
  heapBytes: number;
  reltuples: number;
  activity: TableActivity;
  columns: ColumnInfo[];
  indexes: IndexInfo[];
}

/** The tables of a workload, found by the names statements use. */
export class Catalog {
  private readonly byOid = new Map<number, TableInfo>();
  private readonly byRequested = new Map<string, TableInfo>();

  /** Installed extensions the candidates may use (pg_trgm), by name, with their schema. */
  readonly extensions: Map<string, string>;

  constructor(
    rows: Array<TableInfo & { requested: Array<{ schema: string | null; name: string }> }>,
    extensions: Map<string, string> = new Map(),
  ) {
    this.extensions = extensions;
    for (const r of rows) {
      const { requested, ...info } = r;
      this.byOid.set(info.oid, info);
      for (const q of requested ?? []) this.byRequested.set(Catalog.key(q.schema ?? undefined, q.name), info);
    }
  }

  private static key(schema: string | undefined, name: string): string {
    return JSON.stringify([schema ?? null, name]);
  }

  /** The table a statement means by `schema.name` (or `name`, through the search_path). */
  lookup(schema: string | undefined, name: string): TableInfo | undefined {
    return this.byRequested.get(Catalog.key(schema, name));
  }

  get(oid: number): TableInfo | undefined {
    return this.byOid.get(oid);
  }

  tables(): TableInfo[] {
    return [...this.byOid.values()];
  }

  column(table: TableInfo, name: string): ColumnInfo | undefined {
    return table.columns.find((c) => c.name === name);
  }
}

/** Loads the catalog entries of the named tables in one round trip. */
export async function loadCatalog(
  client: pg.Client,
  names: Array<{ schema?: string; name: string }>,
): Promise<Catalog> {
  const unique = new Map(names.map((n) => [JSON.stringify([n.schema ?? null, n.name]), n]));
  const list = [...unique.values()];
  const { rows: ext } = await client.query<{ name: string; schema: string }>(
    `SELECT e.extname::text AS name, n.nspname::text AS schema
     FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname IN ('pg_trgm', 'btree_gin')`,
  );
  const extensions = new Map(ext.map((e) => [e.name, e.schema]));
  if (list.length === 0) return new Catalog([], extensions);
  const { rows } = await client.query(catalogSql, [
    list.map((n) => n.schema ?? null),
    list.map((n) => n.name),
  ]);
  return new Catalog(
    rows.map((r) => ({
      oid: Number(r.oid),
      schema: r.schema_name,
      name: r.table_name,
      relkind: r.relkind,
      isPartition: r.is_partition,
      leafCount: r.leaf_count,
      totalBytes: Number(r.total_bytes),
      heapBytes: Number(r.heap_bytes),
      reltuples: Number(r.reltuples),
      activity: Object.fromEntries(
        Object.entries(r.activity ?? {}).map(([k, v]) => [k, Number(v)]),
      ) as unknown as TableActivity,
      columns: r.columns,
      indexes: (r.indexes as IndexInfo[]).map((i) => ({
        ...i,
        oid: Number(i.oid),
        bytes: Number(i.bytes),
        scans: Number(i.scans),
      })),
      requested: r.requested ?? [],
    })),
    extensions,
  );
}

/** Estimated distinct values of a column (pg_stats' negative n_distinct is a share of the rows). */
export function distinctValues(table: TableInfo, column: ColumnInfo | undefined): number | null {
  if (!column || column.nDistinct === null || column.nDistinct === undefined) return null;
  if (column.nDistinct >= 0) return column.nDistinct;
  return Math.max(1, -column.nDistinct * Math.max(table.reltuples, 1));
}
