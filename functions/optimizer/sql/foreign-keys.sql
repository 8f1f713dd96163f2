-- Foreign keys that reference the named tables: per constraint the referencing (child) table and its
-- columns, the referenced (parent) table and its columns, in key order, and the actions on the parent's
-- DELETE and UPDATE (a: no action, r: restrict, c: cascade, n: set null, d: set default). Each of the
-- parent's deleted rows, and each update of a referenced column, looks the child up by its columns.
-- $1 schemas (NULL: search_path), $2 names, in pairs.
WITH wanted AS (
  SELECT DISTINCT to_regclass(CASE WHEN w.s IS NULL THEN quote_ident(w.n) ELSE quote_ident(w.s) || '.' || quote_ident(w.n) END)::oid AS oid
  FROM unnest($1::text[], $2::text[]) AS w(s, n)
)
SELECT con.conname::text AS name,
  cn.nspname::text AS child_schema, cc.relname::text AS child_name,
  pn.nspname::text AS parent_schema, pc.relname::text AS parent_name,
  (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS child_columns,
  (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS parent_columns,
  con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update
FROM pg_constraint con
JOIN wanted w ON w.oid = con.confrelid
JOIN pg_class cc ON cc.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
JOIN pg_class pc ON pc.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE con.contype = 'f'
  -- The constraint itself, not its clones on a partitioned child's partitions.
  AND con.conparentid = 0
  AND cn.nspname NOT IN ('pg_catalog', 'information_schema') AND cn.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1, 2, 3
