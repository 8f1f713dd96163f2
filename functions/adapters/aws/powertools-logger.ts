import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Logger } from '../../ports.ts';

/** Structured JSON logs in CloudWatch through Powertools, behind the Logger port. */
export function lambdaLogger(serviceName: string): Logger {
  const log = new PowertoolsLogger({ serviceName });
  return {
    info: (m, f) => (f ? log.info(m, f) : log.info(m)),
    warn: (m, f) => (f ? log.warn(m, f) : log.warn(m)),
    error: (m, f) => (f ? log.error(m, f) : log.error(m)),
  };
}
