// Finishes a swarm run with secrets whose server is gone, from the copies its wrapper kept in its container's memory (finish-from-copies.ts); /outputs read by exec on its node.
//
// Such a task keeps no log on its node (service-spec.ts: LogDriver none); where its image has `mkfifo` and `tee`, its
// wrapper copied the command's output into tmpfs files and wrote the exit file once the command and what it left had
// ended (kept-in-memory.ts). The wrapper then waits at its begin line (bounded: SUPERVISOR_LINGER_SECONDS) for a server
// that never comes, so the copies, the cgroup and /outputs stay readable until this server removes the service. Its
// frame is never asked for: /outputs is read by `tar` in an exec. The rest is the Docker backend's (finish-from-copies.ts).
import type { AdoptionSpec, RunOptions, SandboxResult } from '../backend.ts';
import { inspectState } from '../container-state.ts';
import { keepsCopies, readOutputsByExec } from '../kept-copies.ts';
import { finishFromCopies } from '../finish-from-copies.ts';
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
  return finishFromCopies(container, spec, options, {
    logCapBytes: parts.settings.logCapBytes,
    oomKilled: (exitCode) => taskOomKilled(engine, ref.container, exitCode),
    readOutputs: (capture) => readOutputsByExec(container, parts.settings.outputs, capture),
  });
}
