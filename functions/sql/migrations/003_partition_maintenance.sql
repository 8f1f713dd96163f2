-- Partition maintenance in SQL: ONE planner that returns the plan as data (dgm.partition_maintenance_plan),
-- used both by the maintainer Lambda / CLI (which run each step in its own transaction under lock_timeout
-- with retries, and audit it) and by the DBA's psql API (dgm.daily_partition_maintenance(),
-- dgm.cleanup_old_partitions(months), dgm.create_partitions(from), CALL dgm.run_partition_maintenance()).
-- All boundaries are computed in UTC whatever the session or server TimeZone.

-- The advisory lock key of maintenance runs (functions/db/locks.ts ADVISORY_LOCKS.maintain): a psql run and
-- a Lambda run exclude each other.
CREATE FUNCTION dgm.maintenance_lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 1145523458::bigint $$;

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
  IF p_ts IS NULL OR NOT isfinite(p_ts) THEN
    RETURN NULL;
  END IF;
  IF months > 0 THEN
    m := extract(year FROM utc)::int * 12 + extract(month FROM utc)::int - 1;
    m := m - (m % months);
    RETURN make_timestamptz(m / 12, m % 12 + 1, 1, 0, 0, 0, 'UTC');
  END IF;
  RETURN ((date '1970-01-05' + (floor((utc::date - date '1970-01-05')::numeric / days) * days)::int)::timestamp)
         AT TIME ZONE 'UTC';
END $$;

-- A partition bound literal for a control column of type timestamptz, timestamp or date; written with an
-- explicit +00 offset so that it means the same instant in any session TimeZone.
CREATE FUNCTION dgm.partition_bound_literal(p_bound timestamptz, p_type text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT quote_literal(CASE p_type
    WHEN 'timestamp with time zone' THEN to_char(p_bound AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'
    WHEN 'date' THEN to_char(p_bound AT TIME ZONE 'UTC', 'YYYY-MM-DD')
    ELSE to_char(p_bound AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') END)
$$;

-- A child table name: parent name plus suffix, the parent part shortened (by whole characters, so a
-- multibyte letter is never cut) until the whole fits PostgreSQL's 63-byte identifier limit.
CREATE FUNCTION dgm.partition_child_name(p_parent_name text, p_suffix text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  base text := p_parent_name;
BEGIN
  WHILE octet_length(base || p_suffix) > 63 AND length(base) > 0 LOOP
    base := left(base, length(base) - 1);
  END LOOP;
  RETURN base || p_suffix;
END $$;

-- A derived name (an index of a partition, say) that stays unique when it must be shortened: the base is cut
-- and 6 hex digits of its md5 are put before the suffix (dgm-db-ops's fitIdentifier() does the same).
CREATE FUNCTION dgm.fit_identifier(p_base text, p_suffix text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  base text := p_base;
  tag text := '_' || left(md5(p_base), 6);
BEGIN
  IF octet_length(p_base || p_suffix) <= 63 THEN
    RETURN p_base || p_suffix;
  END IF;
  WHILE octet_length(base || tag || p_suffix) > 63 AND length(base) > 0 LOOP
    base := left(base, length(base) - 1);
  END LOOP;
  RETURN base || tag || p_suffix;
END $$;

-- A relation name in p_schema not used by any relation and not in p_taken: p_base with the suffix, else
-- the suffix followed by _1, _2, ... (a table detached and kept earlier may hold the natural name).
CREATE FUNCTION dgm.partition_free_name(p_schema text, p_base text, p_suffix text, p_taken text[])
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
  candidate text := dgm.partition_child_name(p_base, p_suffix);
  i int := 0;
BEGIN
  WHILE candidate = ANY (coalesce(p_taken, '{}'))
     OR EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = p_schema AND c.relname = candidate) LOOP
    i := i + 1;
    candidate := dgm.partition_child_name(p_base, p_suffix || '_' || i);
  END LOOP;
  RETURN candidate;
END $$;

-- The suffix naming a period: _y2025m01 for month-based sets, _y2025m01d05 for day-based ones.
CREATE FUNCTION dgm.partition_suffix(p_from timestamptz, p_interval interval) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN extract(day FROM p_interval) = 0
    THEN to_char(p_from AT TIME ZONE 'UTC', '"_y"YYYY"m"MM')
    ELSE to_char(p_from AT TIME ZONE 'UTC', '"_y"YYYY"m"MM"d"DD') END
$$;

-- The suffix naming a list sub-partition: the value in lower case, anything but a-z and 0-9 as _, 20 chars.
CREATE FUNCTION dgm.list_value_suffix(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT '_' || coalesce(nullif(left(trim(both '_' FROM regexp_replace(lower(p_value), '[^a-z0-9]+', '_', 'g')), 20), ''), 'v')
$$;

-- Raises unless the index is valid: a rolling index's swap must never promote a build that is not attached
-- on every partition yet.
CREATE FUNCTION dgm.assert_index_valid(p_index regclass) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = p_index AND i.indisvalid) THEN
    RAISE EXCEPTION 'dgm: index % is not valid (not built on every partition yet)', p_index
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
END $$;

-- The existing partitions of a parent with their ranges: -infinity/infinity for MINVALUE/MAXVALUE, NULL
-- for DEFAULT and for bounds that are not a single-column range. For LIST partitions, list_values.
CREATE FUNCTION dgm.partition_ranges(p_parent regclass)
RETURNS TABLE (partition_oid oid, schema_name text, table_name text, is_default boolean, is_partitioned boolean,
               range_from timestamptz, range_to timestamptz, list_values text[])
LANGUAGE plpgsql STABLE SET TimeZone = 'UTC' AS $$
DECLARE
  r record;
  m text[];
BEGIN
  FOR r IN
    SELECT c.oid, n.nspname::text AS nsp, c.relname::text AS rel, c.relkind,
           pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE i.inhparent = p_parent
  LOOP
    partition_oid := r.oid; schema_name := r.nsp; table_name := r.rel;
    is_default := r.bound = 'DEFAULT';
    is_partitioned := r.relkind = 'p';
    range_from := NULL; range_to := NULL; list_values := NULL;
    m := regexp_match(r.bound, '^FOR VALUES FROM \((MINVALUE|''[^'']*'')\) TO \((MAXVALUE|''[^'']*'')\)$');
    IF m IS NOT NULL THEN
      range_from := CASE WHEN m[1] = 'MINVALUE' THEN '-infinity'::timestamptz ELSE btrim(m[1], '''')::timestamptz END;
      range_to := CASE WHEN m[2] = 'MAXVALUE' THEN 'infinity'::timestamptz ELSE btrim(m[2], '''')::timestamptz END;
    ELSIF r.bound LIKE 'FOR VALUES IN (%' THEN
      SELECT array_agg(replace(x[1], '''''', '''')) INTO list_values
      FROM regexp_matches(r.bound, '''((?:[^'']|'''')*)''', 'g') AS x;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;

-- The plan: one row per step; each step's statements run in one transaction, in order, and each step
-- stands alone (a failed step leaves the earlier ones done). Actions: create (time partitions with their
-- list sub-partitions: one with rows waiting in the default partition in a step of its own, the rows moved
-- into it; empty ones up to 24 per step, so the parent is locked and a commit made once), create_subpartition (a
-- configured list value missing under an existing time partition), drop / detach (retention, oldest
-- first, one step per parent), analyze (the parent after changes, or when its statistics are stale),
-- invalid (a registration that cannot be maintained; note says why; no statements).
-- p_from backfills partitions from that time; p_retention overrides the configured retention.
CREATE FUNCTION dgm.partition_maintenance_plan(
  p_now timestamptz DEFAULT now(),
  p_parent text DEFAULT NULL,
  p_from timestamptz DEFAULT NULL,
  p_retention interval DEFAULT NULL,
  p_create boolean DEFAULT true,
  p_drop boolean DEFAULT true)
RETURNS TABLE (step int, parent_table text, action text, partitions text[], range_from timestamptz,
               range_to timestamptz, rows_to_move bigint, statements text[], note text)
LANGUAGE plpgsql VOLATILE SET TimeZone = 'UTC' AS $$
DECLARE
  cfg record;
  parent_oid oid;
  nsp text;
  rel text;
  qparent text;
  col_type text;
  col_attnum int;
  key_ok boolean;
  sub_key_attnum int;
  default_rel text;
  cols text;
  with_opts text;
  stat_cols text[];
  stat_targets int[];
  -- existing ranged partitions, then the ones this plan creates
  p_names text[];
  p_from_a timestamptz[];
  p_to_a timestamptz[];
  taken text[];
  -- rows in the default partition per period
  d_periods timestamptz[];
  d_counts bigint[];
  periods timestamptz[];
  period timestamptz;
  period_end timestamptz;
  child text;
  qchild text;
  leaf text;
  leaf_names text[];
  stmts text[];
  made text[];
  attached text[];
  lock_stmts text[];
  batch_made text[];
  batch_attached text[];
  batch_names text[];
  batch_from timestamptz;
  batch_to timestamptz;
  moving bigint;
  retention interval;
  cutoff timestamptz;
  changed boolean;
  newest_to timestamptz;
  drop_names text[];
  drop_from timestamptz;
  drop_to timestamptz;
  parent_tuples double precision;
  leaf_tuples double precision;
  v text;
  r record;
  sp record;
  i int;
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
    step := NULL; parent_table := cfg.parent_table; action := 'invalid'; partitions := NULL;
    range_from := NULL; range_to := NULL; rows_to_move := 0; statements := '{}'; note := NULL;

    -- A broken registration is reported as a plan row and the other sets are still maintained.
    BEGIN
      parent_oid := to_regclass(cfg.parent_table);
    EXCEPTION WHEN OTHERS THEN
      parent_oid := NULL;
    END;
    IF parent_oid IS NULL THEN
      n := n + 1; step := n; note := format('table %s does not exist', cfg.parent_table);
      RETURN NEXT; CONTINUE;
    END IF;
    SELECT n2.nspname, c2.relname INTO nsp, rel
    FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace WHERE c2.oid = parent_oid;
    qparent := format('%I.%I', nsp, rel);
    SELECT format_type(a.atttypid, a.atttypmod), a.attnum INTO col_type, col_attnum
    FROM pg_attribute a WHERE a.attrelid = parent_oid AND a.attname = cfg.control_column AND NOT a.attisdropped;
    SELECT pt.partstrat = 'r' AND pt.partnatts = 1 AND pt.partattrs[0] = col_attnum INTO key_ok
    FROM pg_partitioned_table pt WHERE pt.partrelid = parent_oid;
    IF col_type IS NULL THEN
      note := format('%s has no column %I', qparent, cfg.control_column);
    ELSIF col_type NOT IN ('timestamp with time zone', 'timestamp without time zone', 'date') THEN
      note := format('%s.%I is %s, expected timestamptz, timestamp or date', qparent, cfg.control_column, col_type);
    ELSIF key_ok IS NOT TRUE THEN
      note := format('%s is not range-partitioned by %I alone', qparent, cfg.control_column);
    ELSIF cfg.sub_partition_column IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM pg_attribute a WHERE a.attrelid = parent_oid AND a.attname = cfg.sub_partition_column
        AND NOT a.attisdropped) THEN
      note := format('%s has no column %I for list sub-partitions', qparent, cfg.sub_partition_column);
    END IF;
    IF note IS NOT NULL THEN
      n := n + 1; step := n; RETURN NEXT; CONTINUE;
    END IF;
    sub_key_attnum := (SELECT a.attnum FROM pg_attribute a WHERE a.attrelid = parent_oid
                       AND a.attname = cfg.sub_partition_column AND NOT a.attisdropped);

    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
    FROM pg_attribute a WHERE a.attrelid = parent_oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    SELECT ' WITH (' || string_agg(format('%I = %L', k, val #>> '{}'), ', ' ORDER BY k) || ')' INTO with_opts
    FROM jsonb_each(cfg.storage_parameters) AS e(k, val);
    -- New partitions carry the parent's per-column statistics targets (LIKE does not copy them).
    SELECT array_agg(a.attname::text ORDER BY a.attnum), array_agg(a.attstattarget::int ORDER BY a.attnum)
      INTO stat_cols, stat_targets
    FROM pg_attribute a
    WHERE a.attrelid = parent_oid AND a.attnum > 0 AND NOT a.attisdropped AND coalesce(a.attstattarget, -1) >= 0;

    SELECT array_agg(pr.table_name ORDER BY pr.range_from), array_agg(pr.range_from ORDER BY pr.range_from),
           array_agg(pr.range_to ORDER BY pr.range_from)
      INTO p_names, p_from_a, p_to_a
    FROM dgm.partition_ranges(parent_oid) pr WHERE NOT pr.is_default AND pr.range_from IS NOT NULL;
    p_names := coalesce(p_names, '{}'); p_from_a := coalesce(p_from_a, '{}'); p_to_a := coalesce(p_to_a, '{}');
    taken := '{}';
    SELECT format('%I.%I', pr.schema_name, pr.table_name) INTO default_rel
    FROM dgm.partition_ranges(parent_oid) pr WHERE pr.is_default;

    d_periods := '{}'; d_counts := '{}';
    IF default_rel IS NOT NULL THEN
      FOR r IN EXECUTE format('SELECT dgm.partition_period_start(%I::timestamptz, %L::interval) AS p, count(*) AS c '
                              'FROM %s WHERE %I IS NOT NULL GROUP BY 1 ORDER BY 1',
                              cfg.control_column, cfg.partition_interval, default_rel, cfg.control_column) LOOP
        IF r.p IS NOT NULL THEN
          d_periods := d_periods || r.p; d_counts := d_counts || r.c;
        END IF;
      END LOOP;
    END IF;

    changed := false;
    retention := coalesce(p_retention, cfg.retention);
    cutoff := CASE WHEN retention IS NULL THEN NULL ELSE p_now - retention END;

    IF p_create THEN
      -- The current period and premake periods ahead, periods from p_from, and periods with rows in default.
      SELECT array_agg(DISTINCT g ORDER BY g) INTO periods FROM (
        SELECT dgm.partition_period_start(p_now, cfg.partition_interval) + cfg.partition_interval * k AS g
        FROM generate_series(0, cfg.premake) k
        UNION ALL
        SELECT g2 FROM generate_series(dgm.partition_period_start(coalesce(p_from, p_now), cfg.partition_interval),
                                       dgm.partition_period_start(p_now, cfg.partition_interval),
                                       cfg.partition_interval) g2
        UNION ALL
        SELECT unnest(d_periods)
      ) s;
      IF default_rel IS NOT NULL THEN
        -- Writers through the parent wait here for the few milliseconds of move and attach: an insert
        -- routed to the default with the old partition map would otherwise fail the default's new
        -- constraint once the attach commits. Readers are not blocked by SHARE. The default is locked
        -- next, so no row for these ranges can arrive there between the move and the attach's check.
        lock_stmts := ARRAY[format('LOCK TABLE ONLY %s IN SHARE MODE', qparent),
                            format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', default_rel)];
      ELSE
        lock_stmts := ARRAY[format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE', qparent)];
      END IF;
      batch_made := '{}'; batch_attached := '{}'; batch_names := '{}'; batch_from := NULL; batch_to := NULL;
      FOREACH period IN ARRAY periods LOOP
        period_end := period + cfg.partition_interval;
        moving := coalesce((SELECT d_counts[k] FROM generate_subscripts(d_periods, 1) k WHERE d_periods[k] = period), 0);
        IF EXISTS (SELECT 1 FROM unnest(p_from_a, p_to_a) u(f, t) WHERE u.f < period_end AND u.t > period) THEN
          -- Rows cannot sit in the default for a range a partition covers; a partial overlap means the set
          -- has boundaries of another alignment, and those rows wait for a person.
          IF moving > 0 THEN
            n := n + 1; step := n; action := 'invalid'; partitions := NULL; range_from := period;
            range_to := period_end; rows_to_move := moving; statements := '{}';
            note := format('%s rows in %s belong to [%s, %s), which overlaps an existing partition of other boundaries',
                           moving, default_rel, period, period_end);
            RETURN NEXT;
          END IF;
          CONTINUE;
        END IF;
        -- A period retention would drop at once is not created empty (pg_partman #649); with rows waiting
        -- in the default it is, so retention can drop (or detach and keep) those rows with it.
        CONTINUE WHEN cutoff IS NOT NULL AND period_end <= cutoff AND moving = 0;
        child := dgm.partition_free_name(nsp, rel, dgm.partition_suffix(period, cfg.partition_interval), taken);
        taken := taken || child;
        qchild := format('%I.%I', nsp, child);
        -- Built in two parts: creating the table touches nothing anyone uses; moving rows and attaching
        -- are what must be brief.
        made := ARRAY[format('CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED '
                             'INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION INCLUDING STATISTICS)%s',
                             qchild, qparent,
                             CASE WHEN cfg.sub_partition_column IS NULL THEN coalesce(with_opts, '')
                                  ELSE format(' PARTITION BY LIST (%I)', cfg.sub_partition_column) END)];
        IF cfg.sub_partition_column IS NOT NULL THEN
          leaf_names := '{}';
          FOREACH v IN ARRAY cfg.sub_partition_values LOOP
            leaf := dgm.partition_free_name(nsp, child, dgm.list_value_suffix(v), taken || leaf_names);
            leaf_names := leaf_names || leaf;
            made := made || format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES IN (%L)%s',
                                   nsp, leaf, qchild, v, coalesce(with_opts, ''));
          END LOOP;
          leaf := dgm.partition_free_name(nsp, child, '_default', taken || leaf_names);
          leaf_names := leaf_names || leaf;
          made := made || format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT%s', nsp, leaf, qchild, coalesce(with_opts, ''));
          taken := taken || leaf_names;
        END IF;
        FOR i IN 1 .. coalesce(cardinality(stat_cols), 0) LOOP
          made := made || format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s', qchild, stat_cols[i], stat_targets[i]);
        END LOOP;
        attached := '{}';
        IF default_rel IS NOT NULL THEN
          -- Always moved, not only when rows were counted: rows may arrive between planning and execution.
          attached := attached || format('WITH moved AS (DELETE FROM %s WHERE %I >= %s AND %I < %s RETURNING %s) '
                                         'INSERT INTO %s (%s) SELECT %s FROM moved',
                                         default_rel, cfg.control_column, dgm.partition_bound_literal(period, col_type),
                                         cfg.control_column, dgm.partition_bound_literal(period_end, col_type), cols,
                                         qchild, cols, cols);
        END IF;
        -- ATTACH takes SHARE UPDATE EXCLUSIVE on the parent (not ACCESS EXCLUSIVE as CREATE ... PARTITION OF
        -- would) and builds the parent's indexes on the child.
        attached := attached || format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)', qparent, qchild,
                                       dgm.partition_bound_literal(period, col_type), dgm.partition_bound_literal(period_end, col_type));
        changed := true;
        p_names := p_names || child; p_from_a := p_from_a || period; p_to_a := p_to_a || period_end;
        IF moving > 0 THEN
          -- Rows to move: a step of its own, so writers wait only for this one move.
          n := n + 1;
          step := n; action := 'create'; partitions := ARRAY[qchild];
          range_from := period; range_to := period_end; rows_to_move := moving;
          statements := made || lock_stmts || attached; note := NULL;
          RETURN NEXT;
        ELSE
          -- Empty partitions (premake) are made together: one lock of the parent and one commit for many.
          batch_made := batch_made || made; batch_attached := batch_attached || attached;
          batch_names := batch_names || qchild;
          batch_from := least(batch_from, period); batch_to := greatest(batch_to, period_end);
        END IF;
        IF cardinality(batch_names) >= 24 THEN
          n := n + 1;
          step := n; action := 'create'; partitions := batch_names;
          range_from := batch_from; range_to := batch_to; rows_to_move := 0;
          statements := batch_made || lock_stmts || batch_attached; note := NULL;
          RETURN NEXT;
          batch_made := '{}'; batch_attached := '{}'; batch_names := '{}'; batch_from := NULL; batch_to := NULL;
        END IF;
      END LOOP;
      IF cardinality(batch_names) > 0 THEN
        n := n + 1;
        step := n; action := 'create'; partitions := batch_names;
        range_from := batch_from; range_to := batch_to; rows_to_move := 0;
        statements := batch_made || lock_stmts || batch_attached; note := NULL;
        RETURN NEXT;
      END IF;

      -- Existing time partitions list-partitioned by the configured column get the values they lack.
      IF cfg.sub_partition_column IS NOT NULL THEN
        FOR sp IN
          SELECT pr.partition_oid, pr.table_name, pr.range_from, pr.range_to
          FROM dgm.partition_ranges(parent_oid) pr
          JOIN pg_partitioned_table pt ON pt.partrelid = pr.partition_oid
          WHERE NOT pr.is_default AND pr.range_from IS NOT NULL AND pt.partstrat = 'l' AND pt.partnatts = 1
            AND (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = pr.partition_oid
                 AND a.attnum = pt.partattrs[0]) = cfg.sub_partition_column
            AND (cutoff IS NULL OR NOT p_drop OR pr.range_to > cutoff)
          ORDER BY pr.range_from
        LOOP
          FOREACH v IN ARRAY cfg.sub_partition_values LOOP
            CONTINUE WHEN EXISTS (SELECT 1 FROM dgm.partition_ranges(sp.partition_oid) l WHERE v = ANY (l.list_values));
            leaf := dgm.partition_free_name(nsp, sp.table_name, dgm.list_value_suffix(v), taken);
            taken := taken || leaf;
            stmts := ARRAY[format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED '
                                  'INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION INCLUDING STATISTICS)%s',
                                  nsp, leaf, qparent, coalesce(with_opts, ''))];
            FOR i IN 1 .. coalesce(cardinality(stat_cols), 0) LOOP
              stmts := stmts || format('ALTER TABLE %I.%I ALTER COLUMN %I SET STATISTICS %s', nsp, leaf, stat_cols[i], stat_targets[i]);
            END LOOP;
            moving := 0;
            SELECT format('%I.%I', l.schema_name, l.table_name) INTO child
            FROM dgm.partition_ranges(sp.partition_oid) l WHERE l.is_default;
            stmts := stmts || format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE', qparent);
            IF child IS NOT NULL THEN
              EXECUTE format('SELECT count(*) FROM %s WHERE %I = $1', child, cfg.sub_partition_column) INTO moving USING v;
              stmts := stmts || format('LOCK TABLE ONLY %I.%I IN SHARE MODE', nsp, sp.table_name)
                             || format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', child)
                             || format('WITH moved AS (DELETE FROM %s WHERE %I = %L RETURNING %s) '
                                       'INSERT INTO %I.%I (%s) SELECT %s FROM moved',
                                       child, cfg.sub_partition_column, v, cols, nsp, leaf, cols, cols);
            END IF;
            stmts := stmts || format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES IN (%L)',
                                     nsp, sp.table_name, nsp, leaf, v);
            n := n + 1; changed := true;
            step := n; action := 'create_subpartition'; partitions := ARRAY[format('%I.%I', nsp, leaf)];
            range_from := sp.range_from; range_to := sp.range_to; rows_to_move := moving; statements := stmts;
            note := format('list value %L under %I.%I', v, nsp, sp.table_name);
            RETURN NEXT;
          END LOOP;
        END LOOP;
      END IF;
    END IF;

    IF p_drop AND cutoff IS NOT NULL AND cardinality(p_names) > 0 THEN
      -- Never the newest partition (pg_partman keeps the last child too); oldest first; one step per parent
      -- so the ACCESS EXCLUSIVE lock that DROP and DETACH need on the parent is taken once, parent first
      -- (pg_partman #796: child-then-parent lock order deadlocks).
      SELECT max(t) INTO newest_to FROM unnest(p_to_a) t;
      SELECT array_agg(format('%I.%I', nsp, u.nm) ORDER BY u.f), min(u.f), max(u.t)
        INTO drop_names, drop_from, drop_to
      FROM unnest(p_names, p_from_a, p_to_a) u(nm, f, t)
      WHERE u.t <= cutoff AND u.t < newest_to;
      IF drop_names IS NOT NULL THEN
        stmts := ARRAY[format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', qparent)];
        FOREACH v IN ARRAY drop_names LOOP
          stmts := stmts || CASE WHEN cfg.retention_keep_table
                                 THEN format('ALTER TABLE %s DETACH PARTITION %s', qparent, v)
                                 ELSE format('DROP TABLE %s', v) END;
        END LOOP;
        n := n + 1; changed := true;
        step := n; action := CASE WHEN cfg.retention_keep_table THEN 'detach' ELSE 'drop' END;
        partitions := drop_names; range_from := drop_from; range_to := drop_to; rows_to_move := 0;
        statements := stmts; note := format('retention %s: ranges ending on or before %s', retention, cutoff);
        RETURN NEXT;
      END IF;
    END IF;

    -- Autovacuum never analyzes partitioned parents, yet the planner uses their statistics: analyze after
    -- changes, and when the parent's row estimate drifted 20% from its partitions' (large changes since).
    SELECT c.reltuples INTO parent_tuples FROM pg_class c WHERE c.oid = parent_oid;
    SELECT coalesce(sum(greatest(c.reltuples, 0)), 0) INTO leaf_tuples
    FROM pg_partition_tree(parent_oid) t JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf;
    IF changed OR (leaf_tuples > 0 AND (parent_tuples < 0
                   OR abs(parent_tuples - leaf_tuples) > 0.2 * greatest(parent_tuples, leaf_tuples))) THEN
      n := n + 1;
      step := n; action := 'analyze'; partitions := NULL;
      range_from := NULL; range_to := NULL; rows_to_move := 0; statements := ARRAY[format('ANALYZE %s', qparent)];
      note := CASE WHEN changed THEN 'partitions changed' ELSE 'statistics are stale' END;
      RETURN NEXT;
    END IF;
  END LOOP;
END $$;

-- Runs plan steps, each in a subtransaction that waits at most lock_timeout for each lock and is retried
-- with backoff; audits each step. Used by the psql API; the Lambda/CLI executor does the same per step
-- in its own transaction. Returns a summary; raises when a step still fails after its retries.
CREATE FUNCTION dgm.run_partition_plan(p_job text, p_plan_rows jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  s text;
  started timestamptz;
  moved bigint;
  step_moved bigint;
  total_moved bigint := 0;
  attempt int;
  retries int := coalesce(nullif(current_setting('dgm.maintenance_lock_retries', true), '')::int, 5);
  backoff_ms int := coalesce(nullif(current_setting('dgm.maintenance_retry_backoff_ms', true), '')::int, 500);
  counts jsonb := '{"create": 0, "create_subpartition": 0, "drop": 0, "detach": 0, "analyze": 0, "invalid": 0}';
  problems jsonb := '[]';
  hash text := (SELECT c.hash FROM dgm.constitution c);
  run uuid := gen_random_uuid();
  caller_lock_timeout text := current_setting('lock_timeout');
BEGIN
  -- Never sit in the lock queue in front of production traffic for longer than this.
  IF caller_lock_timeout = '0' THEN
    PERFORM set_config('lock_timeout',
                       coalesce(nullif(current_setting('dgm.maintenance_lock_timeout', true), ''), '2s'), true);
  END IF;
  FOR r IN SELECT * FROM jsonb_to_recordset(p_plan_rows)
             AS x(step int, parent_table text, action text, partitions text[], statements text[], note text)
           ORDER BY step LOOP
    counts := jsonb_set(counts, ARRAY[r.action], to_jsonb(coalesce((counts ->> r.action)::int, 0) + 1));
    IF r.action = 'invalid' THEN
      problems := problems || jsonb_build_object('parent_table', r.parent_table, 'note', r.note);
      INSERT INTO dgm.optimization_audit (run_id, job, action, target, status, error, constitutional_hash, details)
      VALUES (run, p_job, 'partition_invalid', r.parent_table, 'skipped', r.note, hash,
              jsonb_build_object('parent_table', r.parent_table));
      CONTINUE;
    END IF;
    attempt := 0;
    LOOP
      started := clock_timestamp();
      step_moved := 0;
      BEGIN
        FOREACH s IN ARRAY r.statements LOOP
          EXECUTE s;
          IF s LIKE 'WITH moved AS%' THEN
            GET DIAGNOSTICS moved = ROW_COUNT;
            step_moved := step_moved + moved;
          END IF;
        END LOOP;
        EXIT;
      EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
        attempt := attempt + 1;
        IF attempt > retries THEN
          RAISE;
        END IF;
        RAISE NOTICE 'dgm: % of % waited too long for a lock; retry % of %', r.action, r.parent_table, attempt, retries;
        PERFORM pg_sleep(backoff_ms * power(2, attempt - 1) / 1000.0);
      END;
    END LOOP;
    total_moved := total_moved + step_moved;
    INSERT INTO dgm.optimization_audit
      (run_id, job, action, target, sql, status, duration_ms, constitutional_hash, details)
    VALUES (run, p_job, 'partition_' || r.action, coalesce(array_to_string(r.partitions, ', '), r.parent_table),
            array_to_string(r.statements, E';\n'), 'succeeded',
            extract(epoch FROM clock_timestamp() - started) * 1000, hash,
            jsonb_build_object('parent_table', r.parent_table, 'rows_moved', step_moved, 'attempts', attempt + 1));
  END LOOP;
  -- The caller's transaction (a migration, say) goes on with its own setting.
  PERFORM set_config('lock_timeout', caller_lock_timeout, true);
  RETURN jsonb_build_object('status', 'succeeded') || counts
         || jsonb_build_object('rows_moved', total_moved, 'problems', problems);
END $$;

-- The gate of the psql API: one maintenance run per database (shared with the Lambda/CLI runs), never on a
-- replica. Returns NULL when the run may go ahead, else the 'skipped' result.
CREATE FUNCTION dgm.partition_run_gate() RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_is_in_recovery() THEN
    RETURN jsonb_build_object('status', 'skipped', 'message', 'skipped: this server is a replica (pg_is_in_recovery)');
  END IF;
  IF NOT pg_try_advisory_xact_lock(dgm.maintenance_lock_key()) THEN
    RETURN jsonb_build_object('status', 'skipped', 'message', 'skipped: another run holds the lock');
  END IF;
  RETURN NULL;
END $$;

-- Daily maintenance from psql: create the coming partitions (moving any rows waiting in the default
-- partition into them), apply retention, analyze the parents. One transaction: all or nothing, and the
-- locks it takes are held until it ends (CALL dgm.run_partition_maintenance() commits step by step).
CREATE FUNCTION dgm.daily_partition_maintenance() RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  RETURN coalesce(dgm.partition_run_gate(),
    dgm.run_partition_plan('sql:daily_partition_maintenance',
      coalesce((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.step) FROM dgm.partition_maintenance_plan() p), '[]')));
END $$;

-- Drops (or detaches, where configured) partitions whose whole range is older than p_months months.
CREATE FUNCTION dgm.cleanup_old_partitions(p_months int) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF p_months IS NULL OR p_months < 1 THEN
    RAISE EXCEPTION 'dgm.cleanup_old_partitions: months must be at least 1, got %', p_months;
  END IF;
  RETURN coalesce(dgm.partition_run_gate(),
    dgm.run_partition_plan('sql:cleanup_old_partitions',
      coalesce((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.step)
                FROM dgm.partition_maintenance_plan(p_retention => make_interval(months => p_months), p_create => false) p),
               '[]')));
END $$;

-- Creates the partitions of one set (or all) from p_from up to the premake horizon, e.g. before a bulk load.
CREATE FUNCTION dgm.create_partitions(p_from timestamptz, p_parent text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  RETURN coalesce(dgm.partition_run_gate(),
    dgm.run_partition_plan('sql:create_partitions',
      coalesce((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.step)
                FROM dgm.partition_maintenance_plan(p_parent => p_parent, p_from => p_from, p_drop => false) p), '[]')));
END $$;

-- The daily maintenance committing after every step, as the Lambda does (for pg_cron or psql):
-- CALL dgm.run_partition_maintenance(NULL). Locks are held for one step at a time; a step that still fails
-- after its retries is audited as failed and the run goes on with the next one.
CREATE PROCEDURE dgm.run_partition_maintenance(INOUT result jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
  plan jsonb;
  r jsonb;
  one jsonb;
  done int := 0;
  failed int := 0;
  moved bigint := 0;
  run uuid := gen_random_uuid();
BEGIN
  IF pg_is_in_recovery() THEN
    result := jsonb_build_object('status', 'skipped', 'message', 'skipped: this server is a replica (pg_is_in_recovery)');
    RETURN;
  END IF;
  IF NOT pg_try_advisory_lock(dgm.maintenance_lock_key()) THEN
    result := jsonb_build_object('status', 'skipped', 'message', 'skipped: another run holds the lock');
    RETURN;
  END IF;
  BEGIN
    plan := coalesce((SELECT jsonb_agg(to_jsonb(p) ORDER BY p.step) FROM dgm.partition_maintenance_plan() p), '[]');
  EXCEPTION WHEN OTHERS THEN
    PERFORM pg_advisory_unlock(dgm.maintenance_lock_key());
    RAISE;
  END;
  COMMIT;
  FOR r IN SELECT value FROM jsonb_array_elements(plan) LOOP
    BEGIN
      one := dgm.run_partition_plan('sql:run_partition_maintenance', jsonb_build_array(r));
      done := done + 1;
      moved := moved + (one ->> 'rows_moved')::bigint;
    EXCEPTION WHEN OTHERS THEN
      failed := failed + 1;
      INSERT INTO dgm.optimization_audit (run_id, job, action, target, sql, status, error, constitutional_hash, details)
      VALUES (run, 'sql:run_partition_maintenance', 'partition_' || (r ->> 'action'), r ->> 'parent_table',
              (SELECT string_agg(x, E';\n') FROM jsonb_array_elements_text(r -> 'statements') x), 'failed', SQLERRM,
              (SELECT c.hash FROM dgm.constitution c), jsonb_build_object('parent_table', r ->> 'parent_table'));
    END;
    COMMIT;
  END LOOP;
  PERFORM pg_advisory_unlock(dgm.maintenance_lock_key());
  result := jsonb_build_object('status', CASE WHEN failed > 0 THEN 'failed' ELSE 'succeeded' END,
                               'steps', done, 'failed', failed, 'rows_moved', moved);
END $$;
