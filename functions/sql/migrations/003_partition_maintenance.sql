-- Partition maintenance in SQL: one planner that returns the plan as data (dgm.partition_maintenance_plan),
-- used both by the maintainer Lambda (which executes each step under lock_timeout with retries and audit)
-- and by the DBA functions dgm.daily_partition_maintenance() and dgm.cleanup_old_partitions(months).
-- All boundaries are computed in UTC whatever the session or server TimeZone.

-- Start of the partition period containing p_ts: months anchored at January of year 0, days at Monday
-- 1970-01-05 (so 7-day partitions start on Mondays).
CREATE FUNCTION dgm.partition_period_start(p_ts timestamptz, p_interval interval) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  months int := (extract(year FROM p_interval) * 12 + extract(month FROM p_interval))::int;
  days int := extract(day FROM p_interval)::int;
  utc timestamp := p_ts AT TIME ZONE 'UTC';
  m int;
BEGIN
  IF months > 0 THEN
    m := extract(year FROM utc)::int * 12 + extract(month FROM utc)::int - 1;
    m := m - (m % months);
    RETURN make_timestamptz(m / 12, m % 12 + 1, 1, 0, 0, 0, 'UTC');
  END IF;
  RETURN ((date '1970-01-05' + (floor((utc::date - date '1970-01-05')::numeric / days) * days)::int)::timestamp)
         AT TIME ZONE 'UTC';
END $$;

-- A partition bound literal for a control column of type timestamptz, timestamp or date.
CREATE FUNCTION dgm.partition_bound_literal(p_bound timestamptz, p_type text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT quote_literal(CASE p_type
    WHEN 'timestamp with time zone' THEN to_char(p_bound AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'
    WHEN 'date' THEN to_char(p_bound AT TIME ZONE 'UTC', 'YYYY-MM-DD')
    ELSE to_char(p_bound AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') END)
$$;

-- A child table name: parent name plus suffix, the parent part shortened so the whole fits in 63 bytes.
CREATE FUNCTION dgm.partition_child_name(p_parent_name text, p_suffix text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  base text := p_parent_name;
BEGIN
  WHILE octet_length(base || p_suffix) > 63 LOOP
    base := left(base, length(base) - 1);
  END LOOP;
  RETURN base || p_suffix;
END $$;

-- The suffix naming a period: _y2025m01 for month-based sets, _y2025m01d05 for day-based ones.
CREATE FUNCTION dgm.partition_suffix(p_from timestamptz, p_interval interval) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN extract(day FROM p_interval) = 0
    THEN to_char(p_from AT TIME ZONE 'UTC', '"_y"YYYY"m"MM')
    ELSE to_char(p_from AT TIME ZONE 'UTC', '"_y"YYYY"m"MM"d"DD') END
$$;

-- The existing partitions of a parent with their ranges (NULL bounds for DEFAULT or MINVALUE/MAXVALUE).
CREATE FUNCTION dgm.partition_ranges(p_parent regclass)
RETURNS TABLE (partition_oid oid, schema_name text, table_name text, is_default boolean,
               range_from timestamptz, range_to timestamptz)
LANGUAGE plpgsql STABLE SET TimeZone = 'UTC' AS $$
DECLARE
  r record;
  m text[];
BEGIN
  FOR r IN
    SELECT c.oid, n.nspname::text AS nsp, c.relname::text AS rel, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE i.inhparent = p_parent
  LOOP
    partition_oid := r.oid; schema_name := r.nsp; table_name := r.rel;
    is_default := r.bound = 'DEFAULT';
    range_from := NULL; range_to := NULL;
    m := regexp_match(r.bound, '^FOR VALUES FROM \(''([^'']*)''\) TO \(''([^'']*)''\)$');
    IF m IS NOT NULL THEN
      range_from := m[1]::timestamptz;
      range_to := m[2]::timestamptz;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;

-- The plan: one row per step, each step's statements to run in one transaction, in order.
-- p_from backfills partitions from that time; p_retention overrides the configured retention.
CREATE FUNCTION dgm.partition_maintenance_plan(
  p_now timestamptz DEFAULT now(),
  p_parent text DEFAULT NULL,
  p_from timestamptz DEFAULT NULL,
  p_retention interval DEFAULT NULL,
  p_create boolean DEFAULT true,
  p_drop boolean DEFAULT true)
RETURNS TABLE (step int, parent_table text, action text, partition_name text, range_from timestamptz,
               range_to timestamptz, rows_to_move bigint, statements text[])
LANGUAGE plpgsql VOLATILE SET TimeZone = 'UTC' AS $$
DECLARE
  cfg record;
  parent_oid regclass;
  nsp text;
  rel text;
  qparent text;
  col_type text;
  default_rel text;
  cols text;
  periods timestamptz[];
  period timestamptz;
  period_end timestamptz;
  child text;
  qchild text;
  leaves text[];
  stmts text[];
  moving bigint;
  retention interval;
  cutoff timestamptz;
  changed boolean;
  opts text;
  v text;
  r record;
  n int := 0;
BEGIN
  IF p_parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dgm.partition_config c WHERE c.parent_table = p_parent) THEN
    RAISE EXCEPTION 'dgm: % is not registered in dgm.partition_config', p_parent;
  END IF;
  FOR cfg IN
    SELECT * FROM dgm.partition_config c
    WHERE c.enabled AND (p_parent IS NULL OR c.parent_table = p_parent)
    ORDER BY c.parent_table
  LOOP
    parent_oid := cfg.parent_table::regclass;
    SELECT n2.nspname, c2.relname INTO nsp, rel
    FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace WHERE c2.oid = parent_oid;
    IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table pt WHERE pt.partrelid = parent_oid AND pt.partstrat = 'r') THEN
      RAISE EXCEPTION 'dgm: % is not range-partitioned', cfg.parent_table;
    END IF;
    qparent := format('%I.%I', nsp, rel);
    SELECT format_type(a.atttypid, a.atttypmod) INTO col_type
    FROM pg_attribute a WHERE a.attrelid = parent_oid AND a.attname = cfg.control_column AND NOT a.attisdropped;
    IF col_type IS NULL THEN
      RAISE EXCEPTION 'dgm: % has no column %', cfg.parent_table, cfg.control_column;
    END IF;
    IF col_type NOT IN ('timestamp with time zone', 'timestamp without time zone', 'date') THEN
      RAISE EXCEPTION 'dgm: %.% is %, expected timestamptz, timestamp or date', cfg.parent_table, cfg.control_column, col_type;
    END IF;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
    FROM pg_attribute a WHERE a.attrelid = parent_oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    SELECT format('%I.%I', pr.schema_name, pr.table_name) INTO default_rel
    FROM dgm.partition_ranges(parent_oid) pr WHERE pr.is_default;

    SELECT string_agg(format('%I = %L', k, val #>> '{}'), ', ') INTO opts
    FROM jsonb_each(cfg.storage_parameters) AS e(k, val);

    changed := false;
    retention := coalesce(p_retention, cfg.retention);
    cutoff := CASE WHEN retention IS NULL THEN NULL ELSE p_now - retention END;

    IF p_create THEN
      -- The current period and premake periods ahead, periods from p_from, and periods with rows in default.
      SELECT array_agg(DISTINCT g ORDER BY g) INTO periods FROM (
        SELECT dgm.partition_period_start(p_now, cfg.partition_interval) + cfg.partition_interval * i AS g
        FROM generate_series(0, cfg.premake) i
        UNION ALL
        SELECT g2 FROM generate_series(dgm.partition_period_start(coalesce(p_from, p_now), cfg.partition_interval),
                                       dgm.partition_period_start(p_now, cfg.partition_interval),
                                       cfg.partition_interval) g2
      ) s;
      IF default_rel IS NOT NULL THEN
        FOR r IN EXECUTE format('SELECT DISTINCT dgm.partition_period_start(%I::timestamptz, %L::interval) AS p FROM %s',
                                cfg.control_column, cfg.partition_interval, default_rel) LOOP
          IF r.p IS NOT NULL AND NOT r.p = ANY (periods) THEN
            periods := periods || r.p;
          END IF;
        END LOOP;
      END IF;
      FOREACH period IN ARRAY periods LOOP
        period_end := period + cfg.partition_interval;
        -- Past retention: such rows stay where they are rather than be created into a doomed partition.
        CONTINUE WHEN cutoff IS NOT NULL AND period_end <= cutoff;
        CONTINUE WHEN EXISTS (SELECT 1 FROM dgm.partition_ranges(parent_oid) pr
                              WHERE NOT pr.is_default AND pr.range_from < period_end AND pr.range_to > period);
        CONTINUE WHEN EXISTS (SELECT 1 FROM dgm.partition_ranges(parent_oid) pr
                              WHERE NOT pr.is_default AND pr.range_from IS NULL);
        child := dgm.partition_child_name(rel, dgm.partition_suffix(period, cfg.partition_interval));
        qchild := format('%I.%I', nsp, child);
        stmts := ARRAY[format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE', qparent)];
        stmts := stmts || format('CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED '
                                 'INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION)%s',
                                 qchild, qparent,
                                 CASE WHEN cfg.sub_partition_column IS NULL THEN ''
                                      ELSE format(' PARTITION BY LIST (%I)', cfg.sub_partition_column) END);
        leaves := ARRAY[]::text[];
        IF cfg.sub_partition_column IS NULL THEN
          leaves := ARRAY[qchild];
        ELSE
          FOREACH v IN ARRAY cfg.sub_partition_values LOOP
            leaves := leaves || format('%I.%I', nsp, dgm.partition_child_name(child, '_' || left(regexp_replace(lower(v), '[^a-z0-9]+', '_', 'g'), 20)));
            stmts := stmts || format('CREATE TABLE %s PARTITION OF %s FOR VALUES IN (%L)', leaves[cardinality(leaves)], qchild, v);
          END LOOP;
          leaves := leaves || format('%I.%I', nsp, dgm.partition_child_name(child, '_default'));
          stmts := stmts || format('CREATE TABLE %s PARTITION OF %s DEFAULT', leaves[cardinality(leaves)], qchild);
        END IF;
        IF opts IS NOT NULL THEN
          FOREACH v IN ARRAY leaves LOOP
            stmts := stmts || format('ALTER TABLE %s SET (%s)', v, opts);
          END LOOP;
        END IF;
        moving := 0;
        IF default_rel IS NOT NULL THEN
          EXECUTE format('SELECT count(*) FROM %s WHERE %I >= %s AND %I < %s', default_rel,
                         cfg.control_column, dgm.partition_bound_literal(period, col_type),
                         cfg.control_column, dgm.partition_bound_literal(period_end, col_type)) INTO moving;
          -- The default partition is locked before rows move, so none can arrive there for this range
          -- between the move and the attach's check.
          stmts := stmts || format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', default_rel);
          IF moving > 0 THEN
            stmts := stmts || format('WITH moved AS (DELETE FROM %s WHERE %I >= %s AND %I < %s RETURNING %s) '
                                     'INSERT INTO %s (%s) SELECT %s FROM moved',
                                     default_rel, cfg.control_column, dgm.partition_bound_literal(period, col_type),
                                     cfg.control_column, dgm.partition_bound_literal(period_end, col_type), cols,
                                     qchild, cols, cols);
          END IF;
        END IF;
        stmts := stmts || format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)', qparent, qchild,
                                 dgm.partition_bound_literal(period, col_type), dgm.partition_bound_literal(period_end, col_type));
        n := n + 1; changed := true;
        step := n; parent_table := cfg.parent_table; action := 'create'; partition_name := qchild;
        range_from := period; range_to := period_end; rows_to_move := moving; statements := stmts;
        RETURN NEXT;
      END LOOP;
    END IF;

    IF p_drop AND cutoff IS NOT NULL THEN
      FOR r IN SELECT * FROM dgm.partition_ranges(parent_oid) pr
               WHERE NOT pr.is_default AND pr.range_to IS NOT NULL AND pr.range_to <= cutoff
               ORDER BY pr.range_from LOOP
        n := n + 1; changed := true;
        step := n; parent_table := cfg.parent_table; partition_name := format('%I.%I', r.schema_name, r.table_name);
        range_from := r.range_from; range_to := r.range_to; rows_to_move := 0;
        IF cfg.retention_keep_table THEN
          action := 'detach';
          statements := ARRAY[format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', qparent),
                              format('ALTER TABLE %s DETACH PARTITION %s', qparent, partition_name)];
        ELSE
          action := 'drop';
          statements := ARRAY[format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', qparent),
                              format('DROP TABLE %s', partition_name)];
        END IF;
        RETURN NEXT;
      END LOOP;
    END IF;

    IF changed THEN
      -- Autovacuum never analyzes partitioned parents; the planner needs their statistics.
      n := n + 1;
      step := n; parent_table := cfg.parent_table; action := 'analyze'; partition_name := NULL;
      range_from := NULL; range_to := NULL; rows_to_move := 0; statements := ARRAY[format('ANALYZE %s', qparent)];
      RETURN NEXT;
    END IF;
  END LOOP;
END $$;

-- Runs a plan in the current transaction, auditing each step; returns a summary.
CREATE FUNCTION dgm.run_partition_plan(p_job text, p_plan_rows jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  s text;
  started timestamptz;
  moved bigint;
  total_moved bigint := 0;
  counts jsonb := '{"create": 0, "drop": 0, "detach": 0, "analyze": 0}';
  hash text := (SELECT c.hash FROM dgm.constitution c);
BEGIN
  FOR r IN SELECT * FROM jsonb_to_recordset(p_plan_rows)
             AS x(step int, parent_table text, action text, partition_name text, statements text[])
           ORDER BY step LOOP
    started := clock_timestamp();
    moved := 0;
    FOREACH s IN ARRAY r.statements LOOP
      EXECUTE s;
      IF s LIKE 'WITH moved AS%' THEN
        GET DIAGNOSTICS moved = ROW_COUNT;
        total_moved := total_moved + moved;
      END IF;
    END LOOP;
    counts := jsonb_set(counts, ARRAY[r.action], to_jsonb((counts ->> r.action)::int + 1));
    INSERT INTO dgm.optimization_audit (job, action, target, sql, status, duration_ms, constitutional_hash, details)
    VALUES (p_job, 'partition_' || r.action, coalesce(r.partition_name, r.parent_table),
            array_to_string(r.statements, E';\n'), 'succeeded',
            extract(epoch FROM clock_timestamp() - started) * 1000, hash,
            jsonb_build_object('parent_table', r.parent_table, 'rows_moved', moved));
  END LOOP;
  RETURN counts || jsonb_build_object('rows_moved', total_moved);
END $$;

-- Daily maintenance from psql: create the coming partitions (moving any rows waiting in the default
-- partition into them), apply retention, analyze the parents. One transaction: all or nothing.
CREATE FUNCTION dgm.daily_partition_maintenance() RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  RETURN dgm.run_partition_plan('sql:daily_partition_maintenance',
    coalesce((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.step) FROM dgm.partition_maintenance_plan() p), '[]'));
END $$;

-- Drops (or detaches, where configured) partitions whose whole range is older than p_months months.
CREATE FUNCTION dgm.cleanup_old_partitions(p_months int) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF p_months IS NULL OR p_months < 1 THEN
    RAISE EXCEPTION 'dgm.cleanup_old_partitions: months must be at least 1, got %', p_months;
  END IF;
  RETURN dgm.run_partition_plan('sql:cleanup_old_partitions',
    coalesce((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.step)
              FROM dgm.partition_maintenance_plan(p_retention => make_interval(months => p_months), p_create => false) p),
             '[]'));
END $$;

-- Creates the partitions of one set (or all) from p_from up to the premake horizon, e.g. before a bulk load.
CREATE FUNCTION dgm.create_partitions(p_from timestamptz, p_parent text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  RETURN dgm.run_partition_plan('sql:create_partitions',
    coalesce((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.step)
              FROM dgm.partition_maintenance_plan(p_parent => p_parent, p_from => p_from, p_drop => false) p), '[]'));
END $$;
