-- A deploy's constitution change (functions/compliance/deployed-constitution.ts): the stored hash is
-- replaced by the deployed one ($1) only while it still is the previous deploy's ($2). The row is locked
-- first, so two deploys never both adopt; the trigger of migration 007 records the governance event.
-- Returns the hash that was stored and whether it was replaced.
WITH stored AS (
  SELECT hash FROM dgm.constitution FOR UPDATE
),
adopted AS (
  UPDATE dgm.constitution
     SET hash = $1, updated_at = now(), updated_by = current_user
   WHERE hash = $2 AND $1 <> $2
  RETURNING hash
)
SELECT (SELECT hash FROM stored) AS stored_hash, EXISTS (SELECT 1 FROM adopted) AS adopted
