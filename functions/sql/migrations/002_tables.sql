-- The design's tables, indexes and per-table autovacuum settings.

CREATE TABLE dgm.workspaces (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'pending', 'suspended', 'archived')),
  owner text,
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The archive of DGM improvements: range by created_at (monthly), each month list-partitioned by status.
CREATE SEQUENCE dgm.dgm_archive_id_seq AS bigint;
CREATE TABLE dgm.dgm_archive (
  id bigint NOT NULL DEFAULT nextval('dgm.dgm_archive_id_seq'),
  improvement_id uuid NOT NULL DEFAULT gen_random_uuid(),
  workspace_id bigint,
  status text NOT NULL,
  constitutional_compliance_score double precision NOT NULL
    CHECK (constitutional_compliance_score BETWEEN 0 AND 1),
  performance_delta double precision,
  description text,
  metadata jsonb NOT NULL DEFAULT '{}',
  tags jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, created_at, status)
) PARTITION BY RANGE (created_at);
ALTER SEQUENCE dgm.dgm_archive_id_seq OWNED BY dgm.dgm_archive.id;
CREATE TABLE dgm.dgm_archive_default PARTITION OF dgm.dgm_archive DEFAULT;

CREATE SEQUENCE dgm.performance_metrics_id_seq AS bigint;
CREATE TABLE dgm.performance_metrics (
  id bigint NOT NULL DEFAULT nextval('dgm.performance_metrics_id_seq'),
  metric_name text NOT NULL,
  metric_value double precision NOT NULL,
  "timestamp" timestamptz NOT NULL DEFAULT now(),
  workspace_id bigint,
  labels jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (id, "timestamp")
) PARTITION BY RANGE ("timestamp");
ALTER SEQUENCE dgm.performance_metrics_id_seq OWNED BY dgm.performance_metrics.id;
CREATE TABLE dgm.performance_metrics_default PARTITION OF dgm.performance_metrics DEFAULT;

CREATE SEQUENCE dgm.compliance_logs_id_seq AS bigint;
CREATE TABLE dgm.compliance_logs (
  id bigint NOT NULL DEFAULT nextval('dgm.compliance_logs_id_seq'),
  workspace_id bigint,
  archive_id bigint,
  compliance_level text NOT NULL CHECK (compliance_level IN ('compliant', 'warning', 'violation', 'critical')),
  violations jsonb NOT NULL DEFAULT '[]',
  constitutional_hash text NOT NULL DEFAULT 'cdd01ef066bc6cf2',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
ALTER SEQUENCE dgm.compliance_logs_id_seq OWNED BY dgm.compliance_logs.id;
CREATE TABLE dgm.compliance_logs_default PARTITION OF dgm.compliance_logs DEFAULT;

CREATE TABLE dgm.bandit_states (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  context_key text NOT NULL,
  arm_id text NOT NULL,
  average_reward double precision NOT NULL DEFAULT 0,
  pull_count bigint NOT NULL DEFAULT 0,
  metadata jsonb NOT NULL DEFAULT '{}',
  last_updated timestamptz NOT NULL DEFAULT now(),
  UNIQUE (context_key, arm_id)
);

-- Composite indexes.
CREATE INDEX idx_dgm_archive_status_compliance_created
  ON dgm.dgm_archive (status, constitutional_compliance_score DESC, created_at DESC);
CREATE INDEX idx_performance_metrics_name_timestamp
  ON dgm.performance_metrics (metric_name, "timestamp" DESC);
CREATE INDEX idx_bandit_states_context_reward
  ON dgm.bandit_states (context_key, average_reward DESC, last_updated DESC);

-- Partial indexes. An index predicate must be immutable, so "timestamp > now() - 30 days" cannot be
-- written as such: the recent-metrics index uses a constant cutoff, the first day of the previous month
-- (always at least 30 days back), which maintenance rolls forward (dgm.roll_recent_metrics_index()).
DO $$
BEGIN
  EXECUTE format(
    'CREATE INDEX idx_performance_metrics_recent ON dgm.performance_metrics ("timestamp" DESC) '
    'INCLUDE (metric_name, metric_value) WHERE "timestamp" >= %L::timestamptz',
    to_char(date_trunc('month', (now() AT TIME ZONE 'UTC')) - interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
END $$;
CREATE INDEX idx_workspaces_active
  ON dgm.workspaces (updated_at DESC) WHERE status IN ('active', 'pending');
CREATE INDEX idx_compliance_logs_critical
  ON dgm.compliance_logs (created_at DESC) WHERE compliance_level IN ('violation', 'critical');

-- GIN indexes for JSONB. Metadata and violations are searched by containment (@>): jsonb_path_ops
-- hashes each path with its value, so {"generation": 42} is one selective entry (jsonb_ops would also
-- index the key "generation", which every row has, and the planner rightly prefers a seq scan then).
-- Tags are searched by element existence (tags ? 'x'), which only jsonb_ops supports.
CREATE INDEX idx_dgm_archive_metadata_gin ON dgm.dgm_archive USING gin (metadata jsonb_path_ops);
CREATE INDEX idx_dgm_archive_tags_gin ON dgm.dgm_archive USING gin (tags);
CREATE INDEX idx_compliance_logs_violations_gin ON dgm.compliance_logs USING gin (violations jsonb_path_ops);

-- The design's high-write autovacuum settings. Partitioned parents take no storage parameters, so the
-- partition sets carry them in dgm.partition_config and maintenance applies them to every partition.
ALTER TABLE dgm.bandit_states SET (
  autovacuum_vacuum_scale_factor = 0.1, autovacuum_analyze_scale_factor = 0.05, autovacuum_vacuum_cost_delay = 10);
ALTER TABLE dgm.workspaces SET (
  autovacuum_vacuum_scale_factor = 0.1, autovacuum_analyze_scale_factor = 0.05, autovacuum_vacuum_cost_delay = 10);

INSERT INTO dgm.partition_config
  (parent_table, control_column, partition_interval, premake, retention, sub_partition_column,
   sub_partition_values, storage_parameters)
VALUES
  ('dgm.dgm_archive', 'created_at', '1 month', 3, NULL, 'status',
   ARRAY['pending', 'running', 'completed', 'failed', 'rolled_back'],
   '{"autovacuum_vacuum_scale_factor": 0.1, "autovacuum_analyze_scale_factor": 0.05, "autovacuum_vacuum_cost_delay": 10}'),
  ('dgm.performance_metrics', 'timestamp', '1 month', 3, '12 months', NULL, NULL,
   '{"autovacuum_vacuum_scale_factor": 0.1, "autovacuum_analyze_scale_factor": 0.05, "autovacuum_vacuum_cost_delay": 10}'),
  ('dgm.compliance_logs', 'created_at', '1 month', 3, '24 months', NULL, NULL,
   '{"autovacuum_vacuum_scale_factor": 0.1, "autovacuum_analyze_scale_factor": 0.05, "autovacuum_vacuum_cost_delay": 10}');
