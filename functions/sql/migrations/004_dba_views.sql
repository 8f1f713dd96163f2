-- The DBA's views: index usage, slow queries, partition sizes.

CREATE VIEW dgm.index_usage AS
SELECT s.schemaname::text AS schema_name,
       s.relname::text AS table_name,
       s.indexrelname::text AS index_name,
       (SELECT pc.relname::text FROM pg_inherits pi JOIN pg_class pc ON pc.oid = pi.inhparent
        WHERE pi.inhrelid = s.indexrelid LIMIT 1) AS parent_index,
       s.idx_scan,
       s.idx_tup_read,
       s.idx_tup_fetch,
       pg_relation_size(s.indexrelid) AS index_bytes,
       pg_size_pretty(pg_relation_size(s.indexrelid)) AS index_size,
       i.indisunique AS is_unique,
       i.indisprimary AS is_primary,
       i.indisvalid AS is_valid,
       pg_get_indexdef(s.indexrelid) AS definition
FROM pg_stat_user_indexes s
JOIN pg_index i ON i.indexrelid = s.indexrelid;

-- pg_stat_statements may be missing (not preloaded, or not created): the view then says so plainly.
CREATE FUNCTION dgm.slow_query_rows(p_threshold_ms double precision)
RETURNS TABLE (queryid bigint, query text, calls bigint, total_exec_ms double precision,
               mean_exec_ms double precision, max_exec_ms double precision, rows bigint,
               shared_blks_hit bigint, shared_blks_read bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  ext_schema text;
BEGIN
  SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  WHERE e.extname = 'pg_stat_statements';
  IF ext_schema IS NULL THEN
    RAISE EXCEPTION 'dgm.slow_queries needs the pg_stat_statements extension'
      USING HINT = 'Add pg_stat_statements to shared_preload_libraries (on RDS: the parameter group), restart, then CREATE EXTENSION pg_stat_statements.';
  END IF;
  BEGIN
    RETURN QUERY EXECUTE format(
      'SELECT s.queryid, s.query, s.calls, s.total_exec_time, s.mean_exec_time, s.max_exec_time, s.rows, '
      's.shared_blks_hit, s.shared_blks_read FROM %I.pg_stat_statements s '
      'WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.mean_exec_time >= $1 '
      'ORDER BY s.mean_exec_time DESC', ext_schema) USING p_threshold_ms;
  EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RAISE EXCEPTION 'dgm.slow_queries needs pg_stat_statements in shared_preload_libraries'
      USING HINT = 'Add pg_stat_statements to shared_preload_libraries (on RDS: the parameter group) and restart the server.';
  END;
END $$;

-- Statements whose mean time is at least dgm.slow_query_threshold_ms (a setting; default 200 ms).
CREATE VIEW dgm.slow_queries AS
SELECT * FROM dgm.slow_query_rows(coalesce(nullif(current_setting('dgm.slow_query_threshold_ms', true), '')::double precision, 200));

CREATE VIEW dgm.partition_sizes AS
SELECT pn.nspname::text AS parent_schema,
       p.relname::text AS parent_table,
       n.nspname::text AS partition_schema,
       c.relname::text AS partition_name,
       t.level,
       t.isleaf AS is_leaf,
       pg_get_expr(c.relpartbound, c.oid) AS bounds,
       pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' AS is_default,
       greatest(c.reltuples, 0)::bigint AS estimated_rows,
       pg_total_relation_size(c.oid) AS total_bytes,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS total_size,
       (cfg.parent_table IS NOT NULL) AS managed
FROM pg_partitioned_table pt
JOIN pg_class p ON p.oid = pt.partrelid AND NOT p.relispartition
JOIN pg_namespace pn ON pn.oid = p.relnamespace
CROSS JOIN LATERAL pg_partition_tree(p.oid) t
JOIN pg_class c ON c.oid = t.relid AND t.relid <> p.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN dgm.partition_config cfg ON to_regclass(cfg.parent_table) = p.oid;

-- Create the current and coming partitions of the DGM tables.
SELECT dgm.daily_partition_maintenance();
