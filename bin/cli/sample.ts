import { BadInputError } from '../../functions/errors.ts';
import type { Command } from './types.ts';

// Placeholder until its issue lands: listed in --help, refuses to run.
export const sampleCommand: Command = {
  name: 'sample',
  summary: 'Take one database sample: KPIs, deltas, metrics (issue 3) [not yet available]',
  async run() {
    throw new BadInputError('sample is not available yet');
  },
};
