// Finishes a launcher run whose server is gone, from its container's kept log: output, trailer, outputs frame; stopped at its deadline or on cancel.
//
// The server that started the run read all of this from its attach; once that server is gone, the launcher still
// writes the outputs frame (asked for with the trigger) and then lingers, its stdin ended (launcher-protocol.ts), and
// the engine's `local` log (hardening.ts) holds the whole stream. Following that log from its start is the same
// protocol, read by another reader: nothing of the fast path changes (docs/decisions.md, "Runs outlive their server").
import type Dockerode from 'dockerode';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { SandrunError } from '../../errors.ts';
import { STOP_SIGNAL, signalExitCode, type AdoptionSpec, type RunOptions, type SandboxResult } from '../backend.ts';
import { RunClock } from '../run-clock.ts';
import { RunLogs, type ResultBase } from '../run-logs.ts';
import { StreamDemux } from '../stream-demux.ts';
import { oomKillsOf, readContainerUsage } from '../container-usage.ts';
import { artifactCapture } from '../artifact-capture.ts';
import type { ArtifactCapture, OutputsLimits, OutputsReadResult } from '../outputs.ts';
import { exitedOutcome } from '../exit-outcome.ts';
import { engineError, isNotFound } from '../engine-errors.ts';
import { LauncherStdout, MarkerSplitter, parseReadyLine, stderrEndMarker } from './launcher-protocol.ts';
import { expectFrame, type ExpectedOutputs } from './launcher-outputs.ts';
import { Progress, awaitEnding, type Ending } from './command-runner.ts';
import type { OutputsReader } from './outputs-reader.ts';
import type { LauncherRef } from './adoption-ref.ts';
import { containerGone } from '../run-lost.ts';
import { inspectState, lostEnding } from '../container-state.ts';

/** How long the outputs frame may take once the trailer has been read (the launcher writes it at once). */
const FRAME_TIMEOUT_MS = 30_000;

/** What reading a kept log's outputs frame needs. */
interface KeptFrame {
  limits: OutputsLimits;
  capture: ArtifactCapture | undefined;
  fallback: () => Promise<OutputsReadResult>;
}

export interface AdoptedRunSettings {
  logCapBytes: number;
  outputs: OutputsLimits;
}

export async function followAdoptedRun(
  docker: Dockerode,
  ref: LauncherRef,
  spec: AdoptionSpec,
  options: RunOptions,
  deps: { settings: AdoptedRunSettings; fallback: OutputsReader },
): Promise<SandboxResult> {
  const container = docker.getContainer(ref.container);
  const state = await inspectState(container);
  if (!state) throw containerGone(spec.runId, `its container ${ref.container.slice(0, 12)} is gone (removed, or lost with the engine)`);
  const deadline = spec.startedAt.getTime() + spec.limits.timeoutSeconds * 1000;
  const clock = new RunClock(options.signal, Math.max(0, deadline - Date.now()) / 1000);
  try {
    if (Date.now() < deadline) clock.start();
    // Found past its deadline: it timed out unless its command had ended by then (its trailer is in the log before it).
    else if (!(await endedBefore(container, ref.nonce, deadline))) clock.stop('timed_out');
    return await follow(container, ref, spec, options, clock, deps);
  } finally {
    clock.dispose();
  }
}

async function follow(
  container: Dockerode.Container,
  ref: LauncherRef,
  spec: AdoptionSpec,
  options: RunOptions,
  clock: RunClock,
  deps: { settings: AdoptedRunSettings; fallback: OutputsReader },
): Promise<SandboxResult> {
  const logs = new RunLogs(deps.settings.logCapBytes, options.onLog, spec.secrets);
  const capture = artifactCapture(options.artifacts, spec.secrets);
  const kept = await KeptLog.open(container, ref.nonce, logs, { frame: { limits: deps.settings.outputs, capture, fallback: () => deps.fallback.read(container, capture) } });
  const outputs = kept.outputs!;
  try {
    clock.signal.addEventListener('abort', () => kept.progress.notify(), { once: true });
    const ending: Ending = await awaitEnding({ session: kept, launcherStdout: kept.stdout, launcherStderr: kept.stderr, progress: kept.progress, clock, runId: spec.runId });
    const finishedAt = new Date();
    const live = (await inspectState(container))?.Running === true;
    // The lingering launcher keeps the cgroup; a container that has stopped took its accounting with it.
    const usage = ending.kind !== 'lost' && live ? await readContainerUsage(container) : undefined;
    if (ending.kind === 'timed_out' || ending.kind === 'cancelled') await container.kill({ signal: STOP_SIGNAL }).catch(() => undefined);
    kept.stdout.end();
    kept.stderr.flush();
    const base = kept.truncate(logs.resultBase(spec.startedAt, finishedAt, usage));
    if (ending.kind !== 'exited' || !ending.exit.hasOutputs) outputs.drop();
    if (ending.kind === 'timed_out' || ending.kind === 'cancelled') {
      return { ...base, outcome: { kind: ending.kind }, exitCode: signalExitCode(STOP_SIGNAL), outputs: {} };
    }
    if (ending.kind === 'lost') return { ...base, ...(await lostEnding(container, spec.runId)), outputs: {} };
    const { exitCode, hasOutputs } = ending.exit;
    const oomKilled = exitCode !== 0 && ((oomKillsOf(container.id) ?? 0) > 0 || (await inspectState(container))?.OOMKilled === true);
    const read: OutputsReadResult = hasOutputs ? await outputs.read() : { ok: true, outputs: {}, totalBytes: 0, sawRoot: true };
    return { ...base, outcome: exitedOutcome(exitCode, oomKilled, read), exitCode, outputs: read.outputs, artifacts: read.artifacts };
  } finally {
    kept.close();
  }
}

/** Whether the log written before `deadline` holds the command's trailer (its command had ended by then). */
async function endedBefore(container: Dockerode.Container, nonce: string, deadline: number): Promise<boolean> {
  const kept = await KeptLog.open(container, nonce, new RunLogs(0, undefined), { until: deadline, follow: false });
  try {
    await kept.streamEnded;
    return kept.stdout.result !== undefined;
  } finally {
    kept.close();
  }
}

/**
 * The container's kept log as the launcher's two streams. It begins with the launcher's ready line unless the log has
 * rotated past it (a run that wrote more than the kept bytes): then it starts inside the run's output, which the
 * result says (truncated), and the run's acknowledgement is taken as read (the run is known to have started).
 */
class KeptLog {
  readonly progress = new Progress();
  readonly stdout: LauncherStdout;
  readonly stderr: MarkerSplitter;
  readonly streamEnded: Promise<void>;
  private ended = false;
  private headBytes: Buffer | undefined = Buffer.alloc(0);
  private headLost = false;

  /** The outputs frame after the trailer, when asked for at the open; a log that ends first leaves the exec (the launcher lingers). */
  readonly outputs: ExpectedOutputs | undefined;

  private constructor(
    private readonly stream: Readable,
    private readonly nonce: string,
    logs: RunLogs,
    frame: KeptFrame | undefined,
  ) {
    const wake = () => this.progress.notify();
    this.stdout = new LauncherStdout(nonce, logs.out, wake, wake);
    this.stderr = new MarkerSplitter(stderrEndMarker(nonce), logs.err, wake);
    const demux = new StreamDemux(
      (chunk) => this.onStdout(chunk),
      (chunk) => this.stderr.push(chunk),
    );
    stream.on('data', (chunk: Buffer) => demux.push(chunk));
    this.streamEnded = finished(stream)
      .catch(() => undefined)
      .finally(() => {
        this.ended = true;
        this.progress.notify();
      });
    // Set before the first byte is read: the frame follows the trailer in the log, at once.
    this.outputs =
      frame &&
      expectFrame(
        { stdout: this.stdout, nonce, flow: stream, ended: this.streamEnded, stopWriter: () => undefined, fallback: frame.fallback, timeoutMs: FRAME_TIMEOUT_MS },
        frame.limits,
        frame.capture,
      );
  }

  static async open(container: Dockerode.Container, nonce: string, logs: RunLogs, options: { until?: number; follow?: boolean; frame?: KeptFrame }): Promise<KeptLog> {
    try {
      const query = { stdout: true, stderr: true, follow: options.follow ?? true, ...(options.until === undefined ? {} : { until: options.until / 1000 }) };
      // dockerode answers a stream when following, the whole log in one Buffer when not.
      const answer = await (container.logs as unknown as (opts: typeof query) => Promise<Readable | Buffer>)(query);
      return new KeptLog(Buffer.isBuffer(answer) ? Readable.from([answer]) : answer, nonce, logs, options.frame);
    } catch (error) {
      if (isNotFound(error)) throw new SandrunError('not_found', `container ${container.id.slice(0, 12)} is gone`);
      throw engineError(error, `reading the kept log of container ${container.id.slice(0, 12)}`);
    }
  }

  get hasEnded(): boolean {
    return this.ended;
  }

  /** Skips the ready line at the log's start; a log that begins otherwise has lost its head to rotation. */
  private onStdout(chunk: Buffer): void {
    if (this.headBytes === undefined) return this.stdout.push(chunk);
    const bytes = Buffer.concat([this.headBytes, chunk]);
    const head = parseReadyLine(bytes);
    if (head.kind === 'partial') {
      this.headBytes = bytes;
      return;
    }
    this.headBytes = undefined;
    if (head.kind === 'ready') return this.stdout.push(head.rest);
    this.headLost = true;
    this.stdout.push(Buffer.from(`\x1e${this.nonce}\n`));
    this.stdout.push(bytes);
  }

  /** The result's logs, marked truncated when the kept log had lost its head. */
  truncate(base: ResultBase): ResultBase {
    if (!this.headLost) return base;
    return { ...base, stdout: { ...base.stdout, truncated: true }, stderr: { ...base.stderr, truncated: true } };
  }

  close(): void {
    this.stream.destroy();
  }
}
