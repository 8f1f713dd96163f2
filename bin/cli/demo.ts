import { BadInputError } from '../../functions/errors.ts';
import type { Command } from './types.ts';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'The whole system on an embedded database: schema, 1M-row workload, reference queries',
  async run() {
    throw new BadInputError('demo is being written');
  },
};
