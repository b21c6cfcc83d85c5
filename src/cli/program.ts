// The `sandrun` command line: builds the commands, runs one, and turns its outcome into an exit code.
// commands/ only declares them (names, arguments, options, help); each action imports its implementation from actions/
// when it runs. So --help loads commander and nothing else, and an HTTP command loads only the HTTP client and its
// formatting: no server code, database, engine client or zod (test/e2e/cli-module-graph.test.ts; docs/decisions.md).
import { Command, CommanderError } from 'commander';
import { SandrunError } from '../errors.ts';
import { ApiError, CliError, EXIT, type ExitCode } from './cli-error.ts';
import { auditCommand } from './commands/audit.ts';
import { backupCommand } from './commands/backup.ts';
import { completionCommand } from './commands/completion.ts';
import { doctorCommand } from './commands/doctor.ts';
import { projectsCommand } from './commands/projects.ts';
import { runCommand } from './commands/run.ts';
import { runsCommand } from './commands/runs.ts';
import { secretsCommand } from './commands/secrets.ts';
import { serveCommand } from './commands/serve.ts';
import { tenantsCommand } from './commands/tenants.ts';
import { tokensCommand } from './commands/tokens.ts';
import { webhooksCommand } from './commands/webhooks.ts';
import type { CliContext } from './context.ts';

function buildProgram(context: CliContext): Command {
  const program = new Command('sandrun')
    .description('sandrun: run code from git projects in locked-down containers')
    .addHelpText('after', '\nHTTP commands use SANDRUN_URL (default http://$SANDRUN_HOST:$SANDRUN_PORT) and SANDRUN_TOKEN.')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => context.terminal.stdout.write(text),
      writeErr: (text) => context.terminal.stderr.write(text),
    })
    .exitOverride()
    .hook('preAction', (_program, action) => {
      context.json = action.opts<{ json?: boolean }>().json === true;
    });
  for (const command of [serveCommand(context), tokensCommand(context), tenantsCommand(context), auditCommand(context), projectsCommand(context), secretsCommand(context), webhooksCommand(context), runCommand(context), runsCommand(context), doctorCommand(context), backupCommand(context), completionCommand(context, () => program)]) {
    // Settings such as exitOverride reach subcommands made by .command(), not ones built apart and added.
    const inherit = (child: Command) => {
      child.copyInheritedSettings(program);
      child.commands.forEach(inherit);
    };
    inherit(command);
    program.addCommand(command);
  }
  return program;
}

function exitCodeOf(error: unknown, context: CliContext): ExitCode {
  const { stderr, colours } = context.terminal;
  if (error instanceof CommanderError) {
    // Commander has already printed its message (or the help).
    return error.exitCode === 0 ? EXIT.success : EXIT.usage;
  }
  if (error instanceof ApiError) {
    if (context.json) context.terminal.stdout.write(JSON.stringify(error.body, null, 2) + '\n');
    stderr.write(`${colours.red(`error (${error.code})`)}: ${error.serverMessage}\n`);
    return error.exitCode;
  }
  if (error instanceof CliError) {
    stderr.write(`sandrun: ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof SandrunError) {
    // Raised by commands that work on the database directly (tokens).
    stderr.write(`${colours.red(`error (${error.code})`)}: ${error.message}\n`);
    return error.code === 'invalid_request' ? EXIT.usage : EXIT.api;
  }
  throw error;
}

/** Runs one command line (without the node and script arguments); resolves with the exit code. */
export async function runCli(argv: readonly string[], context: CliContext): Promise<ExitCode> {
  try {
    await buildProgram(context).parseAsync([...argv], { from: 'user' });
    return context.exitCode ?? EXIT.success;
  } catch (error) {
    return exitCodeOf(error, context);
  }
}
