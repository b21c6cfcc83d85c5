// Finishes a run with secrets whose server is gone from the copies its supervisor kept in its container's memory (kept-in-memory.ts): logs passed on as the copies grow, the exit file polled, /outputs read. Shared by the Docker launcher's and the swarm wrapper's followers.
//
// The copies are read by exec (kept-copies.ts): each poll reads what each copy gained since the last, through one
// RunLogs with the run's secrets, so the adopting server's live log goes on as a watched run's does. A copy at its
// tmpfs's cap (or one lost with its container) was cut, not ended: what its redaction held back is dropped
// (docs/decisions.md, "Runs with secrets outlive their server").
import type Dockerode from 'dockerode';
import { SandrunError } from '../errors.ts';
import { STOP_SIGNAL, signalExitCode, type AdoptionSpec, type LogListener, type RunOptions, type SandboxResult, type SandboxUsage } from './backend.ts';
import { RunClock } from './run-clock.ts';
import { RunLogs, type ResultBase } from './run-logs.ts';
import { readContainerUsage } from './container-usage.ts';
import { artifactCapture } from './artifact-capture.ts';
import type { ArtifactCapture, OutputsReadResult } from './outputs.ts';
import { exitedOutcome } from './exit-outcome.ts';
import { inspectState, lostEnding } from './container-state.ts';
import { delay } from '../delay.ts';
import { readKeptFile } from './kept-copies.ts';
import { KEPT_EXIT, KEPT_STDERR, KEPT_STDOUT, parseKeptExit, type KeptExit } from './kept-in-memory.ts';

/** How often the copies are read and the exit file looked for: three execs each time, so not too often; the run's end is known this late at most. */
const POLL_MS = 500;
const EXIT_FILE_MAX_BYTES = 64;

/** What the followers differ in: how an OOM kill shows on their engine, and how /outputs is read. */
export interface CopiesFinishParts {
  logCapBytes: number;
  /** Whether the command that exited with `exitCode` (not 0) was killed for lack of memory. */
  oomKilled(exitCode: number): Promise<boolean>;
  readOutputs(capture: ArtifactCapture | undefined): Promise<OutputsReadResult>;
}

type MemoryEnding = { kind: 'exited'; exit: KeptExit } | { kind: 'lost' } | { kind: 'timed_out' } | { kind: 'cancelled' };

/** Follows the run to its end (its deadline counted from its real start), its logs passed to `options.onLog` as they come. */
export async function finishFromCopies(container: Dockerode.Container, spec: AdoptionSpec, options: RunOptions, parts: CopiesFinishParts): Promise<SandboxResult> {
  const deadline = spec.startedAt.getTime() + spec.limits.timeoutSeconds * 1000;
  const clock = new RunClock(options.signal, Math.max(0, deadline - Date.now()) / 1000);
  const logs = new KeptLogs(container, spec, parts.logCapBytes, options.onLog);
  try {
    clock.start();
    const ending = await awaitKeptExit(container, clock, deadline, logs);
    // The copies went with the container's tmpfs: what was read of them is all there is.
    if (ending.kind === 'lost') return { ...logs.cutShort(new Date()), ...(await lostEnding(container, spec.runId)), outputs: {} };
    // Read before any kill: the copies are on the container's tmpfs, which goes with its last process.
    const usage = await readContainerUsage(container);
    const base = await logs.finish(ending.kind === 'exited' ? endTime(ending.exit, spec.startedAt) : new Date(), usage);
    if (ending.kind === 'timed_out' || ending.kind === 'cancelled') {
      await container.kill({ signal: STOP_SIGNAL }).catch(() => undefined);
      return { ...base, outcome: { kind: ending.kind }, exitCode: signalExitCode(STOP_SIGNAL), outputs: {} };
    }
    const { exitCode, hasOutputs } = ending.exit;
    const oomKilled = exitCode !== 0 && (await parts.oomKilled(exitCode));
    const read: OutputsReadResult = hasOutputs ? await parts.readOutputs(artifactCapture(options.artifacts, spec.secrets)) : { ok: true, outputs: {}, totalBytes: 0, sawRoot: true };
    return { ...base, outcome: exitedOutcome(exitCode, oomKilled, read), exitCode, outputs: read.outputs, artifacts: read.artifacts };
  } finally {
    clock.dispose();
  }
}

/**
 * Reads the copies' news and polls for the exit file until it is there, the container stops without it (lost), or
 * the run must stop. An exit written after the deadline (the run ended while no server watched, too late) is a timeout.
 */
async function awaitKeptExit(container: Dockerode.Container, clock: RunClock, deadline: number, logs: KeptLogs): Promise<MemoryEnding> {
  for (;;) {
    await logs.follow();
    const read = await readKeptFile(container, KEPT_EXIT, EXIT_FILE_MAX_BYTES);
    const exit = read.ok ? parseKeptExit(read.bytes) : undefined;
    if (exit) {
      const late = exit.endedAtSeconds !== undefined && exit.endedAtSeconds * 1000 > deadline;
      return late ? { kind: 'timed_out' } : { kind: 'exited', exit };
    }
    if (clock.reason) return { kind: clock.reason };
    if ((await inspectState(container))?.Running !== true) return { kind: 'lost' };
    await delay(POLL_MS, clock.signal);
  }
}

/**
 * When the run ended: its exit file's time (whole seconds by the host's clock, so half a second is added) where it
 * has one, never before the run's start or after now; else now.
 */
function endTime(exit: KeptExit, startedAt: Date): Date {
  if (exit.endedAtSeconds === undefined) return new Date();
  return new Date(Math.min(Date.now(), Math.max(startedAt.getTime(), exit.endedAtSeconds * 1000 + 500)));
}

const STREAMS = ['stdout', 'stderr'] as const;
const KEPT_PATHS = { stdout: KEPT_STDOUT, stderr: KEPT_STDERR };

/** Both copies, read on from where the last read stopped, into one RunLogs (redacted, capped, passed on live). */
class KeptLogs {
  private readonly logs: RunLogs;
  private readonly read = { stdout: 0, stderr: 0 };

  constructor(
    private readonly container: Dockerode.Container,
    private readonly spec: AdoptionSpec,
    private readonly capBytes: number,
    onLog: LogListener | undefined,
  ) {
    this.logs = new RunLogs(capBytes, onLog, spec.secrets);
  }

  /** What each copy gained since the last read; a copy not there yet (or a stopped container) waits for the next. */
  async follow(): Promise<void> {
    for (const stream of STREAMS) await this.readOn(stream);
  }

  /** The logs once the copies are whole: a copy read to the cap lost its tail, which the result says (its total is unknown). */
  async finish(finishedAt: Date, usage: SandboxUsage | undefined): Promise<ResultBase> {
    const truncated = { stdout: false, stderr: false };
    for (const stream of STREAMS) {
      const read = await this.readOn(stream);
      if (!read.ok) throw new SandrunError('internal', `reading the ${stream} of run ${this.spec.runId} kept in its container's memory: ${read.complaint}`);
      truncated[stream] = this.read[stream] >= this.capBytes;
      if (truncated[stream]) this.logs.cut(stream);
    }
    const base = this.logs.resultBase(this.spec.startedAt, finishedAt, usage);
    return {
      ...base,
      stdout: truncated.stdout ? { ...base.stdout, truncated: true } : base.stdout,
      stderr: truncated.stderr ? { ...base.stderr, truncated: true } : base.stderr,
    };
  }

  /** The logs as read so far, of copies that went with their container. */
  cutShort(finishedAt: Date): ResultBase {
    for (const stream of STREAMS) this.logs.cut(stream);
    return this.logs.resultBase(this.spec.startedAt, finishedAt);
  }

  private async readOn(stream: 'stdout' | 'stderr'): Promise<{ ok: true } | { ok: false; complaint: string }> {
    const from = this.read[stream];
    if (from >= this.capBytes) return { ok: true };
    const read = await readKeptFile(this.container, KEPT_PATHS[stream], this.capBytes - from, from);
    if (!read.ok) return read;
    this.read[stream] += read.bytes.length;
    if (read.bytes.length > 0) (stream === 'stdout' ? this.logs.out : this.logs.err)(read.bytes);
    return { ok: true };
  }
}
