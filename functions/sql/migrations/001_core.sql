-- Core of the DGM schema: the constitution, the audit trail, sampler snapshots and partition registry.
CREATE SCHEMA IF NOT EXISTS dgm;

-- The constitutional hash every mutating job is checked against (one row).
CREATE TABLE dgm.constitution (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  hash text NOT NULL DEFAULT 'cdd01ef066bc6cf2' CHECK (hash ~ '^[0-9a-f]{16,64}$'),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT current_user
);
INSERT INTO dgm.constitution DEFAULT VALUES;

-- Every mutating action, refused or done: what, the SQL, how long, outcome, under which hash.
CREATE TABLE dgm.optimization_audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id uuid,
  job text NOT NULL,
  action text NOT NULL,
  target text,
  sql text,
  status text NOT NULL CHECK (status IN ('succeeded', 'failed', 'skipped', 'refused')),
  duration_ms double precision,
  error text,
  constitutional_hash text,
  details jsonb NOT NULL DEFAULT '{}',
  actor text NOT NULL DEFAULT current_user,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX optimization_audit_created_at_idx ON dgm.optimization_audit (created_at DESC);
CREATE INDEX optimization_audit_run_idx ON dgm.optimization_audit (run_id);

-- Cumulative counters of earlier samples, so the sampler can turn them into per-interval rates.
CREATE TABLE dgm.stat_snapshots (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  target text NOT NULL DEFAULT 'default',
  kind text NOT NULL DEFAULT 'sample',
  taken_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  counters jsonb NOT NULL
);
CREATE INDEX stat_snapshots_lookup_idx ON dgm.stat_snapshots (target, kind, taken_at DESC);

-- A partition interval is whole months (1 mon, 3 mons, 1 year) or whole days (1 day, 7 days).
CREATE FUNCTION dgm.valid_partition_interval(i interval) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT i > interval '0'
     AND (i = make_interval(months => (extract(year FROM i) * 12 + extract(month FROM i))::int)
          OR i = make_interval(days => extract(day FROM i)::int))
$$;

-- One row per managed partition set. parent_table is a qualified, quoted name ('"My Schema"."T"').
CREATE TABLE dgm.partition_config (
  parent_table text PRIMARY KEY,
  control_column text NOT NULL,
  partition_interval interval NOT NULL CHECK (dgm.valid_partition_interval(partition_interval)),
  premake int NOT NULL DEFAULT 4 CHECK (premake BETWEEN 0 AND 500),
  retention interval CHECK (retention IS NULL OR retention > interval '0'),
  retention_keep_table boolean NOT NULL DEFAULT false,
  sub_partition_column text,
  sub_partition_values text[],
  storage_parameters jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(storage_parameters) = 'object'),
  enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((sub_partition_column IS NULL) = (sub_partition_values IS NULL)),
  CHECK (sub_partition_values IS NULL OR cardinality(sub_partition_values) > 0)
);
