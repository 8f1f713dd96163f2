-- The columns whose statistics target a dropped auto-created index's build raised (registry review
-- column_statistics), still at that target ($2), and read by no other trigram index of the table: their
-- target goes back to the default. $1 the registry id.
SELECT c.col AS column_name, a.table_schema, a.table_name
FROM dgm.auto_indexes a
CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(a.review -> 'column_statistics', '[]'::jsonb)) AS c(col)
JOIN pg_attribute att
  ON att.attrelid = to_regclass(format('%I.%I', a.table_schema, a.table_name)) AND att.attname = c.col
WHERE a.id = $1
  AND att.attstattarget::int = $2
  AND NOT EXISTS (
    SELECT 1
    FROM pg_index i
    CROSS JOIN LATERAL generate_subscripts(i.indkey, 1) AS k
    JOIN pg_opclass oc ON oc.oid = i.indclass[k]
    WHERE i.indrelid = att.attrelid AND i.indkey[k] = att.attnum AND oc.opcname = 'gin_trgm_ops'
  )
