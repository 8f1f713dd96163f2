-- Sampler round trip 3 (DGM schema on a primary): store this sample's counters as the next one's
-- baseline (and the costly figures when they were collected), drop samples past the retention (the
-- newest costly one stays, it is carried between its collections), store the newly parsed statement
-- shapes, and resolve the schema of unqualified table names the way the sampler's search_path does,
-- else to the only user table of that name.
-- $1 target, $2 counters, $3 costly figures or null, $4 retention hours, $5 shapes [{queryId, normalized,
-- operation, mainTable: {schema?, name}, tables: [{schema?, name}], notWorkload: why it is not workload}].
WITH /* dgm-db-ops:sampler */
params AS (
  SELECT $1::text AS target, $2::jsonb AS counters, $3::jsonb AS slow, $4::int AS retention_hours,
         coalesce($5::jsonb, '[]') AS shapes
),
names AS (
  SELECT DISTINCT t->>'name' AS name
  FROM params p, jsonb_array_elements(p.shapes) x, jsonb_array_elements(x->'tables') t
  WHERE t->>'schema' IS NULL
),
resolved AS (
  SELECT nm.name, coalesce(
    (SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = to_regclass(quote_ident(nm.name))),
    (SELECT min(n.nspname)::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relname = nm.name AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
     HAVING count(*) = 1)) AS schema_name
  FROM names nm
),
--#if persist
sample_row AS (
  INSERT INTO dgm.stat_snapshots (target, kind, counters)
  -- The counters also name the sampler's own statements, this one included, for the next sample to skip.
  SELECT p.target, 'sample',
         jsonb_set(p.counters, '{ownQueryIds}', coalesce(p.counters->'ownQueryIds', '[]') || coalesce(
           (SELECT to_jsonb((to_jsonb(a)->>'query_id')) FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()), '[]'))
  FROM params p
  RETURNING id
),
slow_row AS (
  INSERT INTO dgm.stat_snapshots (target, kind, counters)
  SELECT p.target, 'slow', p.slow FROM params p WHERE p.slow IS NOT NULL
  RETURNING id
),
expired AS (
  DELETE FROM dgm.stat_snapshots s
  USING params p
  WHERE s.target = p.target AND s.taken_at < now() - make_interval(hours => p.retention_hours)
    AND s.id <> coalesce((SELECT max(x.id) FROM dgm.stat_snapshots x WHERE x.target = p.target AND x.kind = 'slow'), 0)
  RETURNING 1
),
shapes_in AS (
  INSERT INTO dgm.statement_shapes (queryid, normalized, operation, main_schema, main_table, tables, not_workload)
  SELECT (x->>'queryId')::bigint, x->>'normalized', x->>'operation',
         coalesce(x->'mainTable'->>'schema', (SELECT r.schema_name FROM resolved r WHERE r.name = x->'mainTable'->>'name')),
         x->'mainTable'->>'name',
         coalesce((SELECT jsonb_agg(jsonb_build_object(
                     'schema', coalesce(t->>'schema', (SELECT r.schema_name FROM resolved r WHERE r.name = t->>'name')),
                     'name', t->>'name'))
                   FROM jsonb_array_elements(x->'tables') t), '[]'),
         x->>'notWorkload'
  FROM params p, jsonb_array_elements(p.shapes) x
  ON CONFLICT (queryid) DO NOTHING
  RETURNING 1
),
-- With the costly figures, also forget the shapes of statements pg_stat_statements no longer holds. The
-- baseline holds the workload's statements only: those judged not workload are forgotten after a week
-- (and judged again if they are still there), not on every costly sample.
shapes_expired AS (
  DELETE FROM dgm.statement_shapes s
  WHERE (SELECT slow FROM params) IS NOT NULL
    AND (s.not_workload IS NULL OR s.first_seen < now() - interval '7 days')
    AND NOT EXISTS (SELECT 1 FROM dgm.stat_statement_baseline b WHERE b.queryid = s.queryid)
),
--#endif
result AS (SELECT 1)
SELECT
  (SELECT coalesce(jsonb_object_agg(r.name, r.schema_name), '{}') FROM resolved r) AS resolved
--#if persist
  , (SELECT count(*) FROM expired) AS expired
  , (SELECT count(*) FROM shapes_in) AS shapes_stored
--#endif
