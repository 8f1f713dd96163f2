-- $1 rows with created_at in [$2, $3). Statuses: completed 60%, rolled_back 12%, failed 10%, pending 10%, running 8%.
INSERT /* dgm-db-ops:demo */ INTO dgm.dgm_archive (workspace_id, status, constitutional_compliance_score, performance_delta, description, metadata, tags, created_at)
SELECT 1 + (random() * 19999)::int,
       CASE WHEN r < 0.60 THEN 'completed' WHEN r < 0.72 THEN 'rolled_back' WHEN r < 0.82 THEN 'failed'
            WHEN r < 0.92 THEN 'pending' ELSE 'running' END,
       round((0.55 + 0.45 * sqrt(random()))::numeric, 4)::float8,
       round(((random() - 0.3) * 20)::numeric, 3)::float8,
       'improvement ' || g,
       jsonb_build_object('strategy', (ARRAY['mutation', 'crossover', 'prompt-rewrite', 'tool-synthesis', 'pruning', 'distillation', 'search', 'refactor'])[1 + g % 8],
                          'generation', 1 + (g % 500),
                          'model', (ARRAY['dgm-small', 'dgm-base', 'dgm-large'])[1 + g % 3]),
       jsonb_build_array('tag-' || (g % 1000), 'tag-' || ((g * 7 + 3) % 1000)),
       $2::timestamptz + ($3::timestamptz - $2::timestamptz) * random()
FROM (SELECT g, random() AS r FROM generate_series(1, $1::int) g) s
