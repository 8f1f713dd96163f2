import { alertsCommand } from './alerts.ts';
import { demoCommand } from './demo.ts';
import { invokeCommand } from './invoke.ts';
import { maintainCommand } from './maintain.ts';
import { metricsCommand } from './metrics.ts';
import { migrateCommand } from './migrate.ts';
import { optimizeCommand } from './optimize.ts';
import { reportCommand } from './report.ts';
import { sampleCommand } from './sample.ts';
import type { Command } from './types.ts';

/** Every CLI command, in the order --help lists them. */
export const COMMANDS: readonly Command[] = [
  demoCommand,
  migrateCommand,
  sampleCommand,
  metricsCommand,
  alertsCommand,
  maintainCommand,
  optimizeCommand,
  reportCommand,
  invokeCommand,
];
