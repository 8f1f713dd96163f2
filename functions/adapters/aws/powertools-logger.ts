import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { redactFields, redactLines } from '../../format/redact.ts';
import type { Logger } from '../../ports.ts';

/**
 * Structured JSON logs in CloudWatch through Powertools, behind the Logger port; message and fields go
 * through the one redaction (format/redact.ts), so no secret reaches the logs.
 */
export function lambdaLogger(serviceName: string): Logger {
  const log = new PowertoolsLogger({ serviceName });
  return {
    info: (m, f) => (f ? log.info(redactLines(m), redactFields(f)) : log.info(redactLines(m))),
    warn: (m, f) => (f ? log.warn(redactLines(m), redactFields(f)) : log.warn(redactLines(m))),
    error: (m, f) => (f ? log.error(redactLines(m), redactFields(f)) : log.error(redactLines(m))),
  };
}
