// Finishes a swarm run with secrets whose server is gone, from the copies its wrapper kept in its container's memory: exit file polled, logs and /outputs read by exec on its node.
//
// Such a task keeps no log on its node (service-spec.ts: LogDriver none); where its image has `mkfifo` and `tee`, its
// wrapper copied the command's output into tmpfs files and wrote the exit file once the command and what it left had
// ended (kept-in-memory.ts). The wrapper then waits at its begin line (bounded: SUPERVISOR_LINGER_SECONDS) for a server
// that never comes, so the copies, the cgroup and /outputs stay readable until this server removes the service. Its
// frame is never asked for: /outputs is read by `tar` in an exec. No live log is passed on meanwhile: the logs come
// whole, at the end, as on the Docker backend (docs/decisions.md, "Runs with secrets outlive their server").
import { STOP_SIGNAL, signalExitCode, type AdoptionSpec, type RunOptions, type SandboxResult } from '../backend.ts';
import { RunClock } from '../run-clock.ts';
import { RunLogs } from '../run-logs.ts';
import { readContainerUsage } from '../container-usage.ts';
import { artifactCapture } from '../artifact-capture.ts';
import type { OutputsReadResult } from '../outputs.ts';
import { exitedOutcome } from '../exit-outcome.ts';
import { inspectState, lostEnding } from '../container-state.ts';
import { awaitKeptExit, keepsCopies, readKeptLogs, readOutputsByExec } from '../kept-copies.ts';
import { containerGone } from '../run-lost.ts';
import { locateTask, type AdoptedTaskParts } from './adopted-task.ts';
import { taskOomKilled } from './task-result.ts';
import type { TaskRef } from './task-ref.ts';

/**
 * Follows an adopted run with secrets to its end from its container's memory. Rejects with not_found (the run is
 * lost) when its service or container is gone, or its wrapper kept no copies (an image without `mkfifo` or `tee`).
 */
export async function followMemoryTask(ref: TaskRef, spec: AdoptionSpec, options: RunOptions, parts: AdoptedTaskParts): Promise<SandboxResult> {
  const { engine, container } = await locateTask(ref, spec, parts);
  if (!(await keepsCopies(container))) {
    const running = (await inspectState(container))?.Running === true;
    throw containerGone(
      spec.runId,
      running
        ? 'its task kept nothing to finish it from (a run with secrets on an image without `mkfifo` and `tee`: their values are never written to the node’s disk)'
        : `its task's container ${ref.container.slice(0, 12)} stopped, and the copies of its output kept in its memory went with it`,
    );
  }
  const deadline = spec.startedAt.getTime() + spec.limits.timeoutSeconds * 1000;
  const clock = new RunClock(options.signal, Math.max(0, deadline - Date.now()) / 1000);
  try {
    clock.start();
    const ending = await awaitKeptExit(container, clock, deadline);
    // The copies went with the container's tmpfs.
    if (ending.kind === 'lost') return { ...new RunLogs(0, undefined).resultBase(spec.startedAt, new Date()), ...(await lostEnding(container, spec.runId)), outputs: {} };
    const endedAt = ending.kind === 'exited' && ending.exit.endedAtSeconds !== undefined ? new Date(ending.exit.endedAtSeconds * 1000) : new Date();
    // Read before any kill: the copies are on the container's tmpfs, which goes with its last process.
    const usage = await readContainerUsage(container);
    const base = await readKeptLogs(container, spec, parts.settings.logCapBytes, usage, endedAt);
    if (ending.kind === 'timed_out' || ending.kind === 'cancelled') {
      await container.kill({ signal: STOP_SIGNAL }).catch(() => undefined);
      return { ...base, outcome: { kind: ending.kind }, exitCode: signalExitCode(STOP_SIGNAL), outputs: {} };
    }
    const { exitCode, hasOutputs } = ending.exit;
    const oomKilled = await taskOomKilled(engine, ref.container, exitCode);
    const read: OutputsReadResult = hasOutputs
      ? await readOutputsByExec(container, parts.settings.outputs, artifactCapture(options.artifacts, spec.secrets))
      : { ok: true, outputs: {}, totalBytes: 0, sawRoot: true };
    return { ...base, outcome: exitedOutcome(exitCode, oomKilled, read), exitCode, outputs: read.outputs, artifacts: read.artifacts };
  } finally {
    clock.dispose();
  }
}
