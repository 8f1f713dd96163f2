import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../bin/cli/commands.ts';
import { commandHelp } from '../../bin/cli/help.ts';
import { EVENT_SHAPES } from '../../bin/cli/invoke.ts';
import { parseConfig } from '../../functions/config.ts';
import { DEFAULT_SCHEDULES, parseDeploymentConfig, SCHEDULED_TASKS } from '../../functions/deployment.ts';
import { BadInputError } from '../../functions/errors.ts';
import { MAINTAINER_TASKS, parseJobEvent } from '../../functions/handlers/events.ts';
import { FANOUT_TASKS } from '../../functions/handlers/fanout.ts';
import { MAINTAIN_TASKS } from '../../functions/jobs/maintain.ts';
import {
  MAINTENANCE_TASK_REGISTRY,
  MAINTENANCE_TASKS,
  type MaintainTask,
  tasksOf,
} from '../../functions/maintenance/registry.ts';

const names = MAINTENANCE_TASK_REGISTRY.map((t) => t.name);

describe('maintenance task registry', () => {
  it('names each task once, in the run order of --task all, each with a description and a schedule kind', () => {
    // The original four keep their order; a new task is appended.
    expect(names.slice(0, 4)).toEqual(['partitions', 'indexes', 'statistics', 'vacuum']);
    expect(new Set(names).size).toBe(names.length);
    expect(tasksOf('all').map((t) => t.name)).toEqual(names);
    for (const t of MAINTENANCE_TASK_REGISTRY) {
      expect(t.name).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(t.description.length, t.name).toBeGreaterThan(10);
      expect(['daily', 'weekly', 'monthly']).toContain(t.schedule.kind);
      expect(tasksOf(t.name as MaintainTask).map((x) => x.name)).toEqual([t.name]);
    }
  });

  it('every task list derives from it: the event, the CLI, the fan-out, the schedules', () => {
    expect(MAINTENANCE_TASKS).toEqual(names);
    expect(MAINTAIN_TASKS).toEqual([...names, 'all']);
    expect(MAINTAINER_TASKS).toEqual([...names, 'all', 'optimize', 'migrate']);
    expect(MAINTAINER_TASKS.slice(0, 4)).toEqual(['partitions', 'indexes', 'statistics', 'vacuum']);
    expect(FANOUT_TASKS).toEqual(['sample', ...MAINTAINER_TASKS]);
    expect(SCHEDULED_TASKS).toEqual(['sample', ...names, 'optimize']);
    for (const t of MAINTENANCE_TASK_REGISTRY) {
      expect(DEFAULT_SCHEDULES[t.name]).toBe(t.schedule.expression);
      expect(parseJobEvent({ task: t.name }, MAINTAINER_TASKS)).toEqual({ task: t.name });
    }
    expect(() => parseJobEvent({ task: 'reindex' }, MAINTAINER_TASKS)).toThrow(
      `event: task must be one of ${[...names, 'all', 'optimize', 'migrate'].join(', ')}, got 'reindex'`,
    );
    const maintain = COMMANDS.find((c) => c.name === 'maintain')!;
    const help = commandHelp(maintain);
    for (const t of MAINTENANCE_TASK_REGISTRY) {
      expect(help).toMatch(new RegExp(`\\n {2}${t.name} +${t.schedule.kind} +\\S`));
      expect(EVENT_SHAPES.maintainer.shape).toContain(t.name);
      expect(EVENT_SHAPES.fanout.shape).toContain(t.name);
    }
    expect(help).toContain(`--task ${[...names, 'all'].join('|')}`);
  });

  it('schedules are valid expressions, staggered (no two tasks start together), and can be turned off one by one', () => {
    const expressions = Object.values(DEFAULT_SCHEDULES);
    expect(new Set(expressions).size).toBe(expressions.length);
    const base = { demo: true };
    expect(parseDeploymentConfig(base).schedules).toEqual({});
    for (const t of MAINTENANCE_TASK_REGISTRY) {
      expect(parseDeploymentConfig({ ...base, schedules: { [t.name]: t.schedule.expression } })).toBeTruthy();
      expect(parseDeploymentConfig({ ...base, schedules: { [t.name]: null } }).schedules).toEqual({
        [t.name]: null,
      });
    }
    expect(() => parseDeploymentConfig({ ...base, schedules: { reindex: 'rate(1 day)' } })).toThrow(
      BadInputError,
    );
  });

  it("each task's config part is in the maintenance section, with its defaults, and strict", () => {
    const m = parseConfig({}).maintenance as Record<string, unknown>;
    for (const t of MAINTENANCE_TASK_REGISTRY) {
      for (const key of Object.keys(t.config)) expect(m, `${t.name}.${key}`).toHaveProperty(key);
    }
    expect(m).toMatchObject({
      lockTimeoutMs: 2_000,
      reindexBloatRatio: 0.3,
      freezeAgeThreshold: 500_000_000,
    });
    expect(() => parseConfig({ maintenance: { reindexBloatRatio: 2 } })).toThrow(
      /^config: maintenance\.reindexBloatRatio: /,
    );
    expect(() => parseConfig({ maintenance: { noSuchSetting: 1 } })).toThrow(/noSuchSetting/);
  });
});
