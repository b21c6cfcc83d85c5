// How service answers and failures become MCP tool results: structuredContent is the REST JSON, content a short summary.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { ErrorCode } from '../../errors.ts';
import { toSandrunError } from '../http-errors.ts';
import type { AsyncRunView, RunResultView } from '../../runs/run-view.ts';

/** What an agent can do next, per error code; the service's message already says what was wrong. */
const NEXT_STEP: Partial<Record<ErrorCode, string>> = {
  invalid_request: 'Correct the arguments and call the tool again.',
  not_found: 'Check the name or id: list_projects, list_models and list_runs show what this credential can see.',
  forbidden: 'Use a token that has this scope.',
  conflict: 'Check the current state with get_run or list_runs before retrying.',
  payload_too_large: 'Send smaller parameters.',
  manifest_invalid: "Fix the project's sandrun.yaml, commit it, and run again.",
  image_unavailable: "Use an image from the server's allow-list in sandrun.yaml, or ask the operator to build it.",
  git_failed: 'Check the branch or commit_sha; the project may need a refresh.',
  repo_too_large: 'This commit of the repository is larger than the server allows; run a smaller commit or ask the operator.',
  egress_denied: "Remove the named destinations from network.allow in the project's sandrun.yaml, or ask the operator to allow them (SANDRUN_EGRESS_ALLOW).",
  rate_limited: 'Wait and try again.',
  queue_full: 'The run queue is full: wait for runs to finish, then try again.',
  engine_unavailable: 'The container engine is unavailable: try again later.',
};

export function structuredResult(summary: string, structuredContent: object, isError = false): CallToolResult {
  return {
    content: [{ type: 'text', text: summary }],
    structuredContent: structuredContent as Record<string, unknown>,
    ...(isError ? { isError: true } : {}),
  };
}

/** A failure as an isError result whose text says what went wrong and what to do; internal details are logged, not shown. */
export function errorResult(error: unknown, logger: Logger, tool: string): CallToolResult {
  const failure = toSandrunError(error);
  if (failure.code === 'internal') logger.error({ err: error, tool }, 'MCP tool failed');
  const nextStep = NEXT_STEP[failure.code];
  const text = `${failure.code}: ${failure.message}${nextStep ? `. ${nextStep}` : ''}`;
  return { content: [{ type: 'text', text }], isError: true };
}

export function missingScopeResult(scope: string, tool: string): CallToolResult {
  return {
    content: [{ type: 'text', text: `forbidden: ${tool} needs the scope ${scope}, which this credential lacks. Use a token that has ${scope}.` }],
    isError: true,
  };
}

function describeRun(view: RunResultView): string {
  const target = view.model_name ? `model ${view.model_name} of ${view.project}` : `project ${view.project}`;
  return `Run #${view.run_number} (${view.run_id}) of ${target} at ${view.commit_sha.slice(0, 12)}`;
}

/** A run as it is now; a terminal run that did not succeed is an isError result that still carries the whole run. */
export function runResult(view: RunResultView): CallToolResult {
  const head = describeRun(view);
  const warning = view.warning ? ` Warning: ${view.warning}.` : '';
  if (view.status === 'pending' || view.status === 'running') {
    return structuredResult(`${head} is ${view.status}. Call get_run with run_id '${view.run_id}' again until it is terminal.${warning}`, view);
  }
  if (view.status === 'success') {
    const outputs = Object.keys(view.outputs);
    const outputList = outputs.length ? `outputs: ${outputs.join(', ')}` : 'no outputs';
    return structuredResult(`${head} succeeded in ${view.duration_seconds}s (exit 0, ${outputList}).${warning}`, view);
  }
  const reason = view.error ? `${view.error.code}: ${view.error.message}` : `exit code ${view.exit_code}`;
  const advice =
    view.status === 'error'
      ? 'The platform failed, not the code: try again later.'
      : view.status === 'cancelled'
        ? 'It was cancelled; submit a new run if it is still needed.'
        : 'Read stderr and stdout in the structured result, fix the code or parameters, and run again.';
  return structuredResult(`${head} ended with status ${view.status} (${reason}). ${advice}${warning}`, view, true);
}

export function queuedRunResult(view: AsyncRunView): CallToolResult {
  const target = view.model_name ? `model ${view.model_name} of ${view.project_name}` : `project ${view.project_name}`;
  const warning = view.warning ? ` Warning: ${view.warning}.` : '';
  return structuredResult(`Run #${view.run_number} of ${target} is queued with run_id '${view.run_id}'. Poll get_run with that run_id until its status is terminal.${warning}`, view);
}
