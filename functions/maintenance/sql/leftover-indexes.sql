-- INVALID indexes on one table left by a failed concurrent build: exact names (CREATE INDEX CONCURRENTLY),
-- or <name>_ccnew[N] / <name>_ccold[N] of the index $4 (REINDEX CONCURRENTLY; the name part may have been
-- shortened to fit 63 bytes, so it is matched as a prefix of $4).
SELECT n.nspname::text AS schema_name, ci.relname::text AS index_name
FROM pg_index i
JOIN pg_class ci ON ci.oid = i.indexrelid
JOIN pg_class ct ON ct.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ct.relnamespace
WHERE n.nspname = $1 AND ct.relname = $2 AND NOT i.indisvalid AND ci.relkind = 'i'
  AND (ci.relname = ANY ($3::text[])
       OR ($4::text IS NOT NULL AND ci.relname ~ '_cc(new|old)[0-9]*$'
           AND starts_with($4::text, regexp_replace(ci.relname, '_cc(new|old)[0-9]*$', ''))))
