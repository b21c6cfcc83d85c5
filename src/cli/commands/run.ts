// `sandrun run PROJECT [MODEL]`: submits a run (sync by default) and shows its result.
import { Command } from 'commander';
import type { AsyncRunView, RunResultView } from '../../runs/run-view.ts';
import { addHttpOptions, apiClient, printJson, type CliContext, type HttpFlags } from '../context.ts';
import { exitCodeOfRun, formatAsyncReceipt, formatRun } from '../format-run.ts';
import { parseParameters } from '../inputs.ts';
import { startSpinner } from '../spinner.ts';

interface RunFlags extends HttpFlags {
  param: string[];
  paramsJson?: string;
  async?: boolean;
  branch?: string;
  commit?: string;
}

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
    const parameters = parseParameters(flags.param, flags.paramsJson);
    const body = {
      scope: model ? 'model' : 'project',
      mode: flags.async ? 'async' : 'sync',
      project_name: project,
      model_name: model ?? null,
      branch: flags.branch ?? null,
      commit_sha: flags.commit ?? null,
      parameters,
    };
    const client = apiClient(context, flags);
    if (flags.async) {
      const receipt = await client.request<AsyncRunView>('POST', '/v1/runs', body);
      if (flags.json) printJson(context, receipt);
      else context.terminal.stdout.write(formatAsyncReceipt(receipt, context.terminal.colours));
      return;
    }
    const stopSpinner = startSpinner(context.terminal.stderr, `running ${model ? `${project}/${model}` : project}`, context.terminal.progress === true);
    let run: RunResultView;
    try {
      run = await client.request<RunResultView>('POST', '/v1/runs', body);
    } finally {
      stopSpinner();
    }
    if (flags.json) printJson(context, run);
    else context.terminal.stdout.write(formatRun(run, context.terminal.colours));
    context.exitCode = exitCodeOfRun(run.status);
  });
  return command;
}
