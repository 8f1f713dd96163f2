-- The expression columns of this target's live auto-created trigram indexes (each leaf index of a
-- partitioned one) still at the default statistics target: built before the build plan set it, or by a
-- build interrupted between the CREATE and the ALTER INDEX. $1 target, $2 the target they should have.
WITH live AS (
  SELECT a.id, a.table_schema, a.table_name,
         to_regclass(format('%I.%I', a.index_schema, a.index_name)) AS root
  FROM dgm.auto_indexes a
  WHERE a.target = $1 AND a.status IN ('active', 'verified', 'probation')
),
leaves AS (
  SELECT l.id, l.table_schema, l.table_name, t.relid
  FROM live l, LATERAL (SELECT p.relid FROM pg_partition_tree(l.root) p UNION SELECT l.root) t
  WHERE l.root IS NOT NULL
)
SELECT l.id, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS index_name,
       quote_ident(tn.nspname) || '.' || quote_ident(tc.relname) AS table_name, att.attnum
FROM leaves l
JOIN pg_class c ON c.oid = l.relid AND c.relkind = 'i'
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index i ON i.indexrelid = c.oid
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace tn ON tn.oid = tc.relnamespace
JOIN pg_attribute att ON att.attrelid = c.oid AND att.attnum > 0 AND att.attnum <= i.indnkeyatts
JOIN pg_opclass oc ON oc.oid = i.indclass[att.attnum - 1]
WHERE oc.opcname = 'gin_trgm_ops'
  AND i.indkey[att.attnum - 1] = 0
  AND coalesce(att.attstattarget::int, -1) <> $2
ORDER BY l.id, c.relname, att.attnum
