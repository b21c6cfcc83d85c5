// Finishes a launcher run with secrets whose server is gone, from the copies its launcher kept in the container's memory: exit file polled, logs and /outputs read by exec.
//
// Such a container has no engine log (hardening.ts); its launcher copied the command's output into tmpfs files and
// writes the trailer's data to another once the command and what it left have ended (kept-in-memory.ts; read by kept-copies.ts). Its stdin
// ended with its server, so it lingers after the command (launcher-protocol.ts): the files, the cgroup and /outputs
// stay readable until this server removes the container. No live log is passed on meanwhile: the logs come whole, at
// the end (docs/decisions.md, "Runs with secrets outlive their server").
import type Dockerode from 'dockerode';
import { STOP_SIGNAL, signalExitCode, type AdoptionSpec, type RunOptions, type SandboxResult } from '../backend.ts';
import { RunClock } from '../run-clock.ts';
import { RunLogs } from '../run-logs.ts';
import { oomKillsOf, readContainerUsage } from '../container-usage.ts';
import { artifactCapture } from '../artifact-capture.ts';
import type { OutputsReadResult } from '../outputs.ts';
import { exitedOutcome } from '../exit-outcome.ts';
import { awaitKeptExit, readKeptLogs } from '../kept-copies.ts';
import type { OutputsReader } from './outputs-reader.ts';
import type { LauncherRef } from './adoption-ref.ts';
import { inspectState, lostEnding } from '../container-state.ts';
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
  const deadline = spec.startedAt.getTime() + spec.limits.timeoutSeconds * 1000;
  const clock = new RunClock(options.signal, Math.max(0, deadline - Date.now()) / 1000);
  try {
    clock.start();
    const ending = await awaitKeptExit(container, clock, deadline);
    const finishedAt = new Date();
    // The copies went with the container's tmpfs.
    if (ending.kind === 'lost') return { ...new RunLogs(0, undefined).resultBase(spec.startedAt, finishedAt), ...(await lostEnding(container, spec.runId)), outputs: {} };
    // Read before any kill: the copies are on the container's tmpfs, which goes with its last process.
    const usage = await readContainerUsage(container);
    const base = await readKeptLogs(container, spec, deps.settings.logCapBytes, usage, finishedAt);
    if (ending.kind === 'timed_out' || ending.kind === 'cancelled') {
      await container.kill({ signal: STOP_SIGNAL }).catch(() => undefined);
      return { ...base, outcome: { kind: ending.kind }, exitCode: signalExitCode(STOP_SIGNAL), outputs: {} };
    }
    const { exitCode, hasOutputs } = ending.exit;
    const oomKilled = exitCode !== 0 && ((oomKillsOf(container.id) ?? 0) > 0 || (await inspectState(container))?.OOMKilled === true);
    const capture = artifactCapture(options.artifacts, spec.secrets);
    const read: OutputsReadResult = hasOutputs ? await deps.fallback.read(container, capture) : { ok: true, outputs: {}, totalBytes: 0, sawRoot: true };
    return { ...base, outcome: exitedOutcome(exitCode, oomKilled, read), exitCode, outputs: read.outputs, artifacts: read.artifacts };
  } finally {
    clock.dispose();
  }
}
