import { BadInputError } from '../../functions/errors.ts';
import type { Command } from './types.ts';

// Placeholder until its issue lands: listed in --help, refuses to run.
export const alertsCommand: Command = {
  name: 'alerts',
  summary: 'List active alerts and their state (issue 4) [not yet available]',
  async run() {
    throw new BadInputError('alerts is not available yet');
  },
};
