import { BadInputError } from '../../functions/errors.ts';
import type { Command } from './types.ts';

// Placeholder until its issue lands: listed in --help, refuses to run.
export const metricsCommand: Command = {
  name: 'metrics',
  summary: 'Print the sampled metrics as CloudWatch datums or Prometheus text (issue 3) [not yet available]',
  async run() {
    throw new BadInputError('metrics is not available yet');
  },
};
