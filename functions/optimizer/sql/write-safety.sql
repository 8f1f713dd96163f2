-- What a SELECT (and the definitions of the views it reads) names, judged for re-execution
-- (optimizer/measure.ts cannotWrite): whether every function and operator resolves only to immutable or
-- stable functions, and what kind of relation each name is (the caller accepts tables, materialized views,
-- and the views whose definitions it has read; not a table whose row-level security policies apply). $1/$2 function schemas (NULL: search_path) and names,
-- $3/$4 operators, $5/$6 relations, in pairs.
WITH f AS (SELECT * FROM unnest($1::text[], $2::text[]) AS f(schema, name)),
     o AS (SELECT * FROM unnest($3::text[], $4::text[]) AS o(schema, name)),
     r AS (SELECT * FROM unnest($5::text[], $6::text[]) AS r(schema, name))
SELECT 'function' AS kind, f.schema, f.name, coalesce(bool_and(p.provolatile IN ('i', 's')), false) AS ok,
       NULL::text AS relkind
FROM f LEFT JOIN pg_proc p ON p.proname = f.name
  AND p.pronamespace IN (SELECT oid FROM pg_namespace
                         WHERE nspname = coalesce(f.schema, nspname)
                           AND (f.schema IS NOT NULL OR nspname = ANY (current_schemas(true))))
GROUP BY f.schema, f.name
UNION ALL
SELECT 'operator', o.schema, o.name, coalesce(bool_and(p.provolatile IN ('i', 's')), false), NULL
FROM o LEFT JOIN pg_operator op ON op.oprname = o.name
  AND op.oprnamespace IN (SELECT oid FROM pg_namespace
                          WHERE nspname = coalesce(o.schema, nspname)
                            AND (o.schema IS NOT NULL OR nspname = ANY (current_schemas(true))))
LEFT JOIN pg_proc p ON p.oid = op.oprcode
GROUP BY o.schema, o.name
UNION ALL
-- A table whose row-level security policies apply to this role runs their expressions on every read.
SELECT 'relation', r.schema, r.name,
       c.relkind IN ('r', 'p', 'm') AND NOT (c.relkind IN ('r', 'p') AND c.relrowsecurity AND row_security_active(c.oid)),
       CASE WHEN c.relkind IN ('r', 'p') AND c.relrowsecurity AND row_security_active(c.oid) THEN 'policies'
            ELSE c.relkind::text END
FROM r LEFT JOIN pg_class c
  ON c.oid = to_regclass(CASE WHEN r.schema IS NULL THEN format('%I', r.name) ELSE format('%I.%I', r.schema, r.name) END)
