-- Tables (and materialized views) whose transaction ID age, their TOAST table's included, reached $1:
-- the oldest first, as wraparound risk grows with age.
SELECT n.nspname::text AS schema_name, c.relname::text AS table_name,
       greatest(age(c.relfrozenxid), coalesce(age(t.relfrozenxid), 0))::bigint AS xid_age,
       pg_total_relation_size(c.oid) AS bytes
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
WHERE c.relkind IN ('r', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
  AND greatest(age(c.relfrozenxid), coalesce(age(t.relfrozenxid), 0)) >= $1
ORDER BY xid_age DESC, bytes DESC
