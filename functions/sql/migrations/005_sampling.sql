-- Sampling: per-statement counters of the previous sample and the parsed shape of each statement.

-- The pg_stat_statements counters each statement had at the previous sample, so the sampler turns them
-- into per-interval figures inside the server (5,000 entries never travel to the Lambda). A sample
-- rewrites only the rows whose counters moved, and drops the rows of entries that are gone.
CREATE TABLE dgm.stat_statement_baseline (
  target text NOT NULL,
  queryid bigint NOT NULL,
  -- Top-level statement (14+); nested ones (track = all) are kept apart so totals do not count twice.
  toplevel boolean NOT NULL,
  calls bigint NOT NULL,
  total_exec_ms double precision NOT NULL,
  rows bigint NOT NULL,
  sampled_at timestamptz NOT NULL,
  PRIMARY KEY (target, queryid, toplevel)
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.05);

-- What libpg-query made of a statement's text: read once per statement, not on every sample (reading
-- query texts loads pg_stat_statements' whole text file).
CREATE TABLE dgm.statement_shapes (
  queryid bigint PRIMARY KEY,
  normalized text NOT NULL,
  operation text NOT NULL CHECK (operation IN ('select', 'insert', 'update', 'delete', 'merge', 'utility', 'other')),
  main_schema text,
  main_table text,
  -- [{"schema": "dgm", "name": "dgm_archive"}, ...]; schema resolved against the catalog where possible.
  tables jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tables) = 'array'),
  first_seen timestamptz NOT NULL DEFAULT now()
);
