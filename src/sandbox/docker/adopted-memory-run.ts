// Finishes a launcher run with secrets whose server is gone, from the copies its launcher kept in the container's memory (finish-from-copies.ts); /outputs read by exec.
//
// Such a container has no engine log (hardening.ts); its launcher copied the command's output into tmpfs files and
// writes the trailer's data to another once the command and what it left have ended (kept-in-memory.ts). Its stdin
// ended with its server, so it lingers after the command (launcher-protocol.ts): the files, the cgroup and /outputs
// stay readable until this server removes the container.
import type Dockerode from 'dockerode';
import type { AdoptionSpec, RunOptions, SandboxResult } from '../backend.ts';
import { oomKillsOf } from '../container-usage.ts';
import { finishFromCopies } from '../finish-from-copies.ts';
import type { OutputsReader } from './outputs-reader.ts';
import type { LauncherRef } from './adoption-ref.ts';
import { inspectState } from '../container-state.ts';
import { containerGone } from '../run-lost.ts';

export interface AdoptedMemoryRunSettings {
  logCapBytes: number;
}

export async function followMemoryRun(
  docker: Dockerode,
  ref: LauncherRef,
  spec: AdoptionSpec,
  options: RunOptions,
  deps: { settings: AdoptedMemoryRunSettings; fallback: OutputsReader },
): Promise<SandboxResult> {
  const container = docker.getContainer(ref.container);
  if (!(await inspectState(container))) throw containerGone(spec.runId, `its container ${ref.container.slice(0, 12)} is gone (removed, or lost with the engine)`);
  return finishFromCopies(container, spec, options, {
    logCapBytes: deps.settings.logCapBytes,
    oomKilled: async () => (oomKillsOf(container.id) ?? 0) > 0 || (await inspectState(container))?.OOMKilled === true,
    readOutputs: (capture) => deps.fallback.read(container, capture),
  });
}
