// How a run whose command exited ended — the one rule every engine path applies.
import { SandrunError } from '../errors.ts';
import type { SandboxOutcome } from './backend.ts';
import type { OutputsReadResult } from './outputs.ts';

/** From the exit code, whether it was OOM-killed, and what reading /outputs found. */
export function exitedOutcome(exitCode: number, oomKilled: boolean, read: OutputsReadResult): SandboxOutcome {
  if (oomKilled) return { kind: 'oom_killed' };
  if (!read.ok && read.code === 'output_too_large') return { kind: 'output_too_large', message: read.message };
  // Unreadable outputs fail a run that succeeded; a run that failed anyway keeps its own exit as the reason.
  if (exitCode === 0 && !read.ok) return { kind: read.code, message: read.message };
  return { kind: 'exited' };
}

/**
 * A run whose supervisor (the Docker launcher, the swarm wrapper) died before reporting the command's end: its
 * container ended by a signal (an engine stopping, the run killing every process it may) is a platform failure
 * whose outcome is unknown; any other exit code is the run's own doing and is reported as its exit.
 */
export function unknownOutcomeOfSignalledExit(exitCode: number): SandrunError | undefined {
  if (exitCode !== 137 && exitCode !== 143) return undefined;
  return stoppedBeforeFinishing(`stopped by a signal, exit ${exitCode}: an engine restart, or the run killed every process it may?`);
}

export function stoppedBeforeFinishing(why: string): SandrunError {
  return new SandrunError('engine_unavailable', `the container of this run stopped before its command finished (${why}); its outcome is unknown`);
}
