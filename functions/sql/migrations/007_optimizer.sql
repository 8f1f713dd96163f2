-- The optimizer's state: workload baselines (per-query figures before and after changes), the registry
-- of indexes it created itself, literal query samples, its runs, and governance events raised when
-- the constitutional hash changes.

-- A snapshot of pg_stat_statements (cumulative since its last reset). Improvement is always measured
-- between two snapshots: the window after a change against the window before it.
CREATE TABLE dgm.performance_baselines (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  target text NOT NULL DEFAULT 'default',
  kind text NOT NULL CHECK (kind IN ('baseline', 'optimize_start', 'optimize_end')),
  run_id uuid,
  taken_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- pg_stat_statements_info.stats_reset where the server has it (14+): windows never span a reset.
  stats_reset timestamptz,
  statements int NOT NULL DEFAULT 0,
  total_calls bigint NOT NULL DEFAULT 0,
  total_exec_ms double precision NOT NULL DEFAULT 0,
  -- For optimize_end: the indexes the run created or dropped (a change point).
  changes jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX performance_baselines_lookup_idx ON dgm.performance_baselines (target, taken_at DESC);

CREATE TABLE dgm.performance_baseline_queries (
  baseline_id bigint NOT NULL REFERENCES dgm.performance_baselines ON DELETE CASCADE,
  queryid bigint NOT NULL,
  calls bigint NOT NULL,
  total_exec_ms double precision NOT NULL,
  rows bigint NOT NULL DEFAULT 0,
  shared_blks_hit bigint NOT NULL DEFAULT 0,
  shared_blks_read bigint NOT NULL DEFAULT 0,
  temp_blks_written bigint NOT NULL DEFAULT 0,
  -- Normalized text, kept only for the statements the optimizer analyzed (the report names them).
  query text,
  PRIMARY KEY (baseline_id, queryid)
);

-- Indexes the optimizer built (auto_index_creation or --apply), so it only ever drops its own.
CREATE TABLE dgm.auto_indexes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  target text NOT NULL DEFAULT 'default',
  index_schema text NOT NULL,
  index_name text NOT NULL,
  table_schema text NOT NULL,
  table_name text NOT NULL,
  definition text NOT NULL,
  status text NOT NULL CHECK (status IN ('building', 'active', 'verified', 'dropped', 'failed')),
  run_id uuid,
  constitutional_hash text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  estimated_bytes bigint,
  bytes bigint,
  -- The statements it was built for: [{queryid, cost_before, cost_after, calls}].
  target_queries jsonb NOT NULL DEFAULT '[]',
  -- What the check right after creation found: {plan_uses, latency: [...], verdict}.
  verification jsonb NOT NULL DEFAULT '{}',
  -- The optimize_end snapshot of the run that created it: the start of its "after" window.
  baseline_id bigint REFERENCES dgm.performance_baselines ON DELETE SET NULL,
  scans_at_creation bigint NOT NULL DEFAULT 0,
  reviewed_at timestamptz,
  review jsonb NOT NULL DEFAULT '{}',
  dropped_at timestamptz,
  drop_reason text
);
CREATE UNIQUE INDEX auto_indexes_live_name_idx ON dgm.auto_indexes (index_schema, index_name)
  WHERE status IN ('building', 'active', 'verified');

-- Literal instances of normalized statements (pg_stat_statements replaces every constant by $n, and a
-- partial index predicate needs the constants), seen in pg_stat_activity or supplied as a workload.
CREATE TABLE dgm.query_samples (
  queryid bigint PRIMARY KEY,
  query text NOT NULL,
  source text NOT NULL DEFAULT 'pg_stat_activity',
  captured_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Every non-dry optimize run and its result (the report reads the latest).
CREATE TABLE dgm.optimizer_runs (
  run_id uuid PRIMARY KEY,
  target text NOT NULL DEFAULT 'default',
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  status text NOT NULL,
  applied boolean NOT NULL DEFAULT false,
  reason text,
  method text,
  constitutional_hash text,
  result jsonb NOT NULL
);
CREATE INDEX optimizer_runs_finished_idx ON dgm.optimizer_runs (target, finished_at DESC);

-- The design's "automatic optimization on constitutional changes": a change of the hash, by a DBA or a
-- deploy, becomes a governance event; the sampler's next run starts an optimize run for it.
CREATE TABLE dgm.governance_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  old_hash text,
  new_hash text NOT NULL,
  changed_by text NOT NULL DEFAULT current_user,
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  source text NOT NULL CHECK (source IN ('update', 'install')),
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'launched', 'completed', 'failed', 'ignored')),
  attempts int NOT NULL DEFAULT 0,
  -- Set while the deployed configuration does not carry the new hash: nothing is launched for it.
  refused_at timestamptz,
  launched_at timestamptz,
  completed_at timestamptz,
  run_id uuid,
  detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX governance_events_pending_idx ON dgm.governance_events (id) WHERE status IN ('pending', 'launched');

CREATE FUNCTION dgm.record_governance_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  -- A fresh install stores the configured hash in the same transaction that records its migrations
  -- (applied_at DEFAULT now(), the transaction's start): that is no governance change.
  installing boolean := EXISTS (SELECT 1 FROM dgm.schema_migrations WHERE applied_at = now());
BEGIN
  INSERT INTO dgm.governance_events (old_hash, new_hash, source, status)
  VALUES (OLD.hash, NEW.hash, CASE WHEN installing THEN 'install' ELSE 'update' END,
          CASE WHEN installing THEN 'ignored' ELSE 'pending' END);
  RETURN NEW;
END $$;

CREATE TRIGGER constitution_governance_event
  AFTER UPDATE OF hash ON dgm.constitution
  FOR EACH ROW WHEN (OLD.hash IS DISTINCT FROM NEW.hash)
  EXECUTE FUNCTION dgm.record_governance_event();
