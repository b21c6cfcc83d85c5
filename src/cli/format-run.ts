// How a person sees a run: status, exit code, duration, outputs as pretty JSON, then its stdout and stderr.
import { isTerminal } from '../run-status.ts';
import type { AsyncRunView, RunResultView } from '../runs/run-view.ts';
import { EXIT, type ExitCode } from './cli-error.ts';
import type { Colours } from './terminal.ts';

/** 0 when the run succeeded, 1 when it ended any other way (or has not ended). */
export const exitCodeOfRun = (status: RunResultView['status']): ExitCode => (status === 'success' ? EXIT.success : EXIT.runFailed);

export const formatDuration = (seconds: number): string => (seconds < 60 ? `${seconds.toFixed(2)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`);

const shortSha = (sha: string): string => sha.slice(0, 12);

const what = (run: { model_name: string | null }): string => (run.model_name ? `model ${run.model_name}` : 'whole project');

function block(title: string, text: string, truncated: boolean, colours: Colours): string {
  const body = text.endsWith('\n') ? text : `${text}\n`;
  return `${colours.bold(title)}${truncated ? colours.yellow(' (truncated)') : ''}\n${body}`;
}

function replayVerdict(run: RunResultView, colours: Colours): string {
  if (run.outputs_match === null) return '';
  return run.outputs_match ? ` (${colours.green('outputs match')})` : ` (${colours.red('outputs differ')})`;
}

export function formatRun(run: RunResultView, colours: Colours): string {
  const lines = [
    `${colours.bold(`run ${run.run_number}`)} of ${run.project} (${what(run)}) at ${shortSha(run.commit_sha)}${run.branch ? ` on ${run.branch}` : ''}`,
    `  id:        ${run.run_id}`,
    `  status:    ${colours.status(run.status)}`,
  ];
  if (isTerminal(run.status)) {
    lines.push(`  exit code: ${run.exit_code ?? colours.dim('none (the process never ran)')}`);
    lines.push(`  duration:  ${formatDuration(run.duration_seconds)}`);
  }
  for (const moved of run.egress) lines.push(`  network:   ${moved.host}:${moved.port}  ${moved.bytes_out} bytes out, ${moved.bytes_in} bytes in`);
  if (run.replay_of) lines.push(`  replay of: ${run.replay_of}${replayVerdict(run, colours)}`);
  if (run.data_snapshot_ref) lines.push(`  snapshot:  ${colours.dim(run.data_snapshot_ref)}`);
  if (run.error) lines.push(`  error:     ${colours.red(`${run.error.code}: ${run.error.message}`)}`);
  if (run.warning) lines.push(`  warning:   ${colours.yellow(run.warning)}`);
  let text = lines.join('\n') + '\n';
  if (isTerminal(run.status)) {
    text += Object.keys(run.outputs).length > 0 ? block('outputs:', JSON.stringify(run.outputs, null, 2), false, colours) : `${colours.bold('outputs:')} ${colours.dim('none')}\n`;
    if (run.artifacts.length > 0) {
      const listed = run.artifacts.map((artifact) => `${artifact.path}  ${artifact.size} bytes  ${artifact.content_type}`).join('\n');
      text += block('artifacts (sandrun runs download RUN [PATH]):', listed, false, colours);
    }
  }
  if (run.stdout) text += block('stdout:', run.stdout, run.stdout_truncated, colours);
  if (run.stderr) text += block('stderr:', run.stderr, run.stderr_truncated, colours);
  return text;
}

export function formatAsyncReceipt(receipt: AsyncRunView, colours: Colours): string {
  const lines = [
    `${colours.bold(`run ${receipt.run_number}`)} of ${receipt.project_name} (${what(receipt)}) at ${shortSha(receipt.commit_sha)} is ${colours.status(receipt.status)}`,
    `  id: ${receipt.run_id}`,
  ];
  if (receipt.warning) lines.push(`  warning: ${colours.yellow(receipt.warning)}`);
  lines.push(`follow it with:  sandrun runs logs ${receipt.run_id} --follow`);
  lines.push(`or check it with: sandrun runs get ${receipt.run_id}`);
  return lines.join('\n') + '\n';
}
