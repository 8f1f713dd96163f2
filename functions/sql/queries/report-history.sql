-- The report's history from dgm.stat_snapshots (the figures each sample keeps in counters->'history'),
-- for one target: one row per time bucket, and per bucket the top statements' calls and time.
-- $1 target, $2 end of the window (timestamptz), $3 bucket length in seconds, $4 number of buckets.
WITH s AS (
  SELECT floor(extract(epoch FROM x.taken_at) / $3)::bigint AS bucket, x.counters->'history' AS h
  FROM dgm.stat_snapshots x
  WHERE x.target = $1 AND x.kind = 'sample' AND x.counters ? 'history'
    AND x.taken_at > $2::timestamptz - make_interval(secs => $3 * $4) AND x.taken_at <= $2::timestamptz
),
series AS (
  SELECT s.bucket,
         count(*) AS samples,
         sum((s.h->>'calls')::float8) AS calls,
         sum((s.h->>'execMs')::float8) AS exec_ms,
         sum((s.h->>'intervalSeconds')::float8) FILTER (WHERE s.h->>'calls' IS NOT NULL) AS seconds,
         avg((s.h->'connections'->>'active')::float8 + (s.h->'connections'->>'idle')::float8
             + (s.h->'connections'->>'idleInTransaction')::float8) AS connections,
         avg((s.h->'connections'->>'active')::float8) AS active,
         avg((s.h->>'cacheHitRatio')::float8) AS cache_hit_ratio,
         max((s.h->>'databaseBytes')::float8) AS database_bytes
  FROM s GROUP BY s.bucket
),
top AS (
  SELECT t->>'queryId' AS query_id, s.bucket, sum((t->>'calls')::float8) AS calls, sum((t->>'totalMs')::float8) AS total_ms
  FROM s, jsonb_array_elements(s.h->'top') t
  GROUP BY 1, 2
)
SELECT
  (SELECT coalesce(jsonb_agg(jsonb_build_object(
     'bucket', bucket, 'samples', samples, 'calls', calls, 'execMs', exec_ms, 'seconds', seconds,
     'connections', connections, 'active', active, 'cacheHitRatio', cache_hit_ratio, 'databaseBytes', database_bytes)
     ORDER BY bucket), '[]') FROM series) AS series,
  (SELECT coalesce(jsonb_agg(jsonb_build_object(
     'queryId', t.query_id, 'bucket', t.bucket, 'calls', t.calls, 'totalMs', t.total_ms,
     'text', sh.normalized)
     ORDER BY t.query_id, t.bucket), '[]')
   FROM top t LEFT JOIN dgm.statement_shapes sh ON sh.queryid::text = t.query_id) AS top
