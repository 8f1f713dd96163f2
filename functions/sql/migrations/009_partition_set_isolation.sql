-- The psql API's partition maintenance isolates each partition set, as the Lambda/CLI executor does: a set
-- whose plan or a step fails is rolled back alone (a subtransaction), audited as failed with its error, and
-- every other set is still maintained in the same call. Before, one broken set rolled back the whole call,
-- keeping every other set's rows waiting in their default partitions.

CREATE FUNCTION dgm.run_partition_sets(
  p_job text,
  p_parent text DEFAULT NULL,
  p_from timestamptz DEFAULT NULL,
  p_retention interval DEFAULT NULL,
  p_create boolean DEFAULT true,
  p_drop boolean DEFAULT true) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  cfg record;
  plan jsonb;
  one jsonb;
  k text;
  counts jsonb := '{"create": 0, "create_subpartition": 0, "drop": 0, "detach": 0, "analyze": 0, "invalid": 0}';
  problems jsonb := '[]';
  failed jsonb := '[]';
  moved bigint := 0;
BEGIN
  IF p_parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dgm.partition_config c WHERE c.parent_table = p_parent) THEN
    RAISE EXCEPTION 'dgm: % is not registered in dgm.partition_config', p_parent;
  END IF;
  FOR cfg IN
    SELECT c.parent_table FROM dgm.partition_config c
    WHERE c.enabled AND (p_parent IS NULL OR c.parent_table = p_parent)
    ORDER BY c.parent_table
  LOOP
    BEGIN
      plan := coalesce((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.step)
                        FROM dgm.partition_maintenance_plan(p_parent => cfg.parent_table, p_from => p_from,
                                                            p_retention => p_retention, p_create => p_create,
                                                            p_drop => p_drop) p), '[]');
      one := dgm.run_partition_plan(p_job, plan);
      FOR k IN SELECT jsonb_object_keys(counts) LOOP
        counts := jsonb_set(counts, ARRAY[k], to_jsonb((counts ->> k)::int + coalesce((one ->> k)::int, 0)));
      END LOOP;
      moved := moved + coalesce((one ->> 'rows_moved')::bigint, 0);
      problems := problems || coalesce(one -> 'problems', '[]');
    EXCEPTION WHEN OTHERS THEN
      -- This set's changes are rolled back with its subtransaction; the failure itself is recorded.
      failed := failed || jsonb_build_array(jsonb_build_object('parent_table', cfg.parent_table, 'error', SQLERRM));
      INSERT INTO dgm.optimization_audit (run_id, job, action, target, status, error, constitutional_hash, details)
      VALUES (gen_random_uuid(), p_job, 'partition_set', cfg.parent_table, 'failed', SQLERRM,
              (SELECT c.hash FROM dgm.constitution c), jsonb_build_object('parent_table', cfg.parent_table));
      RAISE WARNING 'dgm: partition maintenance of % failed: %', cfg.parent_table, SQLERRM;
    END;
  END LOOP;
  RETURN jsonb_build_object('status', CASE WHEN jsonb_array_length(failed) > 0 THEN 'failed' ELSE 'succeeded' END)
         || counts || jsonb_build_object('rows_moved', moved, 'problems', problems)
         || CASE WHEN jsonb_array_length(failed) > 0 THEN jsonb_build_object('failed', failed) ELSE '{}' END;
END $$;
COMMENT ON FUNCTION dgm.run_partition_sets(text, text, timestamptz, interval, boolean, boolean) IS
  'Plans and runs partition maintenance one partition set at a time, each in its own subtransaction: a failing '
  'set is rolled back alone and audited (action partition_set, status failed); the others go on. Returns '
  'status (failed when any set failed), counts per action, rows_moved, problems and failed [{parent_table, error}].';

CREATE OR REPLACE FUNCTION dgm.daily_partition_maintenance() RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  RETURN coalesce(dgm.partition_run_gate(), dgm.run_partition_sets('sql:daily_partition_maintenance'));
END $$;
COMMENT ON FUNCTION dgm.daily_partition_maintenance() IS
  'Daily partition maintenance from psql: creates the coming partitions (moving rows waiting in the default '
  'partition into them), applies retention, analyzes the parents. Each partition set is isolated: one that '
  'fails is rolled back alone and reported under "failed"; the others are done. Skips on a replica and while '
  'another run holds the maintenance lock. CALL dgm.run_partition_maintenance() commits step by step instead.';

CREATE OR REPLACE FUNCTION dgm.cleanup_old_partitions(p_months int) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF p_months IS NULL OR p_months < 1 THEN
    RAISE EXCEPTION 'dgm.cleanup_old_partitions: months must be at least 1, got %', p_months;
  END IF;
  RETURN coalesce(dgm.partition_run_gate(),
    dgm.run_partition_sets('sql:cleanup_old_partitions', p_retention => make_interval(months => p_months),
                           p_create => false));
END $$;
COMMENT ON FUNCTION dgm.cleanup_old_partitions(int) IS
  'Drops (or detaches, where configured) partitions whose whole range is older than p_months months, one '
  'partition set at a time: a set that fails is rolled back alone and reported under "failed".';

CREATE OR REPLACE FUNCTION dgm.create_partitions(p_from timestamptz, p_parent text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  RETURN coalesce(dgm.partition_run_gate(),
    dgm.run_partition_sets('sql:create_partitions', p_parent => p_parent, p_from => p_from, p_drop => false));
END $$;
COMMENT ON FUNCTION dgm.create_partitions(timestamptz, text) IS
  'Creates the partitions of one set (p_parent) or of every set from p_from up to the premake horizon, e.g. '
  'before a bulk load, one partition set at a time: a set that fails is rolled back alone and reported.';
