-- The latest run of each job in the audit trail (last $1 days) and its failed or refused actions, for
-- the maintenance_failed alert. One row per job; the first 5 failures of the run with their errors.
WITH /* dgm-db-ops:sampler */ runs AS (
  SELECT job,
         run_id,
         min(created_at) AS started_at,
         max(created_at) AS ended_at,
         count(*) AS actions,
         count(*) FILTER (WHERE status = 'failed') AS failed,
         count(*) FILTER (WHERE status = 'refused') AS refused
  FROM dgm.optimization_audit
  WHERE created_at > now() - make_interval(days => $1::int)
    AND run_id IS NOT NULL
  GROUP BY job, run_id
),
latest AS (
  SELECT DISTINCT ON (job) *
  FROM runs
  ORDER BY job, ended_at DESC
)
SELECT l.job,
       l.run_id::text AS run_id,
       l.started_at,
       l.ended_at,
       l.actions::int AS actions,
       l.failed::int AS failed,
       l.refused::int AS refused,
       coalesce((
         SELECT json_agg(json_build_object('action', f.action, 'target', f.target, 'status', f.status,
                                           'error', left(f.error, 300)) ORDER BY f.id)
         FROM (SELECT a.id, a.action, a.target, a.status, a.error
               FROM dgm.optimization_audit a
               WHERE a.run_id = l.run_id AND a.status IN ('failed', 'refused')
               ORDER BY a.id
               LIMIT 5) f
       ), '[]'::json) AS failures
FROM latest l
ORDER BY l.job;
