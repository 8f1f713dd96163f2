-- $1 contexts with $2 arms each.
INSERT /* dgm-db-ops:demo */ INTO dgm.bandit_states (context_key, arm_id, average_reward, pull_count, metadata, last_updated)
SELECT 'ctx-' || c, 'arm-' || a, round(random()::numeric, 4)::float8, (random() * 10000)::bigint,
       jsonb_build_object('algorithm', (ARRAY['ucb1', 'thompson', 'epsilon-greedy'])[1 + (c + a) % 3]),
       now() - interval '14 months' * random()
FROM generate_series(1, $1::int) c CROSS JOIN generate_series(1, $2::int) a
