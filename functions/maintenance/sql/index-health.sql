-- Every index of the tables in schemas $1, with what index health needs: validity, ownership of
-- constraints, size, scans (summed over the partitions of a partitioned index), the identity of its
-- definition (for duplicates), the btree inputs of the bloat estimate, and the freshness of its table's
-- statistics. Partition indexes appear with parent_index set.
SELECT i.indexrelid::bigint AS oid,
       n.nspname::text AS schema_name,
       ct.relname::text AS table_name,
       ci.relname::text AS index_name,
       ci.relkind::text AS index_kind,
       ct.relkind::text AS table_kind,
       am.amname::text AS am,
       i.indisvalid AS is_valid,
       i.indisunique AS is_unique,
       i.indisprimary AS is_primary,
       co.contype::text AS constraint_type,
       ci.relispartition AS is_partition,
       (SELECT pi.inhparent::regclass::text FROM pg_inherits pi WHERE pi.inhrelid = i.indexrelid) AS parent_index,
       pg_relation_size(i.indexrelid) AS bytes,
       ci.relpages::bigint AS relpages,
       ci.reltuples::float8 AS reltuples,
       coalesce(substring(array_to_string(ci.reloptions, ' ') FROM 'fillfactor=([0-9]+)')::int, 90) AS fillfactor,
       -- pg_partition_tree() has no rows for an index outside any partition tree.
       CASE WHEN ci.relkind = 'I'
            THEN (SELECT coalesce(sum(s.idx_scan), 0) FROM pg_partition_tree(i.indexrelid) t
                    JOIN pg_stat_all_indexes s ON s.indexrelid = t.relid)
            ELSE (SELECT coalesce(s.idx_scan, 0) FROM pg_stat_all_indexes s WHERE s.indexrelid = i.indexrelid)
       END::bigint AS scans,
       concat_ws('|', i.indrelid, am.amname, i.indkey::text, i.indclass::text, i.indcollation::text,
                 i.indoption::text, i.indnkeyatts, coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
                 coalesce(pg_get_expr(i.indpred, i.indrelid), ''), i.indnullsnotdistinct::text) AS identity,
       pg_get_indexdef(i.indexrelid) AS definition,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid) AS being_built,
       st.n_live_tup::bigint AS table_live_rows,
       st.n_mod_since_analyze::bigint AS table_mods_since_analyze,
       (greatest(st.last_analyze, st.last_autoanalyze) IS NOT NULL) AS table_analyzed
FROM pg_index i
JOIN pg_class ci ON ci.oid = i.indexrelid
JOIN pg_class ct ON ct.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ct.relnamespace
JOIN pg_am am ON am.oid = ci.relam
LEFT JOIN pg_constraint co ON co.conindid = i.indexrelid AND co.contype IN ('p', 'u', 'x')
LEFT JOIN pg_stat_all_tables st ON st.relid = i.indrelid
WHERE n.nspname = ANY ($1::text[])
ORDER BY n.nspname, ct.relname, ci.relname
