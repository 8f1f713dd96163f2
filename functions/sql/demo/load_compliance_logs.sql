-- $1 rows with created_at in [$2, $3). Levels: compliant 85%, warning 12%, violation 2.5%, critical 0.5%.
INSERT /* dgm-db-ops:demo */ INTO dgm.compliance_logs (workspace_id, archive_id, compliance_level, violations, created_at)
SELECT 1 + (g % 20000), g,
       level,
       CASE WHEN level = 'compliant' THEN '[]'::jsonb
            ELSE jsonb_build_array(jsonb_build_object('rule', 'R-' || (1 + g % 60), 'severity', level,
                                                      'article', 'art-' || (1 + g % 12))) END,
       $2::timestamptz + ($3::timestamptz - $2::timestamptz) * random()
FROM (SELECT g, CASE WHEN r < 0.85 THEN 'compliant' WHEN r < 0.97 THEN 'warning' WHEN r < 0.995 THEN 'violation'
                     ELSE 'critical' END AS level
      FROM (SELECT g, random() AS r FROM generate_series(1, $1::int) g) x) s
