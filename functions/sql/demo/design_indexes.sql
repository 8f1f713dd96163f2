-- The design's secondary indexes (named idx_*; not unique, not primary), roots only, with their definitions.
SELECT format('%I.%I', n.nspname, c.relname) AS name, pg_get_indexdef(c.oid) AS definition
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index i ON i.indexrelid = c.oid
WHERE n.nspname = 'dgm' AND c.relkind IN ('i', 'I') AND NOT c.relispartition
  AND NOT i.indisunique AND NOT i.indisprimary AND c.relname LIKE 'idx\_%'
ORDER BY 1
