-- The reference design's maintenance objects belong with its schema (migration 002), not in the
-- maintenance tasks' defaults (issue: the defaults must not name the design's tables).
-- 1. Its extended statistics, on the partitioned parents; the statistics task mirrors extended statistics
--    defined on a partitioned table onto every leaf partition (the names are the ones that task gave them,
--    so a database it already maintained keeps its objects).
-- 2. dgm.rolling_indexes: the registry of rolling partial indexes the partitions task rolls forward (besides
--    the config's rollingIndexes), with the design's "recent metrics" index registered.
DO $$
BEGIN
  IF to_regclass('dgm.performance_metrics') IS NOT NULL THEN
    CREATE STATISTICS IF NOT EXISTS dgm.performance_metrics_metric_name_timestamp_stx (ndistinct, dependencies)
      ON metric_name, "timestamp" FROM dgm.performance_metrics;
    COMMENT ON STATISTICS dgm.performance_metrics_metric_name_timestamp_stx IS
      'The reference design''s extended statistics: metric_name and timestamp are correlated. Maintenance (statistics task) creates the same on every leaf partition.';
  END IF;
  IF to_regclass('dgm.dgm_archive') IS NOT NULL THEN
    CREATE STATISTICS IF NOT EXISTS dgm.dgm_archive_status_workspace_id_stx (ndistinct, dependencies, mcv)
      ON status, workspace_id FROM dgm.dgm_archive;
    COMMENT ON STATISTICS dgm.dgm_archive_status_workspace_id_stx IS
      'The reference design''s extended statistics: status and workspace_id are correlated. Maintenance (statistics task) creates the same on every leaf partition not list-partitioned by one of them.';
  END IF;
  IF to_regclass('dgm.compliance_logs') IS NOT NULL THEN
    CREATE STATISTICS IF NOT EXISTS dgm.compliance_logs_compliance_level_workspace_id_stx (ndistinct, dependencies, mcv)
      ON compliance_level, workspace_id FROM dgm.compliance_logs;
    COMMENT ON STATISTICS dgm.compliance_logs_compliance_level_workspace_id_stx IS
      'The reference design''s extended statistics: compliance_level and workspace_id are correlated. Maintenance (statistics task) creates the same on every leaf partition.';
  END IF;
END $$;

CREATE TABLE dgm.rolling_indexes (
  index_name text PRIMARY KEY,
  keep_months int NOT NULL DEFAULT 1 CHECK (keep_months BETWEEN 0 AND 120),
  created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE dgm.rolling_indexes IS
  'Rolling partial indexes (predicate "column >= <constant>") the partitions task moves forward to the first day of the month keep_months before the current one, without blocking writes; index_name is the qualified name (quoted where needed). The config''s maintenance.rollingIndexes adds to these and wins for the same index. A registered index that does not exist is skipped with its reason.';

-- The design's "recent metrics" index (created by migration 002; rolled even if the demo dropped it, as a
-- skipped action that says so).
INSERT INTO dgm.rolling_indexes (index_name, keep_months)
SELECT 'dgm.idx_performance_metrics_recent', 1
WHERE to_regclass('dgm.performance_metrics') IS NOT NULL;
