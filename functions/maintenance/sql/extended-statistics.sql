-- For the tables $1 (oids): the table and its leaf partitions, each with the column sets of the extended
-- statistics objects it already has, and the column its parent LIST-partitions it by (constant in it).
SELECT r.root::bigint AS root_oid, n.nspname::text AS schema_name, c.relname::text AS table_name,
       (c.oid = r.root) AS is_root,
       (SELECT a.attname::text FROM pg_inherits i JOIN pg_partitioned_table p ON p.partrelid = i.inhparent
          JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
         WHERE i.inhrelid = c.oid AND p.partstrat = 'l' AND p.partnatts = 1) AS list_key,
       coalesce((SELECT jsonb_agg((SELECT jsonb_agg(a.attname::text ORDER BY a.attname)
                                     FROM unnest(e.stxkeys) k JOIN pg_attribute a ON a.attrelid = e.stxrelid AND a.attnum = k))
                 FROM pg_statistic_ext e WHERE e.stxrelid = c.oid), '[]'::jsonb) AS column_sets
FROM unnest($1::oid[]) AS r(root)
-- pg_partition_tree() has no rows for a table outside any partition tree: then the table alone.
CROSS JOIN LATERAL (SELECT t.relid, t.isleaf, t.level FROM pg_partition_tree(r.root) t
                    UNION ALL
                    SELECT r.root::regclass, true, 0
                    WHERE NOT EXISTS (SELECT 1 FROM pg_class x WHERE x.oid = r.root AND (x.relispartition OR x.relkind = 'p'))) pt
JOIN pg_class c ON c.oid = pt.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE pt.relid = r.root OR pt.isleaf
ORDER BY r.root, pt.level, c.relname
