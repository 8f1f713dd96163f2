import { BadInputError } from '../../functions/errors.ts';
import type { Command } from './types.ts';

// Placeholder until its issue lands: listed in --help, refuses to run.
export const reportCommand: Command = {
  name: 'report',
  summary: 'Performance report as text, markdown or html (issue 6) [not yet available]',
  async run() {
    throw new BadInputError('report is not available yet');
  },
};
