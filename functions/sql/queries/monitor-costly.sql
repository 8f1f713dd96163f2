-- Sampler, on the costly samples only (every monitoring.slowCollectionEvery samples, the first, and
-- --full), one more round trip after round trip 2 has said they are due: the database's size, a heap
-- bloat estimate and the archive's compliance scores. pg_database_size() stats every file of the database
-- (about 1 ms per thousand files); the archive scores read every archive row of the last 30 days (270 ms
-- at 2 million rows); planning the pg_stats view alone would cost every regular sample a millisecond.
-- The --#if dgm section needs the DGM schema (functions/monitor/sql-template.ts renders it).
-- $1 = tables listed.
-- A cheap heap bloat estimate (no table scan): the pages the live rows need, from pg_class.reltuples
-- and the column widths in pg_stats, against the pages the table has. Tables lacking statistics for
-- some column (never analyzed, or not readable by this role) are left out rather than guessed.
WITH /* dgm-db-ops:sampler */
bloat_leaf AS (
  SELECT CASE WHEN c.relispartition THEN pg_partition_root(c.oid) ELSE c.oid END AS root,
         c.relpages::bigint AS pages, c.reltuples,
         coalesce((SELECT substring(o FROM '^fillfactor=(\d+)$')::int FROM unnest(c.reloptions) o
                   WHERE o LIKE 'fillfactor=%'), 100) AS fillfactor,
         st.width, st.has_nulls, st.ncols
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN (SELECT s.schemaname, s.tablename, count(*) AS ncols, sum((1 - s.null_frac) * s.avg_width) AS width,
               bool_or(s.null_frac > 0) AS has_nulls
        FROM pg_stats s WHERE NOT s.inherited GROUP BY 1, 2) st
    ON st.schemaname = n.nspname AND st.tablename = c.relname
  WHERE c.relkind IN ('r', 'm') AND c.relpages >= 8 AND c.reltuples > 0
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
    AND st.ncols = (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
),
bloat_est AS (
  SELECT b.root, b.pages,
         -- tuple header (23 bytes, plus a null bitmap) and data, each aligned to 8, plus a 4-byte line pointer
         ceil(b.reltuples / greatest(1, floor((current_setting('block_size')::int - 24) * b.fillfactor / 100.0
              / (ceil((23 + CASE WHEN b.has_nulls THEN ceil(b.ncols / 8.0) ELSE 0 END) / 8.0) * 8
                 + ceil(b.width / 8.0) * 8 + 4)))) AS expected_pages
  FROM bloat_leaf b
),
bloat_root AS (
  SELECT e.root, sum(e.pages)::bigint * current_setting('block_size')::bigint AS bytes,
         sum(greatest(e.pages - e.expected_pages, 0))::bigint * current_setting('block_size')::bigint AS bloat_bytes
  FROM bloat_est e GROUP BY e.root
)
SELECT
  -- This statement's queryid (14+): stored with the costly figures, so no later sample counts it as workload.
  (SELECT (to_jsonb(a)->>'query_id')::bigint FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()) AS own_query_id,
  pg_database_size(current_database()) AS database_bytes,
  jsonb_build_object(
    'total', (SELECT coalesce(sum(bloat_bytes), 0) FROM bloat_root),
    'tables', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                 'schema', n.nspname, 'name', c.relname, 'bytes', r.bytes, 'bloatBytes', r.bloat_bytes,
                 'ratio', r.bloat_bytes::float8 / nullif(r.bytes, 0)) ORDER BY r.bloat_bytes DESC), '[]')
               FROM (SELECT * FROM bloat_root ORDER BY bloat_bytes DESC, root LIMIT $1) r
               JOIN pg_class c ON c.oid = r.root JOIN pg_namespace n ON n.oid = c.relnamespace)
  ) AS bloat
--#if dgm
  -- One pass over the archive's last 30 days gives both windows.
  , (SELECT jsonb_build_object(
       'score24h', avg(a.constitutional_compliance_score) FILTER (WHERE a.created_at > now() - interval '24 hours'),
       'rows24h', count(*) FILTER (WHERE a.created_at > now() - interval '24 hours'),
       'score30d', avg(a.constitutional_compliance_score))
     FROM dgm.dgm_archive a WHERE a.created_at > now() - interval '30 days') AS archive
--#endif
