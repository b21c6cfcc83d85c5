// `sandrun serve`: the same server as `npm start`.
import { Command } from 'commander';
import type { CliContext } from '../context.ts';

export function serveCommand(context: CliContext): Command {
  return new Command('serve')
    .description('serve the REST API and MCP endpoint (configured by SANDRUN_* environment variables)')
    .action(async () => {
      // Loaded on demand: no other command needs the server's code, and loading it costs every command time.
      const { serve } = await import('../../serve.ts');
      await serve(context.env);
    });
}
