import { BadInputError } from '../../functions/errors.ts';
import type { Command } from './types.ts';

// Placeholder until its issue lands: listed in --help, refuses to run.
export const maintainCommand: Command = {
  name: 'maintain',
  summary: 'Run maintenance: partitions, indexes, statistics, vacuum (issue 5) [not yet available]',
  async run() {
    throw new BadInputError('maintain is not available yet');
  },
};
