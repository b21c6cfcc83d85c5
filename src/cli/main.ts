// Entry of the `sandrun` CLI (bin/sandrun.js, `npm run sandrun`): runs the command line and sets the exit code.
import { runCli } from './program.ts';
import { processTerminal } from './terminal.ts';

process.exitCode = await runCli(process.argv.slice(2), { env: process.env, terminal: processTerminal(process.env) });
