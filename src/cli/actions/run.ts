// What `sandrun run PROJECT [MODEL]` does: submits the run (sync by default) and shows its result or its receipt.
import type { AsyncRunView, RunResultView } from '../../runs/run-view.ts';
import { apiClient } from '../api-client.ts';
import { printJson, type CliContext, type HttpFlags } from '../context.ts';
import { exitCodeOfRun, formatAsyncReceipt, formatRun } from '../format-run.ts';
import { parseParameters } from '../inputs.ts';
import { startSpinner } from '../spinner.ts';

export interface RunFlags extends HttpFlags {
  param: string[];
  paramsJson?: string;
  async?: boolean;
  branch?: string;
  commit?: string;
}

export async function submitRun(context: CliContext, project: string, model: string | undefined, flags: RunFlags): Promise<void> {
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
}
