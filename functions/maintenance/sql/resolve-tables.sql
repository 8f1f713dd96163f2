-- Resolves (schema, name) pairs to tables: the oid, or NULL where no such table exists.
SELECT w.ord::int AS ord, c.oid::bigint AS oid, c.relkind::text AS kind
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(schema_name, table_name, ord)
LEFT JOIN pg_namespace n ON n.nspname = w.schema_name
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.table_name AND c.relkind IN ('r', 'p', 'm')
ORDER BY w.ord
