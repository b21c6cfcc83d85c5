// `sandrun runs get|list|cancel|replay|logs`: the tenant's runs, over the REST API. Declarations only: each action loads its
// implementation (actions/) when it runs, so --help and the other commands never load it.
import { Command } from 'commander';
import type { LogsFlags } from '../actions/run-logs.ts';
import type { ListFlags, ReplayFlags } from '../actions/runs.ts';
import type { DownloadFlags } from '../actions/run-download.ts';
import { addHttpOptions, type CliContext, type HttpFlags } from '../context.ts';

const actions = () => import('../actions/runs.ts');

export function runsCommand(context: CliContext): Command {
  const runs = new Command('runs').description("the tenant's runs");

  addHttpOptions(runs.command('get').description('a run as it is now (its result once finished)').argument('<run_id>')).action(async (runId: string, flags: HttpFlags) => {
    await (await actions()).getRun(context, runId, flags);
  });

  addHttpOptions(
    runs
      .command('list')
      .description('runs, newest first')
      .option('--project <name>', 'only this project')
      .option('--status <status>', 'only runs in this status')
      .option('--limit <n>', 'at most this many (1-200, default 50)')
      .option('--cursor <cursor>', 'the next page, from a previous list'),
  ).action(async (flags: ListFlags) => {
    await (await actions()).listRuns(context, flags);
  });

  addHttpOptions(runs.command('cancel').description('cancel a pending or running run').argument('<run_id>')).action(async (runId: string, flags: HttpFlags) => {
    await (await actions()).cancelRun(context, runId, flags);
  });

  addHttpOptions(
    runs
      .command('replay')
      .description('run a finished run again with the same inputs (commit, model, parameters) and compare its outputs')
      .argument('<run_id>')
      .option('-w, --wait', 'wait for the replay to end and show its result (exit code 0 only if it succeeded with the same outputs)'),
  ).action(async (runId: string, flags: ReplayFlags) => {
    await (await actions()).replayRun(context, runId, flags);
  });

  addHttpOptions(
    runs
      .command('logs')
      .description("a run's stdout and stderr; with --follow, live until it ends (exit code 0 only if it succeeded)")
      .argument('<run_id>')
      .option('-f, --follow', 'keep streaming until the run ends'),
  ).action(async (runId: string, flags: LogsFlags) => {
    await (await import('../actions/run-logs.ts')).followLogs(context, runId, flags);
  });

  addHttpOptions(
    runs
      .command('download')
      .description("a run's artifacts (the files it left under /outputs): all of them, or the one at PATH, into DIR keeping their paths")
      .argument('<run_id>')
      .argument('[path]', 'one artifact, by its path under /outputs')
      .option('-o, --output <dir>', 'where to write them (default: the current directory)'),
  ).action(async (runId: string, path: string | undefined, flags: DownloadFlags) => {
    await (await import('../actions/run-download.ts')).downloadArtifacts(context, runId, path, flags);
  });

  return runs;
}
