/**
 * The comment that marks dgm-db-ops's own statements run with a sample (nested counts, pruning, timeouts,
 * alert inputs, query samples, the governance check): the sampler never counts them as workload. It goes
 * inside a statement, after its first keyword: PostgreSQL 18 stores a statement's text from its first
 * token, so a leading comment is lost. The SQL files spell it out too.
 */
export const SAMPLER_MARKER = 'dgm-db-ops:sampler';
export const SAMPLER_COMMENT = `/* ${SAMPLER_MARKER} */`;
