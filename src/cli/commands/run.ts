// `sandrun run PROJECT [MODEL]`: submits a run (sync by default) and shows its result. The declaration; actions/run.ts does it.
import { Command } from 'commander';
import type { RunFlags } from '../actions/run.ts';
import { addHttpOptions, type CliContext } from '../context.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function runCommand(context: CliContext): Command {
  const command = new Command('run')
    .description('run a whole project, or one model of it; waits for the result unless --async')
    .argument('<project>', 'project name')
    .argument('[model]', 'model name from sandrun.yaml (default: the whole project)')
    .option('--param <key=value>', 'a parameter; the value is JSON when it parses (0.08, true, [1,2]), else text; repeatable', collect, [])
    .option('--params-json <json>', 'all parameters as one JSON object (--param values go on top)')
    .option('--async', 'submit and return at once with the run id')
    .option('--branch <branch>', "branch (default: the project's default branch)")
    .option('--commit <sha>', 'commit, full or at least 7 hex digits; wins over --branch');
  addHttpOptions(command).action(async (project: string, model: string | undefined, flags: RunFlags) => {
    await (await import('../actions/run.ts')).submitRun(context, project, model, flags);
  });
  return command;
}
