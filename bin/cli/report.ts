import { writeFileSync } from 'node:fs';
import { BadInputError } from '../../functions/errors.ts';
import { showValue } from '../../functions/format/redact.ts';
import { getPerformanceReport } from '../../functions/jobs/report.ts';
import { renderHtml, renderMarkdown, renderText } from '../../functions/optimizer/render.ts';
import type { Command } from './types.ts';

const FORMATS = ['text', 'markdown', 'html'] as const;

export const reportCommand: Command = {
  name: 'report',
  summary: 'Performance report: slow queries, recommendations, measured improvement (text, markdown, html)',
  usage: 'report [--format text|markdown|html] [--output FILE] [--json]',
  options: {
    format: { type: 'string', default: 'text' },
    output: { type: 'string' },
  },
  flags: {
    format: {
      value: 'text|markdown|html',
      text: 'the report as text (default), Markdown or a standalone HTML page',
    },
    output: { value: 'FILE', text: 'write the report to FILE instead of stdout' },
  },
  examples: ['dgm-db-ops report', 'dgm-db-ops report --format html --output report.html'],
  validate(input) {
    const format = String(input.values.format ?? 'text');
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new BadInputError(
        `report: --format must be one of ${FORMATS.join(', ')}, got '${showValue(format)}'`,
      );
    }
    if (input.flags.json && input.values.output)
      throw new BadInputError('report: --json prints to stdout; drop --output');
  },
  async run(ctx) {
    const format = String(ctx.values.format ?? 'text');
    const report = await ctx.withDatabase((client) => getPerformanceReport(client, ctx.config));
    const rendered =
      format === 'html'
        ? renderHtml(report)
        : format === 'markdown'
          ? renderMarkdown(report)
          : renderText(report);
    if (ctx.values.output) {
      const path = String(ctx.values.output);
      try {
        writeFileSync(path, rendered);
      } catch (err) {
        throw new BadInputError(`report: cannot write ${showValue(path)} (${(err as Error).message})`);
      }
      ctx.logger.info(`report: wrote ${format} to ${path}`);
      return { result: report, text: `report: ${report.message}; ${format} written to ${path}` };
    }
    return { result: report, text: rendered.replace(/\n$/, '') };
  },
};
