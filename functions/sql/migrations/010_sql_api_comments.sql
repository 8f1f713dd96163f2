-- Comments on the SQL API, as pg_partman has them: a DBA reads them in psql (\dn+, \dt+ dgm.*, \dv+ dgm.*,
-- \df+ dgm.*, \sf). Every function, view and table of schema dgm has one (an integration test checks that a
-- later migration adds its own). Comments only: nothing here changes a definition or a row.

COMMENT ON SCHEMA dgm IS
  'dgm-db-ops: the DGM design''s tables, the tool''s bookkeeping (audit trail, samples, optimizer state) and '
  'the DBA''s SQL API (partition maintenance, index usage, slow queries, partition sizes).';

-- The tool's own tables.

COMMENT ON TABLE dgm.schema_migrations IS
  'Migrations applied by dgm-db-ops migrate: version, name, checksum of the file (an applied migration never '
  'changes), when and by whom.';

COMMENT ON TABLE dgm.constitution IS
  'The constitutional hash (one row). Every mutating job refuses to run (audited as refused) unless its '
  'configured hash equals this one; changing it records a governance event (dgm.governance_events).';

COMMENT ON TABLE dgm.optimization_audit IS
  'Audit trail of every mutating action of the tool (maintenance, optimizer, psql API, governance): job, '
  'action, target, its SQL, status (succeeded, failed, skipped, refused), duration, error, the constitutional '
  'hash it ran under and the role. Actions of one run share run_id.';

COMMENT ON TABLE dgm.stat_snapshots IS
  'The sampler''s snapshots per target: cumulative counters of a sample (the next sample''s baseline for '
  'rates) and its headline figures (the report''s history). Kept monitoring.snapshotRetentionHours.';

COMMENT ON TABLE dgm.partition_config IS
  'One row per managed partition set: parent_table (a quoted qualified name), control_column (timestamptz, '
  'timestamp or date), partition_interval (whole days or months), premake, retention (NULL: keep all), '
  'retention_keep_table (detach instead of drop), list sub-partitioning (sub_partition_column and values), '
  'storage_parameters applied to every new partition, enabled.';

COMMENT ON TABLE dgm.stat_statement_baseline IS
  'The pg_stat_statements counters each statement had at the previous sample, per target, so the sampler '
  'computes per-interval figures inside the server. Rewritten only where counters moved.';

COMMENT ON TABLE dgm.statement_shapes IS
  'What the PostgreSQL parser made of each statement (operation, main table, tables), read once per queryid; '
  'not_workload says why a statement is not the application''s (NULL: it is workload).';

COMMENT ON TABLE dgm.performance_baselines IS
  'pg_stat_statements snapshots (kind baseline, optimize_start, optimize_end): improvement is measured between '
  'two of them, the window after a change against the window before it. changes lists an optimize run''s index '
  'changes.';

COMMENT ON TABLE dgm.performance_baseline_queries IS
  'Per-statement figures of a snapshot in dgm.performance_baselines (calls, time, rows, blocks); the text only '
  'for statements the optimizer analyzed.';

COMMENT ON TABLE dgm.auto_indexes IS
  'Indexes the optimizer built itself (it only ever drops its own): definition, status (building, active, '
  'verified, dropped, failed), the statements it was built for, the verification after the build, the probation '
  'review and why it was dropped.';

COMMENT ON TABLE dgm.query_samples IS
  'Literal instances of normalized statements (constants that pg_stat_statements replaces by $n), from '
  'pg_stat_activity, the server log or a supplied workload: a bounded number per statement. May hold '
  'application values.';

COMMENT ON TABLE dgm.optimizer_runs IS
  'Every optimize run that was not a dry run, with its result document (the report reads the latest).';

COMMENT ON TABLE dgm.governance_events IS
  'Changes of the constitutional hash (a trigger on dgm.constitution). The sampler launches an optimize run for '
  'each pending event and records its progress (pending, launched, completed, failed, ignored).';

COMMENT ON TABLE dgm.server_log_positions IS
  'Per target, where the optimizer''s last read of the server log stopped (file and byte offset or RDS marker); '
  'the next run reads on from there.';

-- The DGM design's tables (the demo application's data).

COMMENT ON TABLE dgm.workspaces IS
  'DGM design: workspaces (name, status, owner, metadata).';

COMMENT ON TABLE dgm.dgm_archive IS
  'DGM design: the archive of improvements. Partitioned by range of created_at (monthly), each month by list '
  'of status; maintained through dgm.partition_config.';

COMMENT ON TABLE dgm.performance_metrics IS
  'DGM design: time-series metrics (metric_name, metric_value, timestamp, labels). Partitioned by range of '
  'timestamp (monthly); maintained through dgm.partition_config.';

COMMENT ON TABLE dgm.compliance_logs IS
  'DGM design: constitutional compliance checks (level, violations, hash). Partitioned by range of created_at '
  '(monthly); maintained through dgm.partition_config.';

COMMENT ON TABLE dgm.bandit_states IS
  'DGM design: multi-armed bandit state per context and arm (average reward, pulls).';

-- Views.

COMMENT ON VIEW dgm.index_usage IS
  'Every user index with its scans (idx_scan, tuples read and fetched since the statistics reset), size, '
  'unique/primary/valid flags, definition and, for a partition''s index, its parent index.';

COMMENT ON VIEW dgm.slow_queries IS
  'Statements of this database whose mean execution time is at least the setting dgm.slow_query_threshold_ms '
  '(default 200), slowest first (pg_stat_statements). SET dgm.slow_query_threshold_ms = ''500'' to change it '
  'for the session.';

COMMENT ON VIEW dgm.partition_sizes IS
  'Every partition of every partitioned table (all levels): bounds, default or not, estimated rows, total '
  'size, and whether its set is managed (dgm.partition_config).';

-- The DBA's functions.

COMMENT ON FUNCTION dgm.partition_maintenance_plan(timestamptz, text, timestamptz, interval, boolean, boolean) IS
  'The partition maintenance plan as data, without running it: one row per step (action create, '
  'create_subpartition, drop, detach, analyze or invalid) with its partitions, range, rows to move out of the '
  'default partition, statements and a note. p_parent limits it to one set, p_from backfills from that time, '
  'p_retention overrides the configured retention, p_create / p_drop leave out creation or retention.';

COMMENT ON PROCEDURE dgm.run_partition_maintenance(jsonb) IS
  'The daily partition maintenance committing after every step, as the Lambda does (for pg_cron or psql): '
  'CALL dgm.run_partition_maintenance(NULL). Locks are held one step at a time; a step that still fails after '
  'its retries is audited as failed and the run goes on. Skips on a replica and while the maintenance lock is '
  'held. Returns status, steps, failed, rows_moved.';

COMMENT ON FUNCTION dgm.slow_query_rows(double precision) IS
  'The rows of dgm.slow_queries for a threshold in milliseconds: this database''s pg_stat_statements entries '
  'with a mean execution time at least p_threshold_ms, slowest first. Raises with a hint when '
  'pg_stat_statements is not installed or not preloaded.';

-- Helpers of the partition maintenance (called by the functions above and by dgm-db-ops).

COMMENT ON FUNCTION dgm.valid_partition_interval(interval) IS
  'True for a partition interval of whole months (1 mon, 3 mons, 1 year) or whole days (1 day, 7 days); the '
  'check of dgm.partition_config.partition_interval.';

COMMENT ON FUNCTION dgm.maintenance_lock_key() IS
  'The advisory lock key of maintenance runs: a psql run and a Lambda or CLI run of dgm-db-ops exclude each '
  'other.';

COMMENT ON FUNCTION dgm.partition_period_start(timestamptz, interval) IS
  'Start (UTC) of the partition period containing p_ts: month periods anchored at January of year 0, day '
  'periods at Monday 1970-01-05 (7-day partitions start on Mondays).';

COMMENT ON FUNCTION dgm.partition_bound_literal(timestamptz, text) IS
  'A partition bound literal for a control column of type p_type (timestamptz, timestamp or date), written '
  'with an explicit +00 offset so it means the same instant in any session TimeZone.';

COMMENT ON FUNCTION dgm.partition_child_name(text, text) IS
  'A partition''s table name: the parent''s name plus the suffix, the parent part shortened by whole characters '
  'until the whole fits the 63-byte identifier limit.';

COMMENT ON FUNCTION dgm.fit_identifier(text, text) IS
  'A derived name (an index of a partition, say) that stays unique when shortened to 63 bytes: the base is cut '
  'and 6 hex digits of its md5 go before the suffix.';

COMMENT ON FUNCTION dgm.partition_free_name(text, text, text, text[]) IS
  'A relation name in p_schema used by no relation and not in p_taken: p_base with the suffix, else with _1, '
  '_2, ... added (a partition detached and kept earlier may hold the natural name).';

COMMENT ON FUNCTION dgm.partition_suffix(timestamptz, interval) IS
  'The suffix naming a partition period: _y2025m01 for month-based sets, _y2025m01d05 for day-based ones.';

COMMENT ON FUNCTION dgm.list_value_suffix(text) IS
  'The suffix naming a list sub-partition: the value in lower case, anything but a-z and 0-9 as _, at most 20 '
  'characters.';

COMMENT ON FUNCTION dgm.assert_index_valid(regclass) IS
  'Raises unless the index is valid: a rolling index''s swap never promotes a build that is not attached on '
  'every partition yet.';

COMMENT ON FUNCTION dgm.partition_ranges(regclass) IS
  'The partitions of a parent with their ranges (-infinity/infinity for MINVALUE/MAXVALUE; NULL for the '
  'default partition and for bounds that are not a single-column range) or, for list partitions, their values.';

COMMENT ON FUNCTION dgm.run_partition_plan(text, jsonb) IS
  'Runs plan rows of dgm.partition_maintenance_plan (as a JSON array), each step in a subtransaction under '
  'lock_timeout (2 s unless the session sets one), retried with backoff (dgm.maintenance_lock_retries, '
  'dgm.maintenance_retry_backoff_ms), each audited in dgm.optimization_audit under job p_job. Returns counts '
  'per action, rows_moved and problems; raises when a step still fails after its retries.';

COMMENT ON FUNCTION dgm.partition_run_gate() IS
  'The gate of the psql API: NULL when a maintenance run may go ahead (it then holds the maintenance lock until '
  'the transaction ends), else the skipped result (a replica, or another run holds the lock).';

COMMENT ON FUNCTION dgm.record_governance_event() IS
  'Trigger function on dgm.constitution: a change of the hash becomes a row of dgm.governance_events (pending, '
  'or ignored when it is the install''s own).';
