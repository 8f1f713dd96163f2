-- What the settings rules read, in one round trip: current values, temp file use, heap cache hits, and
-- per-table dead tuples and autovacuum history.
SELECT current_database() AS database,
       current_setting('server_version_num') AS version_num,
       EXISTS (SELECT 1 FROM pg_settings WHERE name LIKE 'rds.%') AS is_rds,
       (SELECT jsonb_object_agg(name, jsonb_build_object('setting', setting, 'unit', unit, 'context', context))
        FROM pg_settings
        WHERE name IN ('work_mem', 'random_page_cost', 'seq_page_cost', 'effective_io_concurrency',
                       'maintenance_io_concurrency', 'shared_buffers', 'effective_cache_size',
                       'autovacuum_vacuum_scale_factor', 'autovacuum_vacuum_threshold',
                       'autovacuum_vacuum_cost_limit', 'vacuum_cost_limit', 'autovacuum_max_workers',
                       'autovacuum_naptime')) AS settings,
       d.temp_files, d.temp_bytes,
       extract(epoch FROM now() - d.stats_reset) AS stats_reset_age,
       (SELECT coalesce(sum(heap_blks_hit), 0) FROM pg_statio_user_tables) AS heap_hit,
       (SELECT coalesce(sum(heap_blks_read), 0) FROM pg_statio_user_tables) AS heap_read,
       (SELECT jsonb_agg(jsonb_build_object(
                 'schema', s.schemaname, 'name', s.relname, 'live', s.n_live_tup, 'dead', s.n_dead_tup,
                 'mods', s.n_mod_since_analyze, 'ins', s.n_ins_since_vacuum,
                 'last_av_age', extract(epoch FROM now() - greatest(s.last_autovacuum, s.last_vacuum)),
                 'av_count', s.autovacuum_count, 'options', c.reloptions))
        FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid) AS tables
FROM pg_stat_database d
WHERE d.datname = current_database()
