// How a run whose command exited ended — the one rule every engine path applies.
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
