-- A rolling partial index ($1 schema, $2 name) and its "next" build ($3 name), with the cutoff parsed
-- from a predicate of the form (column >= 'constant'::type); $4 is the wanted cutoff, rendered as a bound
-- literal for the column's type. Run with TimeZone UTC so timestamptz constants print in UTC.
WITH idx AS (
  SELECT i.indexrelid, i.indrelid, ci.relname::text AS index_name, ci.relkind::text AS index_kind,
         n.nspname::text AS table_schema, ct.relname::text AS table_name, ct.relkind::text AS table_kind,
         pg_get_indexdef(i.indexrelid) AS definition, pg_get_expr(i.indpred, i.indrelid) AS predicate,
         quote_ident(am.amname) AS am_ident, i.indisunique AS is_unique, i.indisvalid AS is_valid,
         quote_ident(ci.relname) AS index_ident, i.indrelid::regclass::text AS table_text
  FROM pg_index i
  JOIN pg_class ci ON ci.oid = i.indexrelid
  JOIN pg_namespace ni ON ni.oid = ci.relnamespace
  JOIN pg_class ct ON ct.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = ct.relnamespace
  JOIN pg_am am ON am.oid = ci.relam
  WHERE ni.nspname = $1 AND ci.relname IN ($2, $3)
)
SELECT idx.*, m[1] AS column_ident,
       CASE WHEN m IS NULL THEN NULL ELSE m[2]::timestamptz END AS cutoff,
       m[3] AS column_type,
       CASE WHEN m IS NULL THEN NULL ELSE dgm.partition_bound_literal($4::timestamptz, m[3]) END AS wanted_literal
FROM idx
LEFT JOIN LATERAL regexp_match(idx.predicate,
  '^\((.+) >= ''([^'']+)''::(timestamp with time zone|timestamp without time zone|date)\)$') AS m ON true
