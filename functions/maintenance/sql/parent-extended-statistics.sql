-- Extended statistics defined on partitioned tables (roots) in the schemas $1 or registered as the
-- partition sets $2: the statistics task mirrors them onto every leaf partition. Column statistics only
-- (expression statistics are left to whoever defined them).
SELECT format('%I.%I', n.nspname, c.relname) AS table_name,
       (SELECT array_agg(a.attname::text ORDER BY k.ord)
          FROM unnest(e.stxkeys::int2[]) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = e.stxrelid AND a.attnum = k.attnum) AS columns,
       e.stxkind::text[] AS kinds
FROM pg_statistic_ext e
JOIN pg_class c ON c.oid = e.stxrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'p' AND NOT c.relispartition AND e.stxexprs IS NULL AND cardinality(e.stxkeys::int2[]) >= 2
  AND (n.nspname = ANY($1::text[])
       OR c.oid IN (SELECT to_regclass(p) FROM unnest($2::text[]) AS p WHERE to_regclass(p) IS NOT NULL))
ORDER BY 1, e.stxname
