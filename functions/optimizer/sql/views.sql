-- The views among the relations a workload's statements name, with their definitions: the optimizer reads
-- a statement through a view as the tables beneath it (optimizer/views.ts). Views in the system schemas
-- are never read. $1 schemas (NULL: search_path), $2 names, in pairs.
WITH wanted AS (
  SELECT w.s, w.n, to_regclass(CASE WHEN w.s IS NULL THEN quote_ident(w.n) ELSE quote_ident(w.s) || '.' || quote_ident(w.n) END) AS oid
  FROM unnest($1::text[], $2::text[]) AS w(s, n)
)
SELECT w.s AS requested_schema, w.n AS requested_name, n.nspname::text AS schema_name, c.relname::text AS view_name,
       pg_get_viewdef(c.oid) AS definition
FROM wanted w JOIN pg_class c ON c.oid = w.oid::oid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
