-- Sampler round trip 1: every figure the catalog and the cumulative statistics give on PostgreSQL 13 to
-- 18 alike, in one statement, one row of JSON columns. Version-specific views (pg_stat_statements,
-- pg_stat_checkpointer, pg_stat_wal) come in round trip 2, once this one has told the version.
-- Per-table figures read the pg_stat_get_*() functions over pg_class instead of the pg_stat_* views:
-- the views compute every column for every relation, which gets slow with thousands of partitions.
-- $1 = tables per ranking (monitoring.topTables), $2 = length of index lists.
WITH RECURSIVE /* dgm-db-ops:sampler */
me AS (
  SELECT d.oid AS dboid, current_setting('block_size')::bigint AS bs, pg_backend_pid() AS mypid,
         current_setting('server_version_num')::int >= 140000 AS v14
  FROM pg_database d WHERE d.datname = current_database()
),
-- Relations someone holds or waits for under ACCESS EXCLUSIVE: reading their size would wait behind it.
locked AS (
  SELECT DISTINCT l.relation AS oid
  FROM pg_locks l, me
  WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.database = me.dboid
),
-- Every relation of the user schemas, in one pass over pg_class (an index lives in its table's schema).
rel AS (
  SELECT c.oid, n.nspname::text AS schema_name, c.relname::text AS rel_name, c.relpages, c.reltuples, c.relkind,
         c.relispartition
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
    AND n.nspname !~ '^pg_temp_'
),
-- Every partitioned table's tree, walked in pg_inherits: pg_partition_tree() would take AccessShareLock
-- on each partition and wait behind anyone holding one under ACCESS EXCLUSIVE (a partition being dropped
-- or detached), failing the whole sample at lock_timeout.
part_tree AS (
  SELECT r.oid AS root, r.oid AS relid, 0 AS level, r.relkind
  FROM rel r WHERE r.relkind = 'p' AND NOT r.relispartition
  UNION ALL
  SELECT t.root, i.inhrelid, t.level + 1, c.relkind
  FROM part_tree t JOIN pg_inherits i ON i.inhparent = t.relid JOIN pg_class c ON c.oid = i.inhrelid
),
idx AS (
  SELECT i.indexrelid AS oid, i.indrelid,
         CASE WHEN ci.relispartition THEN pg_partition_root(i.indexrelid) ELSE i.indexrelid END AS root,
         i.indisunique OR i.indisexclusion AS indisunique, i.indisprimary, i.indisvalid, ci.relkind,
         pg_stat_get_numscans(i.indexrelid) AS scans,
         pg_stat_get_blocks_hit(i.indexrelid) AS hit,
         pg_stat_get_blocks_fetched(i.indexrelid) - pg_stat_get_blocks_hit(i.indexrelid) AS read,
         ci.relpages::bigint * (SELECT bs FROM me) AS est_bytes
  FROM pg_index i
  JOIN rel ci ON ci.oid = i.indexrelid
),
leaf AS (
  SELECT r.oid,
         CASE WHEN r.relispartition THEN pg_partition_root(r.oid) ELSE r.oid END AS root,
         s.live, s.dead, s.seq_scan, s.heap_hit, s.heap_read, s.last_autovacuum,
         -- The heap's size ranks the tables, estimated without opening them: the pages of the last VACUUM
         -- or ANALYZE, grown with the rows counted since (none when it found the table empty, on 14+ where
         -- reltuples tells empty from never). A table neither has seen yet is measured, unless someone
         -- holds it under ACCESS EXCLUSIVE.
         CASE WHEN r.oid IN (SELECT oid FROM locked) THEN r.relpages::bigint * (SELECT bs FROM me)
              WHEN r.reltuples > 0
                THEN (r.relpages * greatest(1, (s.live + s.dead) / r.reltuples))::bigint * (SELECT bs FROM me)
              WHEN r.reltuples = 0 AND s.live + s.dead = 0 AND (SELECT v14 FROM me)
                THEN r.relpages::bigint * (SELECT bs FROM me)
              ELSE pg_relation_size(r.oid) END AS est_bytes
  FROM rel r
  CROSS JOIN LATERAL (
    SELECT pg_stat_get_live_tuples(r.oid) AS live, pg_stat_get_dead_tuples(r.oid) AS dead,
           pg_stat_get_numscans(r.oid) AS seq_scan, pg_stat_get_blocks_hit(r.oid) AS heap_hit,
           pg_stat_get_blocks_fetched(r.oid) - pg_stat_get_blocks_hit(r.oid) AS heap_read,
           pg_stat_get_last_autovacuum_time(r.oid) AS last_autovacuum) s
  WHERE r.relkind IN ('r', 'm')
),
-- Sums of counters in float8 (exact to 2^53): the numeric sum() of a bigint costs several times more.
leaf_idx AS (
  SELECT indrelid, sum(scans::float8) AS idx_scan, sum(hit::float8) AS idx_hit, sum(read::float8) AS idx_read,
         sum(est_bytes::float8) AS idx_bytes
  FROM idx GROUP BY indrelid
),
root AS (
  SELECT l.root AS oid,
         sum(l.live::float8)::bigint AS live, sum(l.dead::float8)::bigint AS dead,
         sum(l.seq_scan::float8)::bigint AS seq_scan, coalesce(sum(li.idx_scan), 0)::bigint AS idx_scan,
         sum(l.heap_hit::float8)::bigint AS heap_hit, sum(l.heap_read::float8)::bigint AS heap_read,
         coalesce(sum(li.idx_hit), 0)::bigint AS idx_hit, coalesce(sum(li.idx_read), 0)::bigint AS idx_read,
         max(l.last_autovacuum) AS last_autovacuum,
         sum(l.est_bytes + coalesce(li.idx_bytes, 0))::bigint AS est_bytes,
         count(*) AS leaves
  FROM leaf l LEFT JOIN leaf_idx li ON li.indrelid = l.oid
  GROUP BY l.root
),
-- The sampler's own bookkeeping: every sample writes it, so on a quiet database it would climb into the
-- top tables by itself and the per-table series would change from sample to sample.
own_tables AS (
  SELECT t.oid FROM (SELECT to_regclass(n) AS oid
                     FROM unnest(ARRAY['dgm.stat_snapshots', 'dgm.stat_statement_baseline',
                                       'dgm.statement_shapes']) n) t
  WHERE t.oid IS NOT NULL
),
-- The top tables by activity (blocks touched) and by size, each ranked within its own top $1.
activity_top AS (
  SELECT x.oid, row_number() OVER (ORDER BY x.blocks DESC, x.oid) AS rk
  FROM (SELECT r.oid, r.heap_hit + r.heap_read + r.idx_hit + r.idx_read AS blocks FROM root r
        WHERE r.oid NOT IN (SELECT oid FROM own_tables)
        ORDER BY 2 DESC, r.oid LIMIT $1) x
),
size_top AS (
  SELECT x.oid, row_number() OVER (ORDER BY x.est_bytes DESC, x.oid) AS rk
  FROM (SELECT r.oid, r.est_bytes FROM root r WHERE r.oid NOT IN (SELECT oid FROM own_tables)
        ORDER BY r.est_bytes DESC, r.oid LIMIT $1) x
),
top_tables AS (
  SELECT t.*, a.rk AS activity_rank, sz.rk AS size_rank, n.nspname::text AS schema_name, c.relname::text AS rel_name,
         -- Exact size (heap, indexes, TOAST) over the leaves nobody holds under ACCESS EXCLUSIVE.
         -- (part_tree has no row for a table that is not partitioned: the table itself counts.)
         (SELECT coalesce(sum(pg_total_relation_size(x.relid)), 0)::bigint
          FROM (SELECT p.relid FROM part_tree p WHERE p.root = t.oid AND p.relkind <> 'p' UNION SELECT t.oid) x
          WHERE x.relid NOT IN (SELECT oid FROM locked)) AS total_bytes,
         (SELECT array_agg(x.relid::regclass::text ORDER BY x.relid)
          FROM (SELECT p.relid FROM part_tree p WHERE p.root = t.oid UNION SELECT t.oid) x
          WHERE x.relid IN (SELECT oid FROM locked)) AS locked_leaves
  FROM (SELECT oid FROM activity_top UNION SELECT oid FROM size_top) pick
  JOIN root t ON t.oid = pick.oid
  LEFT JOIN activity_top a ON a.oid = t.oid
  LEFT JOIN size_top sz ON sz.oid = t.oid
  JOIN pg_class c ON c.oid = t.oid
  JOIN pg_namespace n ON n.oid = c.relnamespace
),
-- One row per index as the user sees it: a partitioned index sums over its partitions. A partition of a
-- unique or primary-key index is one too, so the flags aggregate over the members; the partitioned index
-- itself is a member (relkind 'I'). Names are looked up only for the rows listed.
idx_root AS (
  SELECT x.root AS oid, sum(x.scans)::bigint AS scans, sum(x.est_bytes)::bigint AS est_bytes,
         bool_and(x.indisvalid) AS all_valid, bool_or(x.indisunique) AS indisunique,
         bool_or(x.indisprimary) AS indisprimary, bool_or(x.relkind = 'I') AS partitioned
  FROM idx x GROUP BY x.root
),
idx_unused AS (
  SELECT ir.* FROM idx_root ir WHERE ir.scans = 0 AND NOT ir.indisunique AND NOT ir.indisprimary AND ir.all_valid
),
partitioned AS (
  SELECT pt.partrelid AS oid, n.nspname::text AS schema_name, c.relname::text AS rel_name, pt.partstrat,
         CASE WHEN pt.partattrs[0] <> 0 THEN
           (SELECT a.atttypid::regtype::text FROM pg_attribute a
            WHERE a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]) END AS key_type
  FROM pg_partitioned_table pt
  JOIN pg_class c ON c.oid = pt.partrelid AND NOT c.relispartition
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
),
part_leaf AS (
  SELECT p.oid AS root, t.relid, t.level, r.schema_name, r.rel_name,
         t.relid IN (SELECT pt.partdefid FROM pg_partitioned_table pt) AS is_default,
         t.relid IN (SELECT oid FROM locked) AS is_locked,
         CASE WHEN t.relid IN (SELECT oid FROM locked) THEN NULL ELSE pg_total_relation_size(t.relid) END AS bytes
  FROM partitioned p
  JOIN part_tree t ON t.root = p.oid
  JOIN rel r ON r.oid = t.relid
  WHERE t.relkind <> 'p'
),
-- Rows in default partitions, counted exactly (they should hold few or none) up to a cap, without a
-- helper function: query_to_xml runs the count as dynamic SQL with the name quoted by regclass. The
-- marker comment lets round trip 2 leave these nested statements (pg_stat_statements.track = all) out.
part_default AS (
  SELECT pl.root, pl.relid,
         CASE WHEN pl.is_locked THEN NULL ELSE
           (xpath('/row/n/text()', query_to_xml(
              format('SELECT /* dgm-db-ops:sampler */ count(*) AS n FROM (SELECT 1 FROM ONLY %s LIMIT 1000000) s',
                     pl.relid::regclass),
              false, true, '')))[1]::text::bigint END AS n
  FROM part_leaf pl WHERE pl.is_default
),
part_bound AS (
  SELECT p.oid AS root,
         max(CASE WHEN p.key_type IN ('timestamp with time zone', 'date') THEN b.upper::timestamptz
                  WHEN p.key_type = 'timestamp without time zone' THEN b.upper::timestamp AT TIME ZONE 'UTC' END)
           AS newest_bound
  FROM partitioned p
  JOIN pg_inherits i ON i.inhparent = p.oid
  JOIN pg_class c ON c.oid = i.inhrelid
  -- Relation 0: a bound holds constants only, and pg_get_expr() with a relation would lock it (it would
  -- wait behind an ACCESS EXCLUSIVE holder).
  CROSS JOIN LATERAL (SELECT (regexp_match(pg_get_expr(c.relpartbound, 0), 'TO \(''([^'']*)''\)'))[1] AS upper) b
  WHERE p.partstrat = 'r' AND b.upper IS NOT NULL
  GROUP BY p.oid
),
-- Each set's figures in one pass over its leaves.
part_set AS (
  SELECT pl.root, count(*) AS partitions, coalesce(sum(pl.bytes), 0) AS total_bytes,
         coalesce(min(pl.bytes), 0) AS min_bytes, coalesce(max(pl.bytes), 0) AS max_bytes,
         coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY pl.bytes), 0) AS median_bytes,
         coalesce(avg(pl.bytes), 0) AS avg_bytes,
         jsonb_agg(jsonb_build_array(pl.schema_name, pl.rel_name)) AS leaves
  FROM part_leaf pl
  GROUP BY pl.root
),
part_set_default AS (
  SELECT pd.root, count(*) AS partitions,
         CASE WHEN bool_or(pd.n IS NULL) THEN NULL ELSE coalesce(sum(pd.n), 0) END AS n
  FROM part_default pd GROUP BY pd.root
)
SELECT
  clock_timestamp() AS taken_at,
  -- This statement's own pg_stat_statements queryid (14+), so the sampler leaves itself out of the workload.
  (SELECT (to_jsonb(a)->>'query_id')::bigint FROM pg_stat_activity a, me WHERE a.pid = me.mypid) AS own_query_id,
  jsonb_build_object(
    'versionNum', current_setting('server_version_num')::int,
    'version', split_part(current_setting('server_version'), ' ', 1),
    'database', current_database(),
    'inRecovery', pg_is_in_recovery(),
    'startedAt', pg_postmaster_start_time(),
    'maxConnections', current_setting('max_connections')::int,
    'reservedConnections', current_setting('superuser_reserved_connections')::int
                           + coalesce(nullif(current_setting('reserved_connections', true), '')::int, 0),
    'sharedPreload', current_setting('shared_preload_libraries'),
    'pgssMax', nullif(current_setting('pg_stat_statements.max', true), '')::int,
    'pgssSchema', (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                   WHERE e.extname = 'pg_stat_statements'),
    'dgmSchema', to_regclass('dgm.stat_snapshots') IS NOT NULL,
    'dgmSampling', to_regclass('dgm.stat_statement_baseline') IS NOT NULL
  ) AS server,
  (SELECT jsonb_build_object(
     'commits', d.xact_commit, 'rollbacks', d.xact_rollback, 'blksRead', d.blks_read, 'blksHit', d.blks_hit,
     'tempFiles', d.temp_files, 'tempBytes', d.temp_bytes, 'deadlocks', d.deadlocks,
     'statsReset', d.stats_reset)
   FROM pg_stat_database d, me WHERE d.datid = me.dboid) AS database,
  (SELECT jsonb_build_object(
     'xidAge', age(d.datfrozenxid), 'mxidAge', mxid_age(d.datminmxid),
     'maxXidAge', (SELECT max(age(datfrozenxid)) FROM pg_database))
   FROM pg_database d WHERE d.datname = current_database()) AS wraparound,
  (SELECT jsonb_build_object(
     'total', count(*),
     'active', count(*) FILTER (WHERE a.state = 'active'),
     'idle', count(*) FILTER (WHERE a.state = 'idle'),
     'idle_in_transaction', count(*) FILTER (WHERE a.state = 'idle in transaction'),
     'idle_in_transaction_aborted', count(*) FILTER (WHERE a.state = 'idle in transaction (aborted)'),
     'fastpath_function_call', count(*) FILTER (WHERE a.state = 'fastpath function call'),
     'disabled', count(*) FILTER (WHERE a.state = 'disabled'),
     'longestTransactionSeconds', coalesce(extract(epoch FROM max(clock_timestamp() - a.xact_start)
                                   FILTER (WHERE a.pid <> me.mypid)), 0),
     'longestQuerySeconds', coalesce(extract(epoch FROM max(clock_timestamp() - a.query_start)
                             FILTER (WHERE a.state = 'active' AND a.pid <> me.mypid)), 0),
     'longestIdleInTransactionSeconds', coalesce(extract(epoch FROM max(clock_timestamp() - a.state_change)
                                         FILTER (WHERE a.state LIKE 'idle in transaction%')), 0))
   FROM pg_stat_activity a, me WHERE a.backend_type = 'client backend') AS connections,
  (SELECT coalesce(jsonb_agg(jsonb_build_object(
     'pid', b.pid, 'blockedBy', to_jsonb(b.blockers), 'waitSeconds', b.wait_seconds, 'waitEvent', b.wait_event)
     ORDER BY b.wait_seconds DESC), '[]')
   FROM (SELECT a.pid, pg_blocking_pids(a.pid) AS blockers, a.wait_event,
                extract(epoch FROM clock_timestamp() - coalesce(a.query_start, a.state_change)) AS wait_seconds
         FROM pg_stat_activity a WHERE a.wait_event_type = 'Lock') b
   WHERE cardinality(b.blockers) > 0) AS blocked,
  (SELECT coalesce(jsonb_object_agg(m.mode, m.n), '{}')
   FROM (SELECT l.mode, count(*) AS n FROM pg_locks l, me
         WHERE l.database = me.dboid OR l.database IS NULL GROUP BY l.mode) m) AS lock_modes,
  (SELECT to_jsonb(b) FROM pg_stat_bgwriter b) AS bgwriter,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END AS wal_lsn_bytes,
  jsonb_build_object(
    'replicas', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'name', r.application_name, 'state', r.state,
                   'replayLagSeconds', extract(epoch FROM r.replay_lag),
                   'lagBytes', pg_wal_lsn_diff(
                      CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
                      r.replay_lsn))), '[]')
                 FROM pg_stat_replication r),
    'slots', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'name', s.slot_name, 'active', s.active,
                'retainedBytes', pg_wal_lsn_diff(
                   CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
                   s.restart_lsn))), '[]')
              FROM pg_replication_slots s),
    'replayDelaySeconds', CASE WHEN pg_is_in_recovery()
                            THEN extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) END
  ) AS replication,
  (SELECT coalesce(jsonb_agg(jsonb_build_object(
     'oid', t.oid, 'schema', t.schema_name, 'name', t.rel_name, 'leaves', t.leaves,
     'live', t.live, 'dead', t.dead, 'seqScan', t.seq_scan, 'idxScan', t.idx_scan,
     'heapHit', t.heap_hit, 'heapRead', t.heap_read, 'idxHit', t.idx_hit, 'idxRead', t.idx_read,
     'lastAutovacuum', t.last_autovacuum, 'totalBytes', t.total_bytes, 'lockedLeaves', t.locked_leaves,
     'activityRank', t.activity_rank, 'sizeRank', t.size_rank)
     ORDER BY t.activity_rank, t.size_rank), '[]')
   FROM top_tables t) AS tables,
  (SELECT jsonb_build_object(
     'count', count(*), 'dead', coalesce(sum(dead), 0),
     'idxHit', (SELECT coalesce(sum(hit), 0) FROM idx), 'idxRead', (SELECT coalesce(sum(read), 0) FROM idx),
     'locked', (SELECT coalesce(jsonb_agg(l.oid::regclass::text), '[]') FROM locked l))
   FROM root) AS table_totals,
  jsonb_build_object(
    'total', (SELECT count(*) FROM idx_root),
    'top', (SELECT coalesce(jsonb_agg(x ORDER BY x.scans DESC, x.oid), '[]') FROM (
              SELECT i.oid, ni.nspname AS "indexSchema", ci.relname AS "indexName",
                     tn.nspname AS "tableSchema", tc.relname AS "tableName", i.scans, i.est_bytes AS bytes
              FROM (SELECT * FROM idx_root ORDER BY scans DESC, oid LIMIT $2) i
              JOIN pg_index ri ON ri.indexrelid = i.oid
              JOIN pg_class ci ON ci.oid = i.oid JOIN pg_namespace ni ON ni.oid = ci.relnamespace
              JOIN pg_class ct ON ct.oid = ri.indrelid
              JOIN pg_class tc ON tc.oid = CASE WHEN ct.relispartition THEN pg_partition_root(ct.oid) ELSE ct.oid END
              JOIN pg_namespace tn ON tn.oid = tc.relnamespace) x),
    'unusedCount', (SELECT count(*) FROM idx_unused),
    'unusedBytes', (SELECT coalesce(sum(est_bytes), 0) FROM idx_unused),
    'unused', (SELECT coalesce(jsonb_agg(x ORDER BY x.bytes DESC), '[]') FROM (
                 SELECT i.oid, ni.nspname AS "indexSchema", ci.relname AS "indexName",
                        tn.nspname AS "tableSchema", tc.relname AS "tableName", i.scans,
                        CASE WHEN i.partitioned OR i.oid IN (SELECT oid FROM locked)
                             THEN i.est_bytes ELSE pg_relation_size(i.oid) END AS bytes
                 FROM (SELECT * FROM idx_unused ORDER BY est_bytes DESC, oid LIMIT $2) i
                 JOIN pg_index ri ON ri.indexrelid = i.oid
                 JOIN pg_class ci ON ci.oid = i.oid JOIN pg_namespace ni ON ni.oid = ci.relnamespace
                 JOIN pg_class ct ON ct.oid = ri.indrelid
                 JOIN pg_class tc ON tc.oid = CASE WHEN ct.relispartition THEN pg_partition_root(ct.oid) ELSE ct.oid END
                 JOIN pg_namespace tn ON tn.oid = tc.relnamespace
                 ORDER BY i.est_bytes DESC, i.oid) x),
    'invalid', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'indexSchema', n.nspname, 'indexName', ci.relname, 'tableSchema', nt.nspname, 'tableName', ct.relname)
                  ORDER BY ci.relname), '[]')
                FROM idx x JOIN pg_class ci ON ci.oid = x.oid JOIN pg_namespace n ON n.oid = ci.relnamespace
                JOIN pg_class ct ON ct.oid = x.indrelid JOIN pg_namespace nt ON nt.oid = ct.relnamespace
                WHERE NOT x.indisvalid AND x.relkind = 'i')
  ) AS indexes,
  (SELECT coalesce(jsonb_agg(jsonb_build_object(
     'oid', p.oid, 'schema', p.schema_name, 'name', p.rel_name, 'keyType', p.key_type,
     'partitions', coalesce(ps.partitions, 0), 'totalBytes', coalesce(ps.total_bytes, 0),
     'minBytes', coalesce(ps.min_bytes, 0), 'maxBytes', coalesce(ps.max_bytes, 0),
     'medianBytes', coalesce(ps.median_bytes, 0), 'avgBytes', coalesce(ps.avg_bytes, 0),
     'defaultPartitions', coalesce(pd.partitions, 0),
     'defaultRows', CASE WHEN pd.root IS NULL THEN 0 ELSE pd.n END,
     'leaves', coalesce(ps.leaves, '[]'),
     'newestBound', pb.newest_bound,
     'aheadDays', extract(epoch FROM pb.newest_bound - clock_timestamp()) / 86400)
     ORDER BY p.schema_name, p.rel_name), '[]')
   FROM partitioned p LEFT JOIN part_bound pb ON pb.root = p.oid LEFT JOIN part_set ps ON ps.root = p.oid
   LEFT JOIN part_set_default pd ON pd.root = p.oid) AS partitions
