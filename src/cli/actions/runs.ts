// What `sandrun runs get|list|cancel|replay` do: the tenant's runs over the REST API, shown as a person or a script wants them.
import { isTerminal } from '../../run-status.ts';
import type { AsyncRunView, RunResultView } from '../../runs/run-view.ts';
import { apiClient } from '../api-client.ts';
import { EXIT } from '../cli-error.ts';
import { printJson, segment, type CliContext, type HttpFlags } from '../context.ts';
import { formatAsyncReceipt, formatDuration, formatRun } from '../format-run.ts';
import { waitUntilTerminal } from '../run-wait.ts';
import { startSpinner } from '../spinner.ts';
import { parseLimit, parseStatus } from '../inputs.ts';
import { formatTable } from '../table.ts';

export interface ReplayFlags extends HttpFlags {
  wait?: boolean;
}

export interface ListFlags extends HttpFlags {
  project?: string;
  status?: string;
  limit?: string;
  cursor?: string;
}

function show(context: CliContext, run: RunResultView, flags: HttpFlags): void {
  if (flags.json) printJson(context, run);
  else context.terminal.stdout.write(formatRun(run, context.terminal.colours));
}

export async function getRun(context: CliContext, runId: string, flags: HttpFlags): Promise<void> {
  show(context, await apiClient(context, flags).request<RunResultView>('GET', `/v1/runs/${segment(runId)}`), flags);
}

export async function cancelRun(context: CliContext, runId: string, flags: HttpFlags): Promise<void> {
  show(context, await apiClient(context, flags).request<RunResultView>('POST', `/v1/runs/${segment(runId)}/cancel`), flags);
}

/**
 * `sandrun runs replay RUN [--wait]`: the receipt of the replay, or with --wait its result once it ended; then the exit
 * code is 0 only when the replay succeeded with the same outputs as the original.
 */
export async function replayRun(context: CliContext, runId: string, flags: ReplayFlags): Promise<void> {
  const { terminal } = context;
  const client = apiClient(context, flags);
  const receipt = await client.request<AsyncRunView>('POST', `/v1/runs/${segment(runId)}/replay`);
  if (!flags.wait) {
    if (flags.json) printJson(context, receipt);
    else terminal.stdout.write(formatAsyncReceipt(receipt, terminal.colours));
    return;
  }
  const stopSpinner = startSpinner(terminal.stderr, `run ${receipt.run_number} of ${receipt.project_name}, replaying ${runId}`, terminal.progress === true);
  let run: RunResultView;
  try {
    run = await waitUntilTerminal(client, receipt.run_id);
  } finally {
    stopSpinner();
  }
  show(context, run, flags);
  context.exitCode = run.status === 'success' && run.outputs_match === true ? EXIT.success : EXIT.runFailed;
}

export async function listRuns(context: CliContext, flags: ListFlags): Promise<void> {
  const { stdout, colours } = context.terminal;
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
}
