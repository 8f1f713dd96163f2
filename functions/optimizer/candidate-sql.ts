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

/** The definition people read: CREATE INDEX name ON table USING method (...) WHERE ... */
export function describeCandidate(c: CandidateIndex, name = candidateName(c)): string {
  return createIndexSql(c, { name });
}
