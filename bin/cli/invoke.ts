import { BadInputError } from '../../functions/errors.ts';
import type { Command } from './types.ts';

// Placeholder until its issue lands: listed in --help, refuses to run.
export const invokeCommand: Command = {
  name: 'invoke',
  summary: 'Run a Lambda handler locally with an event (issue 7) [not yet available]',
  async run() {
    throw new BadInputError('invoke is not available yet');
  },
};
