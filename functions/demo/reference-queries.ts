/**
 * The design's reference queries, each with the design index meant to serve it. The optimizer's
 * benchmark and the demo time this mix; tests check each plan uses its index.
 */
export interface ReferenceQuery {
  name: string;
  description: string;
  /** The design index that serves it (dgm schema). */
  index: string;
  sql: string;
  /** Bind parameters; called per execution so time-relative values stay current. */
  params(now?: Date): unknown[];
}

const daysAgo = (now: Date, days: number) => new Date(now.getTime() - days * 86_400_000);

export const REFERENCE_QUERIES: readonly ReferenceQuery[] = [
  {
    name: 'archive_by_status_compliance',
    description: 'best completed improvements by compliance score',
    index: 'idx_dgm_archive_status_compliance_created',
    sql: `SELECT id, improvement_id, constitutional_compliance_score, created_at FROM dgm.dgm_archive
          WHERE status = $1 AND constitutional_compliance_score >= $2
          ORDER BY constitutional_compliance_score DESC, created_at DESC LIMIT 50`,
    params: () => ['completed', 0.98],
  },
  {
    name: 'metrics_by_name_range',
    description: 'one metric over the last week',
    index: 'idx_performance_metrics_name_timestamp',
    sql: `SELECT "timestamp", metric_value FROM dgm.performance_metrics
          WHERE metric_name = $1 AND "timestamp" >= $2 AND "timestamp" < $3 ORDER BY "timestamp" DESC`,
    params: (now = new Date()) => ['latency_p95_ms', daysAgo(now, 7), now],
  },
  {
    name: 'recent_metrics',
    description: 'the latest metrics of the last day',
    index: 'idx_performance_metrics_recent',
    sql: `SELECT metric_name, metric_value, "timestamp" FROM dgm.performance_metrics
          WHERE "timestamp" >= $1 ORDER BY "timestamp" DESC LIMIT 100`,
    params: (now = new Date()) => [daysAgo(now, 1)],
  },
  {
    name: 'bandit_by_context',
    description: 'best arms of a bandit context',
    index: 'idx_bandit_states_context_reward',
    sql: `SELECT arm_id, average_reward, pull_count FROM dgm.bandit_states
          WHERE context_key = $1 ORDER BY average_reward DESC, last_updated DESC LIMIT 5`,
    params: () => ['ctx-42'],
  },
  {
    name: 'archive_metadata_search',
    description: 'archive rows by JSONB metadata containment',
    index: 'idx_dgm_archive_metadata_gin',
    sql: `SELECT id, status, created_at FROM dgm.dgm_archive WHERE metadata @> $1::jsonb`,
    params: () => [JSON.stringify({ generation: 42 })],
  },
  {
    name: 'archive_tags_search',
    description: 'archive rows carrying a tag (JSONB key existence)',
    index: 'idx_dgm_archive_tags_gin',
    sql: `SELECT id, status, created_at FROM dgm.dgm_archive WHERE tags ? $1`,
    params: () => ['tag-7'],
  },
  {
    name: 'violations_search',
    description: 'compliance logs breaking one rule (JSONB containment)',
    index: 'idx_compliance_logs_violations_gin',
    sql: `SELECT id, compliance_level, created_at FROM dgm.compliance_logs WHERE violations @> $1::jsonb`,
    params: () => [JSON.stringify([{ rule: 'R-17' }])],
  },
  {
    name: 'active_workspaces',
    description: 'recently updated active and pending workspaces',
    index: 'idx_workspaces_active',
    sql: `SELECT id, name, status, updated_at FROM dgm.workspaces
          WHERE status IN ('active', 'pending') ORDER BY updated_at DESC LIMIT 50`,
    params: () => [],
  },
  {
    name: 'critical_compliance',
    description: 'violations and critical findings of the last 30 days',
    index: 'idx_compliance_logs_critical',
    sql: `SELECT id, workspace_id, compliance_level, created_at FROM dgm.compliance_logs
          WHERE compliance_level IN ('violation', 'critical') AND created_at >= $1
          ORDER BY created_at DESC LIMIT 100`,
    params: (now = new Date()) => [daysAgo(now, 30)],
  },
];
