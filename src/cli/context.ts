// What every command gets: the environment, the terminal, and the options shared by the HTTP commands.
// Loaded by every command line, --help included: it imports nothing but types.
import type { Command } from 'commander';
import type { ExitCode } from './cli-error.ts';
import type { Terminal } from './terminal.ts';

export interface CliContext {
  env: NodeJS.ProcessEnv;
  terminal: Terminal;
  /** Set by a command whose outcome is not plain success (a failed run). */
  exitCode?: ExitCode;
  /** Whether the running command was given --json, so an API error is printed as the server's JSON. */
  json?: boolean;
}

export interface JsonFlag {
  json?: boolean;
}

export interface HttpFlags extends JsonFlag {
  token?: string;
}

export const addJsonOption = (command: Command): Command => command.option('--json', "machine output: exactly the server's JSON");

export const addHttpOptions = (command: Command): Command =>
  addJsonOption(command).option('--token <token>', 'API token (default: $SANDRUN_TOKEN)');

export const printJson = (context: CliContext, value: unknown): void => {
  context.terminal.stdout.write(JSON.stringify(value, null, 2) + '\n');
};

export const segment = (value: string): string => encodeURIComponent(value);
