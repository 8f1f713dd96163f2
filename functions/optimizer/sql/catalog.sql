-- The optimizer's view of the tables a workload touches: columns with their statistics, indexes with
-- their keys, sizes, and read/write activity (partitioned tables summed over their leaves).
-- $1 schemas (NULL: search_path), $2 names, in pairs.
WITH wanted AS (
  SELECT w.s, w.n, to_regclass(CASE WHEN w.s IS NULL THEN quote_ident(w.n) ELSE quote_ident(w.s) || '.' || quote_ident(w.n) END) AS oid
  FROM unnest($1::text[], $2::text[]) AS w(s, n)
),
rels AS (
  SELECT DISTINCT c.oid, n.nspname::text AS schema_name, c.relname::text AS table_name, c.relkind::text AS relkind,
         c.relispartition AS is_partition
  FROM wanted w JOIN pg_class c ON c.oid = w.oid::oid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'm')
),
-- pg_partition_tree lists nothing for a plain table: it is its own leaf.
leaves AS (
  SELECT r.oid AS root, t.relid AS leaf
  FROM rels r CROSS JOIN LATERAL pg_partition_tree(r.oid) t
  WHERE t.isleaf
  UNION
  SELECT r.oid, r.oid FROM rels r WHERE r.relkind <> 'p'
)
SELECT r.oid::bigint AS oid, r.schema_name, r.table_name, r.relkind, r.is_partition,
  (SELECT jsonb_agg(jsonb_build_object('schema', w.s, 'name', w.n)) FROM wanted w WHERE w.oid::oid = r.oid) AS requested,
  (SELECT count(*) FROM leaves l WHERE l.root = r.oid)::int AS leaf_count,
  (SELECT coalesce(sum(pg_total_relation_size(l.leaf)), 0) FROM leaves l WHERE l.root = r.oid)::bigint AS total_bytes,
  (SELECT coalesce(sum(pg_relation_size(l.leaf)), 0) FROM leaves l WHERE l.root = r.oid)::bigint AS heap_bytes,
  (SELECT coalesce(sum(greatest(c.reltuples, 0)), 0) FROM leaves l JOIN pg_class c ON c.oid = l.leaf
    WHERE l.root = r.oid)::float8 AS reltuples,
  (SELECT jsonb_build_object(
     'seq_scan', coalesce(sum(s.seq_scan), 0), 'seq_tup_read', coalesce(sum(s.seq_tup_read), 0),
     'idx_scan', coalesce(sum(s.idx_scan), 0), 'idx_tup_fetch', coalesce(sum(s.idx_tup_fetch), 0),
     'n_tup_ins', coalesce(sum(s.n_tup_ins), 0), 'n_tup_upd', coalesce(sum(s.n_tup_upd), 0),
     'n_tup_del', coalesce(sum(s.n_tup_del), 0), 'n_live_tup', coalesce(sum(s.n_live_tup), 0),
     'n_dead_tup', coalesce(sum(s.n_dead_tup), 0))
   FROM leaves l JOIN pg_stat_all_tables s ON s.relid = l.leaf WHERE l.root = r.oid) AS activity,
  (SELECT coalesce(jsonb_agg(jsonb_build_object(
     'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'typeCategory', t.typcategory,
     'notNull', a.attnotnull, 'nDistinct', st.n_distinct, 'nullFrac', st.null_frac, 'avgWidth', st.avg_width,
     'correlation', st.correlation, 'statisticsTarget', a.attstattarget,
     'collation', CASE WHEN a.attcollation = 0 THEN NULL
                       WHEN a.attcollation = 100 THEN (SELECT datcollate FROM pg_database WHERE datname = current_database())
                       ELSE (SELECT collcollate FROM pg_collation WHERE oid = a.attcollation) END,
     'collationC', CASE WHEN a.attcollation = 0 THEN NULL
                       ELSE (SELECT collname IN ('C', 'POSIX', 'ucs_basic') FROM pg_collation WHERE oid = a.attcollation) END)
     ORDER BY a.attnum), '[]')
   FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
   LEFT JOIN pg_stats st ON st.schemaname = r.schema_name AND st.tablename = r.table_name AND st.attname = a.attname
                        AND st.inherited = (r.relkind = 'p')
   WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
  (SELECT coalesce(jsonb_agg(jsonb_build_object(
     'oid', i.indexrelid::bigint, 'name', ic.relname, 'schema', inn.nspname, 'method', am.amname,
     'valid', i.indisvalid, 'unique', i.indisunique, 'primary', i.indisprimary,
     'keyCount', i.indnkeyatts, 'predicate', pg_get_expr(i.indpred, i.indrelid),
     'definition', pg_get_indexdef(i.indexrelid),
     'keys', (SELECT jsonb_agg(jsonb_build_object(
                'column', CASE WHEN k.attnum = 0 THEN NULL ELSE (SELECT attname FROM pg_attribute WHERE attrelid = i.indrelid AND attnum = k.attnum) END,
                'expression', CASE WHEN k.attnum = 0 THEN pg_get_indexdef(i.indexrelid, k.ord::int, true) END,
                'desc', k.ord <= i.indnkeyatts AND (i.indoption[k.ord - 1] & 1) = 1,
                'nullsFirst', k.ord <= i.indnkeyatts AND (i.indoption[k.ord - 1] & 2) = 2,
                'opclass', (SELECT opcname FROM pg_opclass WHERE oid = i.indclass[k.ord - 1]),
                'included', k.ord > i.indnkeyatts) ORDER BY k.ord)
              FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)),
     'bytes', (SELECT coalesce(sum(pg_relation_size(t.relid)), 0)
               FROM (SELECT relid FROM pg_partition_tree(i.indexrelid) UNION SELECT i.indexrelid) t),
     'scans', (SELECT coalesce(sum(s.idx_scan), 0)
               FROM (SELECT relid FROM pg_partition_tree(i.indexrelid) UNION SELECT i.indexrelid) t
               JOIN pg_stat_all_indexes s ON s.indexrelid = t.relid)) ORDER BY ic.relname), '[]')
   FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace inn ON inn.oid = ic.relnamespace
   JOIN pg_am am ON am.oid = ic.relam
   WHERE i.indrelid = r.oid) AS indexes
FROM rels r
