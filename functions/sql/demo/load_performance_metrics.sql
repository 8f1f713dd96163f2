-- $1 rows with "timestamp" in [$2, $3) over 40 metric names.
INSERT /* dgm-db-ops:demo */ INTO dgm.performance_metrics (metric_name, metric_value, "timestamp", workspace_id, labels)
SELECT (ARRAY['latency_p50_ms', 'latency_p95_ms', 'latency_p99_ms', 'throughput_rps', 'error_rate', 'cpu_utilization',
              'memory_mb', 'queue_depth', 'fitness_score', 'reward', 'tokens_per_second', 'cache_hit_ratio',
              'gc_pause_ms', 'open_connections', 'request_bytes', 'response_bytes', 'retries', 'timeouts',
              'mutation_rate', 'crossover_rate', 'population_size', 'eval_seconds', 'compile_seconds',
              'test_pass_rate', 'regression_count', 'improvement_delta', 'compliance_checks', 'violations',
              'disk_io_mb', 'net_io_mb', 'threads', 'heap_mb', 'batch_size', 'lag_seconds', 'uptime_seconds',
              'restarts', 'rollout_percent', 'canary_errors', 'budget_used', 'score_variance'])[1 + (g % 40)],
       round((random() * 1000)::numeric, 3)::float8,
       $2::timestamptz + ($3::timestamptz - $2::timestamptz) * random(),
       1 + (g % 20000),
       jsonb_build_object('host', 'node-' || (g % 64), 'region', (ARRAY['us-east-1', 'eu-west-1'])[1 + g % 2])
FROM generate_series(1, $1::int) g
