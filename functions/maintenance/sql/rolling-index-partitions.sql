-- The partitions below table $1 (oid), each with the index of the partitioned index $2 (oid, or NULL)
-- attached to it, and any index named $3-suffixed (the name a rolling build gives it) already there.
SELECT t.relid::oid AS relid, t.parentrelid::oid AS parent_relid, t.isleaf AS is_leaf, t.level,
       n.nspname::text AS schema_name, c.relname::text AS table_name,
       dgm.fit_identifier(c.relname, $3::text) AS planned_index_name,
       att.index_name AS attached_index,
       own.index_name AS named_index, own.is_valid AS named_index_valid, own.is_attached AS named_index_attached
FROM pg_partition_tree($1::regclass) t
JOIN pg_class c ON c.oid = t.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
  SELECT ci.relname::text AS index_name
  FROM pg_partition_tree($2::regclass) it
  JOIN pg_index ix ON ix.indexrelid = it.relid
  JOIN pg_class ci ON ci.oid = it.relid
  WHERE $2::oid IS NOT NULL AND ix.indrelid = t.relid
) att ON true
LEFT JOIN LATERAL (
  SELECT ci.relname::text AS index_name, ix.indisvalid AS is_valid, ci.relispartition AS is_attached
  FROM pg_index ix JOIN pg_class ci ON ci.oid = ix.indexrelid
  WHERE ix.indrelid = t.relid AND ci.relname = dgm.fit_identifier(c.relname, $3::text)
) own ON true
WHERE t.level > 0
ORDER BY t.level, c.relname
