import { createHash } from 'node:crypto';
import { quoteIdent, quoteQualified } from '../db/identifiers.ts';
import { type CandidateIndex, nullsSql } from './candidates.ts';

/** A candidate's name and CREATE INDEX statement, every identifier quoted. Pure. */

/** A stable index name: dgm_auto_<table>_<columns>_<hash>, at most 63 bytes. */
export function candidateName(c: CandidateIndex): string {
  const hash = createHash('sha256').update(c.key).digest('hex').slice(0, 8);
  const cols = c.columns.map((x) => (x.expression ? `${x.column}_expr` : x.column)).join('_');
  const base =
    `dgm_auto_${c.table.name}_${cols}${c.predicate ? '_part' : ''}${c.include?.length ? '_cov' : ''}${c.method === 'gin' ? (c.opclass?.endsWith('gin_trgm_ops') ? '_trgm' : '_gin') : c.method === 'gist' ? '_gist' : ''}`
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_');
  const room = 63 - hash.length - 1;
  let head = base;
  while (Buffer.byteLength(head) > room) head = head.slice(0, -1);
  return `${head}_${hash}`;
}

/** The column list of a CREATE INDEX, e.g. (status, created_at DESC) or (metadata jsonb_path_ops). */
export function columnListSql(c: CandidateIndex): string {
  const cols = c.columns.map((x) => {
    const parts = [x.expression ? `(${x.expression})` : quoteIdent(x.column)];
    if (
      c.method === 'gin' &&
      c.opclass &&
      c.opclass !== 'array_ops' &&
      c.opclass !== 'jsonb_ops' &&
      c.opclass !== 'tsvector_ops'
    )
      parts.push(c.opclass);
    if (x.opclass) parts.push(x.opclass);
    if (x.desc) parts.push('DESC');
    return parts.join(' ') + nullsSql(x);
  });
  return `(${cols.join(', ')})`;
}

export interface CreateIndexOptions {
  name: string;
  concurrently?: boolean;
  only?: boolean;
  ifNotExists?: boolean;
  /** Builds on another table (a partition) with the candidate's definition. */
  on?: { schema: string; name: string };
}

/** CREATE INDEX for a candidate; every identifier quoted. */
export function createIndexSql(c: CandidateIndex, o: CreateIndexOptions): string {
  const on = o.on ?? { schema: c.table.schema, name: c.table.name };
  return [
    'CREATE INDEX',
    o.concurrently ? 'CONCURRENTLY' : '',
    o.ifNotExists ? 'IF NOT EXISTS' : '',
    quoteIdent(o.name),
    'ON',
    o.only ? 'ONLY' : '',
    quoteQualified(on.schema, on.name),
    c.method === 'btree' ? '' : `USING ${c.method}`,
    columnListSql(c),
    c.include?.length ? `INCLUDE (${c.include.map(quoteIdent).join(', ')})` : '',
    c.predicate ? `WHERE ${c.predicate.sql}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/**
 * The statistics target a DBA gives the expression of a trigram index. An infix pattern's selectivity is
 * read from the expression's histogram: with the default target (100 entries from a 30,000-row sample) one
 * entry holding a rare word makes the estimate 1% of the rows where the truth is 0.1%, and the planner then
 * walks another index for a LIMIT instead of using the trigram index (measured on PostgreSQL 18: 7 of 30
 * ANALYZEs of a 150,000-row table). At 1,000 entries the estimate was right in 150 of 150.
 */
export const PATTERN_STATISTICS_TARGET = 1000;

/**
 * ALTER INDEX ... SET STATISTICS for the expression columns of a trigram index (none for other kinds):
 * the setting lives on the index and goes with it. Pure.
 */
export function statisticsSql(c: CandidateIndex, qualifiedIndex: string): string[] {
  if (c.method !== 'gin' || !c.opclass?.endsWith('gin_trgm_ops')) return [];
  return c.columns.flatMap((x, i) =>
    x.expression
      ? [`ALTER INDEX ${qualifiedIndex} ALTER COLUMN ${i + 1} SET STATISTICS ${PATTERN_STATISTICS_TARGET}`]
      : [],
  );
}

/**
 * ALTER TABLE ... SET STATISTICS for the plain columns of a trigram index whose target is the default (a
 * target the user chose is left alone). A plain column's pattern selectivity is read from the column's own
 * histogram, which an index cannot carry a target for: the same sample-dependent estimate as on an
 * expression (a contact search `full_name ~* 'okonkwo' ORDER BY id LIMIT 25` walked the primary key after 3
 * of 30 ANALYZEs on PostgreSQL 15 at the default, none at 1,000). Unlike the index's setting, this one is
 * the table's and stays when the index is dropped. Pure.
 */
export function columnStatisticsSql(c: CandidateIndex): string[] {
  const table = quoteQualified(c.table.schema, c.table.name);
  return raisedStatisticsColumns(c).map(
    (column) =>
      `ALTER TABLE ${table} ALTER COLUMN ${quoteIdent(column)} SET STATISTICS ${PATTERN_STATISTICS_TARGET}`,
  );
}

/** The plain columns of a trigram index at the default statistics target: those columnStatisticsSql raises. */
export function raisedStatisticsColumns(c: CandidateIndex): string[] {
  if (c.method !== 'gin' || !c.opclass?.endsWith('gin_trgm_ops')) return [];
  return c.columns.flatMap((x) => {
    if (x.expression) return [];
    const target = c.table.columns.find((col) => col.name === x.column)?.statisticsTarget;
    return target === null || target === undefined || target < 0 ? [x.column] : [];
  });
}

/** The definition people read: CREATE INDEX name ON table USING method (...) WHERE ... */
export function describeCandidate(c: CandidateIndex, name = candidateName(c)): string {
  return createIndexSql(c, { name });
}
