-- Indexes the optimizer built and still owns (dgm.auto_indexes): their probation decides whether they stay,
-- so the indexes task never drops them as unused.
SELECT index_schema, index_name
FROM dgm.auto_indexes
WHERE status IN ('building', 'active', 'verified')
