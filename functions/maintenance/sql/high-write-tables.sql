-- Tables (a partitioned table summed over its leaves) in the schemas looked after with at least $2 rows,
-- and the rows updated or deleted in them since the cumulative statistics were last reset: the write
-- churn that leaves dead tuples for vacuum. Inserts are not counted: insert-only tables leave no dead
-- tuples and autovacuum's insert threshold (PostgreSQL 13+) already vacuums them for freezing.
-- Rows: reltuples (the last VACUUM or ANALYZE), n_live_tup only for a table never vacuumed or analyzed
-- (reltuples -1): n_live_tup drifts (a session's counts flushed after an ANALYZE are added again).
SELECT n.nspname::text AS schema_name, c.relname::text AS table_name,
       sum(coalesce(s.n_tup_upd, 0) + coalesce(s.n_tup_del, 0))::float8 AS churn,
       sum(CASE WHEN lc.reltuples >= 0 THEN lc.reltuples ELSE coalesce(s.n_live_tup, 0) END)::float8 AS row_count,
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS stats_reset
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (
  SELECT pt.relid FROM pg_partition_tree(c.oid) pt WHERE c.relkind = 'p' AND pt.isleaf
  UNION ALL
  SELECT c.oid::regclass WHERE c.relkind = 'r'
) t
JOIN pg_class lc ON lc.oid = t.relid AND lc.relkind = 'r'
LEFT JOIN pg_stat_user_tables s ON s.relid = lc.oid
WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
GROUP BY n.nspname, c.relname
HAVING sum(CASE WHEN lc.reltuples >= 0 THEN lc.reltuples ELSE coalesce(s.n_live_tup, 0) END) >= $2
ORDER BY n.nspname, c.relname
