-- $1 rows. 5% active, 5% pending, 20% suspended, 70% archived: the active-workspaces partial index is small.
INSERT /* dgm-db-ops:demo */ INTO dgm.workspaces (name, status, owner, metadata, created_at, updated_at)
SELECT 'workspace-' || g,
       CASE WHEN r < 0.05 THEN 'active' WHEN r < 0.10 THEN 'pending' WHEN r < 0.30 THEN 'suspended' ELSE 'archived' END,
       'team-' || (g % 97),
       jsonb_build_object('tier', (ARRAY['free', 'pro', 'enterprise'])[1 + g % 3], 'region', (ARRAY['us-east-1', 'eu-west-1', 'ap-southeast-2'])[1 + g % 3]),
       now() - interval '14 months' * random(),
       now() - interval '14 months' * random()
FROM (SELECT g, random() AS r FROM generate_series(1, $1::int) g) s
