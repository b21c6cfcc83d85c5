// Finishes a swarm run whose server is gone, from its task's kept log on its node: output, the outputs frame; stopped at its deadline or on cancel.
//
// The server that started the run read all of this through its attach (task-stdio.ts). Once that server is gone, the
// node's engine still writes the task's whole stdio to the service's `local` log (service-spec.ts), and the wrapper
// waits at its begin line (bounded) for a server to read the run's usage. The adopter follows that log from its start
// with the same splitter, and answers the begin line itself through an attach of stdin alone: the same protocol, read
// by another reader; nothing of the fast path changes (docs/decisions.md, "Runs outlive their server").
import type Dockerode from 'dockerode';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { SandrunError } from '../../errors.ts';
import { STOP_SIGNAL, signalExitCode, type AdoptionSpec, type RunOptions, type SandboxResult, type SandboxUsage } from '../backend.ts';
import { RunClock } from '../run-clock.ts';
import { RunLogs, type ResultBase } from '../run-logs.ts';
import { StreamDemux } from '../stream-demux.ts';
import { readContainerUsage } from '../container-usage.ts';
import { artifactCapture } from '../artifact-capture.ts';
import type { OutputsLimits } from '../outputs.ts';
import { unknownOutcomeOfSignalledExit } from '../exit-outcome.ts';
import { engineError, isNotFound } from '../engine-errors.ts';
import { containerGone } from '../run-lost.ts';
import { StdoutFrameSplitter } from './output-frame.ts';
import { outcomeOf, taskFailure, taskOomKilled } from './task-result.ts';
import { watchTask, type TaskInfo } from './task-watch.ts';
import type { SwarmNodes } from './swarm-nodes.ts';
import type { TaskRef } from './task-ref.ts';
import { delay } from '../../delay.ts';

/** Once the task has ended (or was killed), how long its kept log may take to deliver its last entries. */
const LOG_DRAIN_MS = 15_000;

export interface AdoptedTaskSettings {
  logCapBytes: number;
  outputs: OutputsLimits;
}

export interface AdoptedTaskParts {
  manager: Dockerode;
  nodes: SwarmNodes;
  settings: AdoptedTaskSettings;
  /** Called with the task once it has ended: the backend waits for its container's removal with the service's. */
  seen: (task: TaskInfo) => void;
}

/**
 * Follows an adopted run's task to its end. Rejects with not_found (the run is lost) when its service or its task's
 * container is gone, with engine_unavailable when its node is not reachable.
 */
export async function followAdoptedTask(ref: TaskRef, spec: AdoptionSpec, options: RunOptions, parts: AdoptedTaskParts): Promise<SandboxResult> {
  const { engine, container } = await locateTask(ref, spec, parts);
  const deadline = spec.startedAt.getTime() + spec.limits.timeoutSeconds * 1000;
  const clock = new RunClock(options.signal, Math.max(0, deadline - Date.now()) / 1000);
  try {
    if (Date.now() < deadline) clock.start();
    // Found past its deadline: it timed out unless its command had ended by then (its begin line is in the log before it).
    else if (!(await endedBefore(container, spec.runId, ref.nonce, deadline))) clock.stop('timed_out');
    return await follow(container, engine, ref, spec, options, clock, parts);
  } finally {
    clock.dispose();
  }
}

/**
 * The adopted task's container on its node's engine. Rejects with not_found (the run is lost) when its service or the
 * container is gone, with engine_unavailable when its node is not reachable.
 */
export async function locateTask(ref: TaskRef, spec: AdoptionSpec, parts: Pick<AdoptedTaskParts, 'manager' | 'nodes'>): Promise<{ engine: Dockerode; container: Dockerode.Container }> {
  try {
    await parts.manager.getService(ref.service).inspect();
  } catch (error) {
    if (isNotFound(error)) throw containerGone(spec.runId, `its swarm service ${ref.service} is gone (removed, or lost with the swarm)`);
    throw engineError(error, `inspecting the swarm service of run ${spec.runId}`);
  }
  const engine = (await parts.nodes.ready()).get(ref.node)?.engine;
  if (!engine) throw new SandrunError('engine_unavailable', `swarm node ${ref.node}, which runs run ${spec.runId}, is not among the swarm's ready nodes; the run's result is unknown`);
  const container = engine.getContainer(ref.container);
  if (!(await isPresent(container))) throw containerGone(spec.runId, `its task's container ${ref.container.slice(0, 12)} on swarm node ${ref.node} is gone`);
  return { engine, container };
}

async function follow(
  container: Dockerode.Container,
  engine: Dockerode,
  ref: TaskRef,
  spec: AdoptionSpec,
  options: RunOptions,
  clock: RunClock,
  parts: AdoptedTaskParts,
): Promise<SandboxResult> {
  const captured = new RunLogs(parts.settings.logCapBytes, options.onLog, spec.secrets);
  let usage: SandboxUsage | undefined;
  // As the live server does (swarm-backend.ts): at the begin line the run's processes are dead; usage first, then the go-ahead.
  let answering = false;
  const onBegin = () => {
    if (answering) return;
    answering = true;
    void answerBegin(container)
      .then((read) => (usage = read ?? usage))
      .finally(() => (answering = false));
  };
  const splitter = new StdoutFrameSplitter(ref.nonce, captured.out, Math.ceil(parts.settings.outputs.maxBytes * 1.4) + 4096, onBegin);
  let stdoutSeen = false;
  let stderrFirst = false;
  const log = await openLog(container, spec.runId, { follow: true });
  const demux = new StreamDemux(
    (chunk) => ((stdoutSeen = true), splitter.push(chunk)),
    (chunk) => ((stderrFirst ||= !stdoutSeen), captured.err(chunk)),
  );
  log.on('data', (chunk: Buffer) => demux.push(chunk));
  const logEnded = finished(log).catch(() => undefined);
  try {
    const task = await watchTask(parts.manager, parts.nodes, ref.service, clock.signal, () => undefined);
    if (!task) {
      // Stopped (deadline, cancel): killed on its node now, so that what it printed until then is all in the log.
      await container.kill({ signal: STOP_SIGNAL }).catch(() => undefined);
      await Promise.race([logEnded, delay(LOG_DRAIN_MS)]);
      splitter.finish();
      const base = truncated(captured.resultBase(spec.startedAt, new Date(), usage), splitter, stderrFirst);
      return { ...base, outcome: { kind: clock.reason ?? 'cancelled' }, exitCode: signalExitCode(STOP_SIGNAL), outputs: {} };
    }
    parts.seen(task);
    const failure = taskFailure(task);
    if (failure) throw failure;
    const exitCode = task.Status.ContainerStatus!.ExitCode!;
    // The log of a stopped container ends once its last entry is read.
    await Promise.race([logEnded, delay(LOG_DRAIN_MS)]);
    const frame = splitter.finish();
    const oomKilled = await taskOomKilled(engine, ref.container, exitCode);
    const signalled = !frame && !oomKilled ? unknownOutcomeOfSignalledExit(exitCode) : undefined;
    if (signalled) throw signalled;
    const base = truncated(captured.resultBase(spec.startedAt, new Date(task.Status.Timestamp ?? Date.now()), usage), splitter, stderrFirst);
    return { ...base, exitCode, ...(await outcomeOf(exitCode, oomKilled, frame, parts.settings.outputs, artifactCapture(options.artifacts, spec.secrets))) };
  } finally {
    log.destroy();
  }
}

/**
 * The kept log begins with the wrapper's start line unless it rotated past it (a run that wrote more than the log
 * keeps): then the result holds the run's latest output only, and says so (as the Docker backend's adoption does).
 */
function truncated(base: ResultBase, splitter: StdoutFrameSplitter, stderrFirst: boolean): ResultBase {
  if (splitter.sawStart && !stderrFirst) return base;
  return { ...base, stdout: { ...base.stdout, truncated: true }, stderr: { ...base.stderr, truncated: true } };
}

/** Reads the usage of the still-running container, then lets its wrapper go on to the frame (a line on its stdin). */
async function answerBegin(container: Dockerode.Container): Promise<SandboxUsage | undefined> {
  const running = await container.inspect().then(
    (info) => info.State.Running,
    () => false,
  );
  if (!running) return undefined;
  const usage = await readContainerUsage(container);
  try {
    const stdin = (await container.attach({ stream: true, stdin: true, stdout: false, stderr: false, hijack: true })) as Duplex;
    await new Promise<void>((resolve) => stdin.end('\n', () => resolve()));
    stdin.destroy();
  } catch {
    // Gone meanwhile: the wrapper printed its frame unasked (its wait is bounded), or the container stopped.
  }
  return usage;
}

/** Whether the log written before `deadline` holds the begin line: the command had ended by then. */
async function endedBefore(container: Dockerode.Container, runId: string, nonce: string, deadline: number): Promise<boolean> {
  let begun = false;
  const splitter = new StdoutFrameSplitter(nonce, () => undefined, 0, () => (begun = true));
  const log = await openLog(container, runId, { follow: false, until: deadline });
  const demux = new StreamDemux(
    (chunk) => splitter.push(chunk),
    () => undefined,
  );
  log.on('data', (chunk: Buffer) => demux.push(chunk));
  await finished(log).catch(() => undefined);
  return begun;
}

/** The container's kept log (both streams, multiplexed), from its start. */
async function openLog(container: Dockerode.Container, runId: string, options: { follow: boolean; until?: number }): Promise<Readable> {
  try {
    const query = { stdout: true, stderr: true, follow: options.follow, ...(options.until === undefined ? {} : { until: options.until / 1000 }) };
    // dockerode answers a stream when following, the whole log in one Buffer when not.
    const answer = await (container.logs as unknown as (opts: typeof query) => Promise<Readable | Buffer>)(query);
    return Buffer.isBuffer(answer) ? Readable.from([answer]) : answer;
  } catch (error) {
    if (isNotFound(error)) throw containerGone(runId, `its task's container ${container.id.slice(0, 12)} is gone`);
    throw engineError(error, `reading the kept log of container ${container.id.slice(0, 12)}`);
  }
}

/** Whether the node's engine still has the container; any failure other than its absence is the engine's. */
async function isPresent(container: Dockerode.Container): Promise<boolean> {
  try {
    await container.inspect();
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw engineError(error, `inspecting container ${container.id.slice(0, 12)}`);
  }
}
