// Finishes a direct-path run whose server is gone: its process's output from the container's kept log, its exit, its outputs through the holder.
//
// The server that started the run read its output from the attach stream; the engine's `local` log (hardening.ts)
// kept the same output, so a server that adopts the run follows that log from its start until the process exits,
// stopping it at its deadline or on cancel as direct-runner.ts would have (docs/decisions.md, "Runs on images
// without a shell outlive their server").
import type Dockerode from 'dockerode';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { AdoptionSpec, RunOptions, SandboxResult } from '../backend.ts';
import { RunClock } from '../run-clock.ts';
import { RunLogs, type ResultBase } from '../run-logs.ts';
import { StreamDemux } from '../stream-demux.ts';
import { oomKillsOf } from '../container-usage.ts';
import { artifactCapture } from '../artifact-capture.ts';
import { engineError, isNotFound } from '../engine-errors.ts';
import { inspectState } from '../container-state.ts';
import { containerGone } from '../run-lost.ts';
import { delay } from '../../delay.ts';
import type { OutputsReader } from './outputs-reader.ts';
import type { DirectRef } from './adoption-ref.ts';
import { DirectExit, UsageSampler, directEnding } from './direct-run-parts.ts';

/** After the process exited, how long the end of its kept log may take to arrive. */
const OUTPUT_DRAIN_MS = 2_000;

export interface AdoptedDirectRunDeps {
  logCapBytes: number;
  engineCallTimeoutMs: number;
  outputs: OutputsReader;
}

export async function followAdoptedDirectRun(docker: Dockerode, ref: DirectRef, spec: AdoptionSpec, options: RunOptions, deps: AdoptedDirectRunDeps): Promise<SandboxResult> {
  const container = docker.getContainer(ref.container);
  const holder = docker.getContainer(ref.holder);
  const state = await inspectState(container);
  if (!state) throw containerGone(spec.runId, `its container ${ref.container.slice(0, 12)} is gone (removed, or lost with the engine)`);
  // Its server said it started it, and died before the start reached the engine: its command never ran.
  if (state.Status === 'created') throw containerGone(spec.runId, `its container ${ref.container.slice(0, 12)} was never started`);
  // Without its holder the outputs volume was unmounted once the process ended (a tmpfs): what it wrote is lost.
  if (!(await inspectState(holder))?.Running) throw containerGone(spec.runId, `the helper ${ref.holder.slice(0, 12)} that held its /outputs is gone`);
  const deadline = spec.startedAt.getTime() + spec.limits.timeoutSeconds * 1000;
  const clock = new RunClock(options.signal, Math.max(0, deadline - Date.now()) / 1000);
  const exit = new DirectExit(container, 'not-running', deps.engineCallTimeoutMs);
  const logs = new RunLogs(deps.logCapBytes, options.onLog, spec.secrets);
  const kept = await openKeptLog(container, spec.runId, logs);
  const usage = new UsageSampler(container);
  let exitStatus: number;
  try {
    if (Date.now() < deadline) clock.start();
    // Found past its deadline: it timed out unless its process had exited by then.
    else if (state.Running || Date.parse(state.FinishedAt) > deadline) clock.stop('timed_out');
    exit.stopOn(clock);
    exitStatus = await exit.status(spec.runId);
  } finally {
    clock.dispose();
    usage.stop();
  }
  const finishedAt = state.Running ? new Date() : new Date(state.FinishedAt);
  await Promise.race([kept.drained, delay(OUTPUT_DRAIN_MS)]);
  kept.stream.destroy();
  return directEnding(
    kept.truncate(logs.resultBase(spec.startedAt, finishedAt, usage.last), deps.logCapBytes),
    exitStatus,
    clock.reason,
    // The cgroup's count while it is there; the engine's flag (its first process: here the command itself) after.
    async () => exitStatus !== 0 && ((oomKillsOf(container.id) ?? 0) > 0 || (await inspectState(container))?.OOMKilled === true),
    () => deps.outputs.read(holder, artifactCapture(options.artifacts, spec.secrets)),
  );
}

/** The container's kept log from its start, followed to the process's exit, into the run's two streams. */
async function openKeptLog(container: Dockerode.Container, runId: string, logs: RunLogs): Promise<{ stream: Readable; drained: Promise<void>; truncate: (base: ResultBase, capBytes: number) => ResultBase }> {
  const query = { stdout: true, stderr: true, follow: true };
  let stream: Readable;
  try {
    stream = await (container.logs as unknown as (opts: typeof query) => Promise<Readable>)(query);
  } catch (error) {
    if (isNotFound(error)) throw containerGone(runId, 'its container went while it was being adopted');
    throw engineError(error, `reading the kept log of container ${container.id.slice(0, 12)}`);
  }
  let bytes = 0;
  const demux = new StreamDemux(
    (chunk) => ((bytes += chunk.length), logs.out(chunk)),
    (chunk) => ((bytes += chunk.length), logs.err(chunk)),
  );
  stream.on('data', (chunk: Buffer) => demux.push(chunk));
  return {
    stream,
    drained: finished(stream).catch(() => undefined),
    // The kept log rotates (hardening.ts keptLogBytes): one holding more than both caps' worth may have lost its head,
    // which nothing in a bare process's output tells; both streams are then marked truncated.
    truncate: (base, capBytes) => (bytes <= 2 * capBytes ? base : { ...base, stdout: { ...base.stdout, truncated: true }, stderr: { ...base.stderr, truncated: true } }),
  };
}
