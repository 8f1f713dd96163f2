-- Sampler round trip 2: what depends on the server's version, its extensions and the DGM schema, in one
-- statement. functions/monitor/collect.ts keeps or drops the --#if sections (statements: pg_stat_statements
-- is usable; baseline: DGM schema on a primary; pgss_info, query_id, wal_stats: 14+; checkpointer: 17+;
-- dgm: DGM schema installed) and replaces the __TOKENS__ with fixed column names of the server's version
-- and the extension's quoted name:
-- __PGSS__ pg_stat_statements function, __PGSS_INFO__ pg_stat_statements_info view,
-- __TOTAL__ total_exec_time (13+) or total_time, __TOPLEVEL__ s.toplevel (14+) or true,
-- __BLKREAD__ shared_blk_read_time (17+) or blk_read_time.
-- pg_stat_statements(false) skips the query texts: texts are read only for the picked statements whose
-- shape is not known yet, inside a CASE so the text file is not even loaded when there are none.
-- $1 target, $2 slow query threshold (ms), $3 statements to pick, $4 collect the costly figures now,
-- $5 collect them when due, $6 every how many samples they are due, $7 the sampler's own queryids.
-- The marker after WITH (a leading comment is lost on PostgreSQL 18) makes this statement the tool's own.
WITH /* dgm-db-ops:sampler */
params AS (
  SELECT $1::text AS target, $2::float8 AS slow_ms, $3::int AS top_n, $4::boolean AS force_full,
         $5::boolean AS auto_full, $6::int AS slow_every, $7::bigint[] AS own_ids
),
--#if dgm
last_sample AS (
  SELECT s.taken_at, s.counters FROM dgm.stat_snapshots s
  WHERE s.target = (SELECT target FROM params) AND s.kind = 'sample'
  ORDER BY s.taken_at DESC LIMIT 1
),
last_slow AS (
  SELECT s.taken_at, s.counters FROM dgm.stat_snapshots s
  WHERE s.target = (SELECT target FROM params) AND s.kind = 'slow'
  ORDER BY s.taken_at DESC LIMIT 1
),
--#endif
--#if statements
-- Statements that are not the application's workload are left out: the sampler's own (this one, and those
-- it stored with its previous sample), and every statement whose stored shape was judged not workload
-- (functions/monitor/own-statements.ts: marked as the tool's, utility, the tool's functions or objects,
-- system catalogs). A statement not judged yet is judged when it is first picked, and left out in the
-- client that time.
own AS (
  SELECT unnest(own_ids) AS queryid FROM params
--#if query_id
  UNION SELECT a.query_id FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()
--#endif
--#if dgm
  UNION SELECT x::bigint FROM last_sample ls, jsonb_array_elements_text(ls.counters->'ownQueryIds') x
  UNION SELECT x::bigint FROM last_slow ls, jsonb_array_elements_text(ls.counters->'ownQueryIds') x
  UNION SELECT sh.queryid FROM dgm.statement_shapes sh WHERE sh.not_workload IS NOT NULL
--#endif
),
--#if baseline
-- Materialized: joined to every entry by hash, not looked up once per entry.
prev AS MATERIALIZED (
  SELECT b.queryid, b.toplevel, b.calls, b.total_exec_ms AS total_ms
  FROM dgm.stat_statement_baseline b WHERE b.target = (SELECT target FROM params)
),
--#else
prev AS (
  SELECT NULL::bigint AS queryid, NULL::boolean AS toplevel, NULL::bigint AS calls, NULL::float8 AS total_ms
  WHERE false
),
--#endif
-- Counters are summed as float8: exact to 2^53, and much cheaper than the numeric sum() of a bigint.
pgss AS (
  SELECT s.queryid, __TOPLEVEL__ AS toplevel,
         sum(s.calls::float8)::bigint AS calls, sum(s.__TOTAL__)::float8 AS total_ms,
         sum(s.rows::float8)::bigint AS rows, sum(s.shared_blks_hit::float8)::bigint AS blks_hit,
         sum(s.shared_blks_read::float8)::bigint AS blks_read, sum(s.__BLKREAD__)::float8 AS blk_read_ms
  FROM __PGSS__(false) s
  WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND s.queryid IS NOT NULL AND s.queryid <> 0
    AND s.queryid NOT IN (SELECT queryid FROM own WHERE queryid IS NOT NULL)
  GROUP BY 1, 2
),
-- queryid 0 is never a statement: its row holds when the previous counters were taken.
--#if baseline
prev_mark AS (
  SELECT max(b.sampled_at) AS sampled_at FROM dgm.stat_statement_baseline b
  WHERE b.target = (SELECT target FROM params) AND b.queryid = 0
),
--#else
prev_mark AS (SELECT NULL::timestamptz AS sampled_at),
--#endif
-- Per entry: the change since the previous sample. An entry that is new, or whose counters went down
-- (pg_stat_statements_reset, or evicted and back), counts from zero: all its calls are in the interval.
-- Without a previous sample there is no change at all (NULL), never the cumulative value.
delta AS (
  SELECT c.*, p.calls AS prev_calls,
         CASE WHEN m.sampled_at IS NULL THEN NULL
              WHEN p.calls IS NULL OR c.calls < p.calls OR c.total_ms < p.total_ms THEN c.calls
              ELSE c.calls - p.calls END AS d_calls,
         CASE WHEN m.sampled_at IS NULL THEN NULL
              WHEN p.calls IS NULL OR c.calls < p.calls OR c.total_ms < p.total_ms THEN c.total_ms
              ELSE c.total_ms - p.total_ms END AS d_ms
  FROM pgss c CROSS JOIN prev_mark m
  LEFT JOIN prev p ON p.queryid = c.queryid AND p.toplevel = c.toplevel
),
-- Per statement: totals, the interval's change, and whether it is slow: its mean over the interval above
-- the threshold when there is a previous sample (a statement not called in the interval is not slow in
-- it), else its mean over all time.
judged AS (
  SELECT q.*,
         q.total_ms / nullif(q.calls, 0) AS mean_ms,
         q.d_ms / nullif(q.d_calls, 0) AS d_mean_ms,
         coalesce(CASE WHEN (SELECT sampled_at FROM prev_mark) IS NOT NULL THEN q.d_ms / nullif(q.d_calls, 0)
                       ELSE q.total_ms / nullif(q.calls, 0) END > (SELECT slow_ms FROM params), false) AS slow
  FROM (SELECT d.queryid, sum(d.calls::float8)::bigint AS calls, sum(d.total_ms) AS total_ms,
               sum(d.rows::float8)::bigint AS rows, sum(d.blks_hit::float8)::bigint AS blks_hit,
               sum(d.blks_read::float8)::bigint AS blks_read, sum(d.blk_read_ms) AS blk_read_ms,
               sum(d.d_calls::float8)::bigint AS d_calls, sum(d.d_ms) AS d_ms
        FROM delta d
        -- Its top-level entries when it has any: a nested entry (track = all) also counts each EXPLAIN
        -- of the statement as a call that ran in no time (the optimizer's and the pruning measurement's
        -- too), which would dilute its mean. Statements only ever run nested keep their nested figures.
        WHERE d.toplevel OR d.queryid NOT IN (SELECT x.queryid FROM delta x WHERE x.toplevel)
        GROUP BY d.queryid) q
),
-- The statements listed: the first top_n of those already judged workload (a stored shape; those judged
-- not workload are in `own`), and every statement not judged yet that ranks above the last of them, up to
-- 10 * top_n: the client judges those now and keeps the first top_n of what is workload. Unjudged
-- statements do not take the workload's places: on a database just migrated, its DDL ranks above a light
-- workload and would otherwise fill the list, then be left out in the client, leaving the sample with no
-- workload at all.
ranked AS (
  SELECT j.queryid, coalesce(j.d_ms, j.total_ms) AS ms, coalesce(j.d_mean_ms, j.mean_ms) AS mean, j.slow,
--#if dgm
         j.queryid NOT IN (SELECT queryid FROM dgm.statement_shapes) AS unjudged
--#else
         true AS unjudged
--#endif
  FROM judged j
),
top_known AS (
  SELECT r.queryid, r.ms FROM ranked r WHERE NOT r.unjudged AND r.ms > 0
  ORDER BY r.ms DESC, r.queryid LIMIT (SELECT top_n FROM params)
),
top_q AS (
  SELECT queryid, ms FROM top_known
  UNION ALL
  (SELECT r.queryid, r.ms FROM ranked r
   WHERE r.unjudged AND r.ms > 0
     AND r.ms >= CASE WHEN (SELECT count(*) FROM top_known) < (SELECT top_n FROM params) THEN 0
                      ELSE (SELECT min(ms) FROM top_known) END
   ORDER BY r.ms DESC, r.queryid LIMIT (SELECT 10 * top_n FROM params))
),
slow_known AS (
  SELECT r.queryid, r.mean FROM ranked r WHERE NOT r.unjudged AND r.slow
  ORDER BY r.mean DESC, r.queryid LIMIT (SELECT top_n FROM params)
),
slow_q AS (
  SELECT queryid, mean FROM slow_known
  UNION ALL
  (SELECT r.queryid, r.mean FROM ranked r
   WHERE r.unjudged AND r.slow
     AND r.mean >= CASE WHEN (SELECT count(*) FROM slow_known) < (SELECT top_n FROM params) THEN 0
                        ELSE (SELECT min(mean) FROM slow_known) END
   ORDER BY r.mean DESC, r.queryid LIMIT (SELECT 10 * top_n FROM params))
),
picked AS (SELECT queryid FROM top_q UNION SELECT queryid FROM slow_q),
unknown AS (SELECT r.queryid FROM ranked r WHERE r.unjudged AND r.queryid IN (SELECT queryid FROM picked)),
-- The whole workload's figures, each in one pass.
entry_totals AS (
  SELECT coalesce(sum(d.calls::float8) FILTER (WHERE d.toplevel), 0)::bigint AS calls_total,
         coalesce(sum(d.total_ms) FILTER (WHERE d.toplevel), 0) AS total_ms_total,
         sum(d.d_calls::float8) FILTER (WHERE d.toplevel)::bigint AS d_calls,
         sum(d.d_ms) FILTER (WHERE d.toplevel) AS d_ms
  FROM delta d
),
statement_totals AS (
  SELECT count(*) AS entries,
         count(*) FILTER (WHERE j.mean_ms > p.slow_ms) AS slow,
         count(*) FILTER (WHERE j.d_mean_ms > p.slow_ms) AS slow_in_interval,
         coalesce(sum(j.d_calls::float8) FILTER (WHERE j.d_mean_ms > p.slow_ms), 0)::bigint AS slow_calls_in_interval
  FROM judged j CROSS JOIN params p
),
statements_json AS (
  SELECT jsonb_build_object(
    'entries', st.entries,
    'intervalSeconds', extract(epoch FROM clock_timestamp() - m.sampled_at),
    'callsTotal', et.calls_total,
    'totalExecMsTotal', et.total_ms_total,
    'callsInInterval', et.d_calls,
    'execMsInInterval', et.d_ms,
    'slowStatements', st.slow,
    'slowStatementsInInterval', CASE WHEN m.sampled_at IS NOT NULL THEN st.slow_in_interval END,
    'slowCallsInInterval', CASE WHEN m.sampled_at IS NOT NULL THEN st.slow_calls_in_interval END,
    'top', (SELECT coalesce(jsonb_agg(t.queryid::text ORDER BY t.ms DESC, t.queryid), '[]') FROM top_q t),
    'slow', (SELECT coalesce(jsonb_agg(t.queryid::text ORDER BY t.mean DESC, t.queryid), '[]') FROM slow_q t),
    'rows', (SELECT coalesce(jsonb_agg(jsonb_build_object(
               'queryId', j.queryid::text, 'calls', j.calls, 'totalMs', j.total_ms, 'meanMs', coalesce(j.mean_ms, 0),
               'rows', j.rows, 'sharedBlksHit', j.blks_hit, 'sharedBlksRead', j.blks_read, 'blkReadTimeMs', j.blk_read_ms,
               'intervalCalls', j.d_calls, 'intervalTotalMs', j.d_ms, 'intervalMeanMs', j.d_mean_ms, 'slow', j.slow)), '[]')
             FROM judged j WHERE j.queryid IN (SELECT queryid FROM picked)),
    'texts', CASE WHEN EXISTS (SELECT 1 FROM unknown) THEN
               (SELECT jsonb_object_agg(t.queryid::text, t.query)
                -- The top-level entry's text: a statement also seen nested (inside EXPLAIN, a function) has
                -- the text around it there.
                FROM (SELECT DISTINCT ON (s.queryid) s.queryid, left(s.query, 100000) AS query
                      FROM __PGSS__(true) s
                      WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                        AND s.queryid IN (SELECT queryid FROM unknown)
                      ORDER BY s.queryid, __TOPLEVEL__ DESC) t)
             END,
--#if dgm
    'shapes', (SELECT coalesce(jsonb_object_agg(sh.queryid::text, jsonb_build_object(
                 'normalized', sh.normalized, 'operation', sh.operation,
                 'mainTable', CASE WHEN sh.main_table IS NOT NULL
                                THEN jsonb_build_object('schema', sh.main_schema, 'name', sh.main_table) END,
                 'tables', sh.tables)), '{}')
               FROM dgm.statement_shapes sh WHERE sh.queryid IN (SELECT queryid FROM picked)),
--#endif
    'picked', (SELECT count(*) FROM picked)
  ) AS doc
  FROM statement_totals st CROSS JOIN entry_totals et CROSS JOIN prev_mark m
),
--#if baseline
baseline_write AS (
  INSERT INTO dgm.stat_statement_baseline AS b (target, queryid, toplevel, calls, total_exec_ms, rows, sampled_at)
  SELECT (SELECT target FROM params), d.queryid, d.toplevel, d.calls, d.total_ms, d.rows, clock_timestamp()
  FROM delta d WHERE d.prev_calls IS DISTINCT FROM d.calls
  UNION ALL
  SELECT (SELECT target FROM params), 0, true, 0, 0, 0, clock_timestamp()
  ON CONFLICT (target, queryid, toplevel) DO UPDATE
    SET calls = excluded.calls, total_exec_ms = excluded.total_exec_ms, rows = excluded.rows,
        sampled_at = excluded.sampled_at
),
-- Entries pg_stat_statements no longer holds leave the baseline; the table is only searched for them
-- when fewer entries matched the baseline than it holds.
baseline_prune AS (
  DELETE FROM dgm.stat_statement_baseline b
  WHERE (SELECT count(*) FROM prev WHERE queryid <> 0) > (SELECT count(*) FROM delta WHERE prev_calls IS NOT NULL)
    AND b.target = (SELECT target FROM params) AND b.queryid <> 0
    AND NOT EXISTS (SELECT 1 FROM pgss c WHERE c.queryid = b.queryid AND c.toplevel = b.toplevel)
),
--#endif
--#endif
--#if dgm
-- The costly figures are due every slow_every-th sample, counted in the stored samples.
due AS (
  SELECT p.force_full OR (p.auto_full AND (
           NOT EXISTS (SELECT 1 FROM last_slow)
           OR (SELECT count(*) FROM dgm.stat_snapshots s
               WHERE s.target = p.target AND s.kind = 'sample'
                 AND s.taken_at > (SELECT taken_at FROM last_slow)) >= p.slow_every - 1)) AS yes
  FROM params p
)
--#else
-- Without stored samples there is nothing to count: collect them whenever asked or due.
due AS (SELECT p.force_full OR p.auto_full AS yes FROM params p)
--#endif
SELECT
  (SELECT yes FROM due) AS full_due
--#if query_id
  , (SELECT a.query_id FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()) AS own_query_id
--#endif
--#if statements
  , (SELECT doc FROM statements_json) AS statements
--#endif
--#if pgss_info
  , (SELECT to_jsonb(i) FROM __PGSS_INFO__ i) AS pgss_info
--#endif
--#if checkpointer
  , (SELECT to_jsonb(c) FROM pg_stat_checkpointer c) AS checkpointer
--#endif
--#if wal_stats
  , (SELECT to_jsonb(w) FROM pg_stat_wal w) AS wal_stats
--#endif
--#if dgm
  , (SELECT jsonb_build_object('takenAt', taken_at, 'counters', counters) FROM last_sample) AS last_sample
  , (SELECT jsonb_build_object('takenAt', taken_at, 'counters', counters) FROM last_slow) AS last_slow
  , (SELECT coalesce(jsonb_agg(jsonb_build_object(
       'oid', to_regclass(pc.parent_table)::oid, 'parentTable', pc.parent_table,
       'interval', pc.partition_interval::text, 'enabled', pc.enabled)), '[]')
     FROM dgm.partition_config pc) AS managed
  , (SELECT jsonb_build_object('critical', count(*) FILTER (WHERE l.compliance_level = 'critical'),
                               'violations', count(*))
     FROM dgm.compliance_logs l
     WHERE l.created_at > now() - interval '24 hours'
       AND l.compliance_level IN ('violation', 'critical')) AS violations
  , (SELECT c.hash FROM dgm.constitution c) AS constitution_hash
--#endif
