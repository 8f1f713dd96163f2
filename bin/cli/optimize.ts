import { BadInputError } from '../../functions/errors.ts';
import type { Command } from './types.ts';

// Placeholder until its issue lands: listed in --help, refuses to run.
export const optimizeCommand: Command = {
  name: 'optimize',
  summary:
    'Analyze the workload and recommend (or --apply) indexes and settings (issue 6) [not yet available]',
  async run() {
    throw new BadInputError('optimize is not available yet');
  },
};
