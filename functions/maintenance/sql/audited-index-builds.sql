-- Index names our runs built or rebuilt concurrently (a failed one leaves an INVALID index that is ours
-- to drop): the targets of audited CREATE INDEX CONCURRENTLY and REINDEX ... CONCURRENTLY statements.
SELECT DISTINCT target
FROM dgm.optimization_audit
WHERE target IS NOT NULL
  AND created_at > now() - interval '400 days'
  AND (sql ~* '^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY' OR sql ~* '^\s*REINDEX\s.*CONCURRENTLY')
