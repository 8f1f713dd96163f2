-- Per btree index (not partitioned) of schemas $1: the average width of its key and INCLUDE columns from
-- pg_stats (expression columns are in pg_stats under the index's own name), whether any may be NULL, and
-- whether statistics are missing for one (then the estimate is not trusted). After ioguix's btree_bloat.sql.
SELECT i.indexrelid::bigint AS oid,
       sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 1024))::float8 AS data_width,
       coalesce(max(s.null_frac), 0) > 0 AS has_nulls,
       bool_or(s.attname IS NULL) AS stats_missing,
       bool_or(a.atttypid = 'pg_catalog.name'::regtype) AS has_name_type,
       current_setting('block_size')::int AS block_size
FROM pg_index i
JOIN pg_class ci ON ci.oid = i.indexrelid AND ci.relkind = 'i'
JOIN pg_am am ON am.oid = ci.relam AND am.amname = 'btree'
JOIN pg_class ct ON ct.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ct.relnamespace
CROSS JOIN LATERAL generate_series(1, i.indnatts) AS k(pos)
LEFT JOIN pg_attribute a
  ON a.attrelid = CASE WHEN i.indkey[k.pos - 1] = 0 THEN i.indexrelid ELSE i.indrelid END
 AND a.attnum = CASE WHEN i.indkey[k.pos - 1] = 0 THEN k.pos ELSE i.indkey[k.pos - 1] END
LEFT JOIN pg_stats s
  ON s.schemaname = n.nspname
 AND s.tablename = CASE WHEN i.indkey[k.pos - 1] = 0 THEN ci.relname ELSE ct.relname END
 AND s.attname = a.attname
 AND NOT s.inherited
WHERE n.nspname = ANY ($1::text[])
GROUP BY i.indexrelid
