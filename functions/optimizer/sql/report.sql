-- The performance report's figures in one round trip: database size and cache hit ratio, index usage
-- rolled up to the partitioned index, partition sizes per top-level partition, the optimizer's own
-- indexes, and recent governance events.
SELECT current_database() AS database,
       pg_database_size(current_database()) AS database_bytes,
       current_setting('server_version') AS server_version,
       (SELECT CASE WHEN sum(blks_hit + blks_read) > 0 THEN sum(blks_hit)::float8 / sum(blks_hit + blks_read) END
        FROM pg_stat_database WHERE datname = current_database()) AS cache_hit_ratio,
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg') AS hypopg_available,
       (SELECT coalesce(jsonb_agg(u ORDER BY u.scans DESC, u.bytes DESC), '[]') FROM (
          SELECT n.nspname AS schema, t.relname AS table, r.relname AS index,
                 sum(coalesce(s.idx_scan, 0))::bigint AS scans,
                 sum(pg_relation_size(x.indexrelid))::bigint AS bytes,
                 bool_or(i.indisunique) AS unique, bool_or(i.indisprimary) AS primary,
                 bool_and(ri.indisvalid) AS valid,
                 EXISTS (SELECT 1 FROM dgm.auto_indexes a WHERE a.index_schema = n.nspname AND a.index_name = r.relname
                          AND a.status IN ('active', 'verified')) AS auto_created
          FROM pg_index x
          JOIN pg_class c ON c.oid = x.indexrelid
          JOIN pg_class r ON r.oid = coalesce(pg_partition_root(x.indexrelid), x.indexrelid)
          JOIN pg_index ri ON ri.indexrelid = r.oid
          JOIN pg_class t ON t.oid = ri.indrelid
          JOIN pg_namespace n ON n.oid = r.relnamespace
          JOIN pg_index i ON i.indexrelid = x.indexrelid
          LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = x.indexrelid
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind = 'i'
          GROUP BY n.nspname, t.relname, r.relname) u) AS index_usage,
       (SELECT coalesce(jsonb_agg(p ORDER BY p.parent, p.partition), '[]') FROM (
          SELECT format('%I.%I', rn.nspname, root.relname) AS parent,
                 c.relname AS partition,
                 pg_get_expr(c.relpartbound, c.oid) AS bounds,
                 (SELECT coalesce(sum(pg_total_relation_size(l.relid)), 0) FROM pg_partition_tree(c.oid) l WHERE l.isleaf)::bigint AS bytes,
                 (SELECT coalesce(sum(greatest(lc.reltuples, 0)), 0) FROM pg_partition_tree(c.oid) l
                   JOIN pg_class lc ON lc.oid = l.relid WHERE l.isleaf)::bigint AS rows
          FROM pg_partitioned_table pt
          JOIN pg_class root ON root.oid = pt.partrelid AND NOT root.relispartition
          JOIN pg_namespace rn ON rn.oid = root.relnamespace
          JOIN pg_inherits inh ON inh.inhparent = root.oid
          JOIN pg_class c ON c.oid = inh.inhrelid) p) AS partitions,
       -- One row per index name, its latest registry row: an index built, dropped and built again (names
       -- derive from the definition) is in one state, not listed as active and dropped at once.
       (SELECT coalesce(jsonb_agg(a ORDER BY a.created_at DESC), '[]') FROM (
          SELECT * FROM (
            SELECT DISTINCT ON (index_schema, index_name)
                   format('%I.%I', index_schema, index_name) AS index, format('%I.%I', table_schema, table_name) AS table,
                   status, created_at, bytes, estimated_bytes, verification, review, dropped_at, drop_reason,
                   count(*) OVER (PARTITION BY index_schema, index_name) AS builds
            FROM dgm.auto_indexes WHERE target = $1
            ORDER BY index_schema, index_name, created_at DESC, id DESC) latest
          ORDER BY created_at DESC LIMIT 50) a) AS auto_indexes,
       (SELECT coalesce(jsonb_agg(g ORDER BY g.id DESC), '[]') FROM (
          SELECT id, old_hash, new_hash, changed_by, changed_at, source, status, run_id
          FROM dgm.governance_events ORDER BY id DESC LIMIT 10) g) AS governance_events,
       (SELECT to_jsonb(o) FROM (
          SELECT run_id, started_at, finished_at, status, applied, reason, method, result
          FROM dgm.optimizer_runs WHERE target = $1 ORDER BY finished_at DESC LIMIT 1) o) AS last_run
