// `sandrun runs get|list|cancel|logs`: the tenant's runs, over the REST API.
import { isTerminal } from '../../run-status.ts';
import { Command } from 'commander';
import type { RunResultView } from '../../runs/run-view.ts';
import { addHttpOptions, apiClient, printJson, segment, type CliContext, type HttpFlags } from '../context.ts';
import { formatDuration, formatRun } from '../format-run.ts';
import { parseLimit, parseStatus } from '../inputs.ts';
import { formatTable } from '../table.ts';
import { followLogs, type LogsFlags } from './run-logs.ts';

interface ListFlags extends HttpFlags {
  project?: string;
  status?: string;
  limit?: string;
  cursor?: string;
}

export function runsCommand(context: CliContext): Command {
  const runs = new Command('runs').description("the tenant's runs");
  const { stdout, colours } = context.terminal;
  const show = (run: RunResultView, flags: HttpFlags) => {
    if (flags.json) printJson(context, run);
    else stdout.write(formatRun(run, colours));
  };

  addHttpOptions(runs.command('get').description('a run as it is now (its result once finished)').argument('<run_id>')).action(
    async (runId: string, flags: HttpFlags) => {
      show(await apiClient(context, flags).request<RunResultView>('GET', `/v1/runs/${segment(runId)}`), flags);
    },
  );

  addHttpOptions(
    runs
      .command('list')
      .description('runs, newest first')
      .option('--project <name>', 'only this project')
      .option('--status <status>', 'only runs in this status')
      .option('--limit <n>', 'at most this many (1-200, default 50)')
      .option('--cursor <cursor>', 'the next page, from a previous list'),
  ).action(async (flags: ListFlags) => {
    const query = new URLSearchParams();
    if (flags.project) query.set('project_name', flags.project);
    if (flags.status) query.set('status', parseStatus(flags.status));
    if (flags.limit) query.set('limit', String(parseLimit(flags.limit)));
    if (flags.cursor) query.set('cursor', flags.cursor);
    const suffix = query.size > 0 ? `?${query.toString()}` : '';
    const page = await apiClient(context, flags).request<{ runs: RunResultView[]; next_cursor: string | null }>('GET', `/v1/runs${suffix}`);
    if (flags.json) return printJson(context, page);
    if (page.runs.length === 0) {
      stdout.write('no runs\n');
      return;
    }
    stdout.write(
      formatTable(page.runs, [
        { header: 'RUN ID', value: (r) => r.run_id },
        { header: '#', value: (r) => String(r.run_number) },
        { header: 'PROJECT', value: (r) => r.project },
        { header: 'MODEL', value: (r) => r.model_name ?? '-' },
        { header: 'STATUS', value: (r) => r.status, style: (padded, r) => colours.status(r.status) + padded.slice(r.status.length) },
        { header: 'EXIT', value: (r) => (r.exit_code === null ? '-' : String(r.exit_code)) },
        { header: 'DURATION', value: (r) => (isTerminal(r.status) ? formatDuration(r.duration_seconds) : '-') },
        { header: 'CREATED', value: (r) => r.created_at },
      ]),
    );
    if (page.next_cursor) stdout.write(colours.dim(`more: sandrun runs list --cursor ${page.next_cursor}\n`));
  });

  addHttpOptions(runs.command('cancel').description('cancel a pending or running run').argument('<run_id>')).action(async (runId: string, flags: HttpFlags) => {
    show(await apiClient(context, flags).request<RunResultView>('POST', `/v1/runs/${segment(runId)}/cancel`), flags);
  });

  addHttpOptions(
    runs
      .command('logs')
      .description("a run's stdout and stderr; with --follow, live until it ends (exit code 0 only if it succeeded)")
      .argument('<run_id>')
      .option('-f, --follow', 'keep streaming until the run ends'),
  ).action(async (runId: string, flags: LogsFlags) => {
    await followLogs(context, runId, flags);
  });

  return runs;
}
