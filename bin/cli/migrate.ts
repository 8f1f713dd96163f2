import { migrate } from '../../functions/jobs/migrate.ts';
import type { Command } from './types.ts';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'Install or upgrade the DGM schema (idempotent; --dry-run lists pending migrations)',
  examples: [
    'dgm-db-ops migrate --database-url postgres://admin@db.example.com:5432/app',
    'dgm-db-ops migrate --dry-run --database-url postgres://admin@db.example.com:5432/app',
  ],
  async run(ctx) {
    const result = await ctx.withDatabase((client) =>
      migrate(client, ctx.config, { dryRun: ctx.flags.dryRun, logger: ctx.logger }),
    );
    const lines = [
      `migrate: ${result.message}`,
      ...result.applied.map((a) => `  applied ${a.name} (${a.durationMs} ms)`),
      ...result.pending.map((p) => `  pending ${p}`),
      ...Object.entries(result.extensions).map(([k, v]) => `  extension ${k}: ${v}`),
    ];
    return { result, text: lines.join('\n') };
  },
};
