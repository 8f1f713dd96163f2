-- The leaf tables under each (schema, name) pair (a plain table is its own leaf), with their storage
-- parameters; a pair with no such table comes back once with leaf columns NULL.
SELECT w.ord::int AS ord, (c.oid IS NOT NULL) AS found, l.schema_name, l.table_name, l.reloptions
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(schema_name, table_name, ord)
LEFT JOIN pg_namespace n ON n.nspname = w.schema_name
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.table_name AND c.relkind IN ('r', 'p', 'm')
LEFT JOIN LATERAL (
  SELECT ln.nspname::text AS schema_name, lc.relname::text AS table_name, coalesce(lc.reloptions, '{}') AS reloptions
  -- pg_partition_tree() has no rows for a table outside any partition tree: such a table is its own leaf.
  FROM (SELECT pt.relid, pt.isleaf FROM pg_partition_tree(c.oid) pt
        UNION ALL
        SELECT c.oid::regclass, true WHERE NOT c.relispartition AND c.relkind <> 'p') t
  JOIN pg_class lc ON lc.oid = t.relid
  JOIN pg_namespace ln ON ln.oid = lc.relnamespace
  WHERE t.isleaf AND lc.relkind IN ('r', 'm')
) l ON true
ORDER BY w.ord, l.schema_name, l.table_name
