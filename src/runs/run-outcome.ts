// Maps what the sandbox reports (or a platform failure) to a run's terminal status and error.
import { SandrunError, errorMessage } from '../errors.ts';
import type { SandboxResult } from '../sandbox/backend.ts';
import type { RunLimits } from '../run-limits.ts';
import type { RunCompletion, RunError, RunUsage } from '../store/run-store.ts';

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A run whose command never ran used nothing. */
const NOTHING_USED: RunUsage = { cpuSeconds: 0, peakMemoryBytes: null, outputBytes: 0 };

function usageOf(result: SandboxResult): RunUsage {
  const outputsBytes = Object.keys(result.outputs).length ? Buffer.byteLength(JSON.stringify(result.outputs)) : 0;
  return {
    cpuSeconds: result.usage?.cpuSeconds ?? null,
    peakMemoryBytes: result.usage?.peakMemoryBytes ?? null,
    outputBytes: result.stdout.totalBytes + result.stderr.totalBytes + outputsBytes,
  };
}

export function completionFromSandbox(result: SandboxResult, limits: RunLimits): RunCompletion {
  const common = {
    exitCode: result.exitCode,
    stdout: result.stdout.text,
    stderr: result.stderr.text,
    stdoutTruncated: result.stdout.truncated,
    stderrTruncated: result.stderr.truncated,
    outputs: result.outputs,
    durationSeconds: result.durationSeconds,
    startedAt: result.startedAt.toISOString(),
    finishedAt: result.finishedAt.toISOString(),
    usage: usageOf(result),
    egress: result.egress ?? [],
    artifacts: result.artifacts ?? [],
  };
  const { outcome } = result;
  switch (outcome.kind) {
    case 'exited':
      return result.exitCode === 0
        ? { ...common, status: 'success', error: null }
        : { ...common, status: 'failed', error: { code: 'nonzero_exit', message: `the command exited with code ${result.exitCode}` } };
    case 'oom_killed':
      return { ...common, status: 'failed', error: { code: 'oom_killed', message: `the run used more than its ${limits.memoryMb} MiB of memory and was killed` } };
    case 'output_invalid':
    case 'output_too_large':
      return { ...common, status: 'failed', error: { code: outcome.kind, message: outcome.message } };
    case 'timed_out':
      return { ...common, status: 'timed_out', error: { code: 'timeout', message: `the run did not finish within ${limits.timeoutSeconds} s and was stopped` } };
    case 'cancelled':
      return { ...common, status: 'cancelled', error: { code: 'cancelled', message: 'the run was cancelled' } };
  }
}

/** The end of a run whose command never ran to its own end: nothing printed, nothing produced, no exit code. */
function endedWithoutRunning(status: 'error' | 'cancelled', error: RunError, finishedAt: Date): RunCompletion {
  return {
    status,
    exitCode: null,
    stdout: '',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    outputs: {},
    error,
    durationSeconds: 0,
    startedAt: null,
    finishedAt: finishedAt.toISOString(),
    usage: NOTHING_USED,
    egress: [],
    artifacts: [],
  };
}

/** A run the platform could not carry out: status error, no exit code. */
export function completionFromFailure(error: unknown, finishedAt: Date): RunCompletion {
  if (!(error instanceof SandrunError)) return endedWithoutRunning('error', { code: 'internal', message: errorMessage(error) }, finishedAt);
  // What the client can act on (environment_failed: the build log's tail) goes with the error.
  const details = isPlainObject(error.details) ? { details: error.details } : {};
  return endedWithoutRunning('error', { code: error.code, message: error.message, ...details }, finishedAt);
}

export function cancelledBeforeStart(finishedAt: Date): RunCompletion {
  return endedWithoutRunning('cancelled', { code: 'cancelled', message: 'the run was cancelled before it started' }, finishedAt);
}
