-- The tables the statistics task looks after (top-level tables of schemas $1 and the relations $2, given as
-- oids) with each column's type class (scalar: compared by equality or range; not floats), whether an index
-- uses it, its statistics target (on the table and, for a partitioned one, the distinct
-- targets on its partitions) and distinct-value estimate (n_distinct < 0 is a fraction of the rows).
-- Per table also when it was last analyzed, the rows changed since, and the change count at which
-- autovacuum would analyze it (its own autovacuum_analyze_threshold/_scale_factor, else the server's).
-- Autovacuum never analyzes a partitioned table: its changes are its leaves' changes since their last
-- analyze, plus, for a leaf autovacuum analyzed after the parent was, at least that leaf's threshold.
WITH tables AS (
  SELECT c.oid, n.nspname::text AS schema_name, c.relname::text AS table_name, c.relkind::text AS kind,
         c.reltuples::float8 AS reltuples, c.reloptions
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
    AND (n.nspname = ANY ($1::text[]) OR c.oid = ANY ($2::oid[]))
),
threshold_of AS (
  SELECT c.oid,
         coalesce((SELECT option_value FROM pg_options_to_table(c.reloptions)
                   WHERE option_name = 'autovacuum_analyze_threshold'),
                  current_setting('autovacuum_analyze_threshold'))::float8
         + coalesce((SELECT option_value FROM pg_options_to_table(c.reloptions)
                     WHERE option_name = 'autovacuum_analyze_scale_factor'),
                    current_setting('autovacuum_analyze_scale_factor'))::float8
           * greatest(c.reltuples, 0)::float8 AS threshold
  FROM pg_class c
  WHERE c.oid IN (SELECT oid FROM tables)
     OR c.oid IN (SELECT pt.relid FROM tables t, pg_partition_tree(t.oid) pt WHERE t.kind = 'p' AND pt.isleaf)
),
analyzed AS (
  SELECT t.oid,
         greatest(s.last_analyze, s.last_autoanalyze) AS last_analyzed,
         CASE WHEN t.kind <> 'p' THEN coalesce(s.n_mod_since_analyze, 0)::float8
              ELSE (SELECT coalesce(sum(ls.n_mod_since_analyze
                                        + CASE WHEN ls.last_autoanalyze > s.last_analyze THEN lt.threshold ELSE 0 END),
                                    0)::float8
                    FROM pg_partition_tree(t.oid) pt
                    JOIN pg_stat_all_tables ls ON ls.relid = pt.relid
                    JOIN threshold_of lt ON lt.oid = pt.relid
                    WHERE pt.isleaf)
         END AS changes,
         th.threshold
  FROM tables t
  LEFT JOIN pg_stat_all_tables s ON s.relid = t.oid
  JOIN threshold_of th ON th.oid = t.oid
)
SELECT t.oid::bigint AS table_oid, t.schema_name, t.table_name, t.kind, t.reltuples,
       an.last_analyzed, an.changes, an.threshold AS analyze_threshold,
       a.attname::text AS column_name,
       ((ty.typcategory IN ('N', 'S', 'D') AND ty.typname NOT IN ('float4', 'float8', 'numeric'))
        OR ty.typname = 'uuid') AS scalar,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = t.oid AND a.attnum = ANY (i.indkey::int2[])) AS indexed,
       coalesce(a.attstattarget, -1)::int AS stat_target,
       (SELECT array_agg(DISTINCT coalesce(pa.attstattarget, -1)::int)
          FROM pg_partition_tree(t.oid) pt
          JOIN pg_attribute pa ON pa.attrelid = pt.relid AND pa.attname = a.attname AND NOT pa.attisdropped
         WHERE t.kind = 'p' AND pt.relid <> t.oid) AS partition_targets,
       s.n_distinct::float8 AS n_distinct
FROM tables t
JOIN analyzed an ON an.oid = t.oid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_stats s ON s.schemaname = t.schema_name AND s.tablename = t.table_name AND s.attname = a.attname
                    AND s.inherited = (t.kind = 'p')
ORDER BY t.schema_name, t.table_name, a.attnum
