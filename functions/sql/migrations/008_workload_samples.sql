-- Only the application's statements are workload (functions/monitor/own-statements.ts): why a statement
-- is not (marked as the tool's, utility, the tool's functions or objects, system catalogs, no table) is
-- recorded once per queryid with its shape; NULL means it is workload. Shapes stored before the rule
-- existed are dropped, to be read and judged again.
DELETE FROM dgm.statement_shapes;
ALTER TABLE dgm.statement_shapes ADD COLUMN not_workload text;

-- Literal samples: a bounded number per statement (different constants), from pg_stat_activity, the
-- server log (with the duration it logged and, from auto_explain, the plan) or a supplied workload.
ALTER TABLE dgm.query_samples DROP CONSTRAINT query_samples_pkey;
ALTER TABLE dgm.query_samples
  ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ADD COLUMN query_hash text GENERATED ALWAYS AS (md5(query)) STORED,
  ADD COLUMN duration_ms float8,
  ADD COLUMN plan text;
CREATE UNIQUE INDEX query_samples_statement ON dgm.query_samples (queryid, query_hash);

-- Where the last read of the server log stopped, per target: the next run reads on from there.
CREATE TABLE dgm.server_log_positions (
  target text PRIMARY KEY,
  -- The log file's name, and the position after the last complete entry read in it: a byte offset
  -- (pg_read_file) or the marker RDS DownloadDBLogFilePortion returned.
  file text NOT NULL,
  marker text NOT NULL,
  -- The last entry read, which may go on in the next read (its continuation lines not written yet).
  pending text NOT NULL DEFAULT '',
  read_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
