// `sandrun serve`: the same server as `npm start`.
import { Command } from 'commander';
import { serve } from '../../serve.ts';
import type { CliContext } from '../context.ts';

export function serveCommand(context: CliContext): Command {
  return new Command('serve')
    .description('serve the REST API and MCP endpoint (configured by SANDRUN_* environment variables)')
    .action(async () => {
      await serve(context.env);
    });
}
