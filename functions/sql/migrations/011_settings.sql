-- One slow-query threshold (issue 16): the runtime config's slowQueryThresholdMs is the one setting; the
-- migrate job records it here, so the SQL API (dgm.slow_queries) uses the same threshold as the sampler,
-- its alert and the report. A session can still look with another: SET dgm.slow_query_threshold_ms = '50'.
CREATE TABLE dgm.settings (
  name text PRIMARY KEY,
  value text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT current_user
);
INSERT INTO dgm.settings (name, value) VALUES ('slow_query_threshold_ms', '200');

COMMENT ON TABLE dgm.settings IS
  'Settings of the runtime config that the SQL API reads, recorded by migrate (dgm-db-ops migrate, the migrator Lambda on deploy). slow_query_threshold_ms: the config''s slowQueryThresholdMs.';

CREATE OR REPLACE VIEW dgm.slow_queries AS
SELECT * FROM dgm.slow_query_rows(coalesce(
  nullif(current_setting('dgm.slow_query_threshold_ms', true), '')::double precision,
  (SELECT value::double precision FROM dgm.settings WHERE name = 'slow_query_threshold_ms'),
  200));

COMMENT ON VIEW dgm.slow_queries IS
  'Statements (pg_stat_statements, this database) whose mean time is at least the slow-query threshold: the session setting dgm.slow_query_threshold_ms if set, else the config''s slowQueryThresholdMs recorded in dgm.settings (default 200 ms). Needs pg_stat_statements in shared_preload_libraries.';
