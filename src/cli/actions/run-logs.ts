// What `sandrun runs logs ID [--follow]` does: a run's stdout and stderr as they arrive, ending with its status.
import { isTerminal } from '../../run-status.ts';
import type { RunResultView } from '../../runs/run-view.ts';
import { apiClient } from '../api-client.ts';
import { CliError, EXIT } from '../cli-error.ts';
import { segment, type CliContext, type HttpFlags } from '../context.ts';
import { exitCodeOfRun, formatDuration } from '../format-run.ts';
import { eventData, textOf } from '../sse-stream.ts';

export interface LogsFlags extends HttpFlags {
  follow?: boolean;
}

/** Streams the logs; stdout events go to stdout and stderr events to stderr, so the two stay separable. */
export async function followLogs(context: CliContext, runId: string, flags: LogsFlags): Promise<void> {
  const { stdout, stderr, colours } = context.terminal;
  const path = `/v1/runs/${segment(runId)}/logs${flags.follow ? '?follow=1' : ''}`;
  for await (const event of apiClient(context, flags).events(path)) {
    const data = eventData(event);
    if (flags.json) {
      stdout.write(JSON.stringify({ event: event.event, data }) + '\n');
    } else if (event.event === 'stdout' || event.event === 'stderr') {
      const text = textOf(data);
      if (text !== undefined) (event.event === 'stdout' ? stdout : stderr).write(text);
    }
    if (event.event === 'end' || event.event === 'status') {
      // Both carry the run view (src/api/routes/run-logs.ts): `end` once it is terminal, `status` as it is now.
      const run = data as RunResultView;
      if (!flags.json) {
        const detail = isTerminal(run.status) ? ` (exit code ${run.exit_code ?? 'none'}, ${formatDuration(run.duration_seconds)})` : '';
        stderr.write(`${colours.dim(`run ${run.run_number} of ${run.project}:`)} ${colours.status(run.status)}${detail}${run.error ? ` ${colours.red(run.error.message)}` : ''}\n`);
      }
      if (isTerminal(run.status)) context.exitCode = exitCodeOfRun(run.status);
      return;
    }
  }
  if (flags.follow) throw new CliError('the log stream ended before the run finished; check it with: sandrun runs get ' + runId, EXIT.api);
}
