// Reads what the supervisor of a run with secrets kept in its container's memory (kept-in-memory.ts), for a server that adopts the run: the exit file (polled), both logs, /outputs; each by a bounded exec.
//
// The Docker launcher's (docker/adopted-memory-run.ts) and the swarm wrapper's (swarm/adopted-memory-task.ts) copies
// are the same files, read the same way. No live log is passed on while adopted: the logs come whole, at the end
// (docs/decisions.md, "Runs with secrets outlive their server").
import type Dockerode from 'dockerode';
import { PassThrough } from 'node:stream';
import { SandrunError } from '../errors.ts';
import type { AdoptionSpec, SandboxUsage } from './backend.ts';
import type { RunClock } from './run-clock.ts';
import { RunLogs, type ResultBase } from './run-logs.ts';
import { Redactor } from './redaction.ts';
import { engineError, isContainerNotRunning, isEngineUnreachable } from './engine-errors.ts';
import { OUTPUTS, RUN_USER } from './container-layout.ts';
import { readOutputsTar, withTarStatus, type ArtifactCapture, type OutputsLimits, type OutputsReadResult } from './outputs.ts';
import { inspectState } from './container-state.ts';
import { delay } from '../delay.ts';
import { createExec, startExec } from './exec-process.ts';
import { KEPT_EXIT, KEPT_STDERR, KEPT_STDOUT, KEPT_STDOUT_FIFO, parseKeptExit, type KeptExit } from './kept-in-memory.ts';

/** How often the exit file is looked for: an exec each time, so not too often; the run's end is known this late at most. */
const EXIT_POLL_MS = 500;
/** How long one exec reading a kept file (or /outputs) may take. */
const READ_TIMEOUT_MS = 15_000;
const EXIT_FILE_MAX_BYTES = 64;
/** How long an exec whose output ended may still read as running. */
const EXEC_EXIT_GRACE_MS = 2_000;

export type MemoryEnding = { kind: 'exited'; exit: KeptExit } | { kind: 'lost' } | { kind: 'timed_out' } | { kind: 'cancelled' };

/**
 * Polls for the exit file until it is there, the container stops without it (lost), or the run must stop. An exit
 * written after the deadline (the run ended while no server watched, too late) is a timeout.
 */
export async function awaitKeptExit(container: Dockerode.Container, clock: RunClock, deadline: number): Promise<MemoryEnding> {
  for (;;) {
    const read = await readKeptFile(container, KEPT_EXIT, EXIT_FILE_MAX_BYTES);
    const exit = read.ok ? parseKeptExit(read.bytes) : undefined;
    if (exit) {
      const late = exit.endedAtSeconds !== undefined && exit.endedAtSeconds * 1000 > deadline;
      return late ? { kind: 'timed_out' } : { kind: 'exited', exit };
    }
    if (clock.reason) return { kind: clock.reason };
    if ((await inspectState(container))?.Running !== true) return { kind: 'lost' };
    await delay(EXIT_POLL_MS, clock.signal);
  }
}

/**
 * Whether the supervisor of this running container keeps copies: it made the FIFOs before the command started, so
 * their absence means it never will (an image without `mkfifo` or `tee`). False too once the container has stopped.
 */
export async function keepsCopies(container: Dockerode.Container): Promise<boolean> {
  return (await execRead(container, ['sh', '-c', '[ -p "$1" ]', 'sandrun', KEPT_STDOUT_FIFO], () => undefined)).ok;
}

/** Both kept logs, redacted and capped as a live run's are; a copy at its tmpfs's cap lost its tail, which the result says. */
export async function readKeptLogs(container: Dockerode.Container, spec: AdoptionSpec, capBytes: number, usage: SandboxUsage | undefined, finishedAt: Date): Promise<ResultBase> {
  const logs = new RunLogs(capBytes, undefined, spec.secrets);
  const redactor = Redactor.of(spec.secrets);
  const truncated = { stdout: false, stderr: false };
  for (const [stream, path, sink] of [
    ['stdout', KEPT_STDOUT, logs.out],
    ['stderr', KEPT_STDERR, logs.err],
  ] as const) {
    const read = await readKeptFile(container, path, capBytes);
    if (!read.ok) throw new SandrunError('internal', `reading the ${stream} of run ${spec.runId} kept in its container's memory: ${read.complaint}`);
    let bytes = read.bytes;
    if (bytes.length >= capBytes) {
      truncated[stream] = true;
      // Cut where a value's form could begin: the copy may end in the first part of one, which no redaction would find.
      if (redactor) bytes = bytes.subarray(0, redactor.holdFrom(bytes));
    }
    sink(bytes);
  }
  const base = logs.resultBase(spec.startedAt, finishedAt, usage);
  // Its total is unknown: the rest was never kept.
  return {
    ...base,
    stdout: truncated.stdout ? { ...base.stdout, truncated: true } : base.stdout,
    stderr: truncated.stderr ? { ...base.stderr, truncated: true } : base.stderr,
  };
}

/**
 * /outputs of the still-running container, by `tar` run inside it (the archive API cannot see a tmpfs), under the
 * outputs' caps; for a supervisor that prints its frame into no log (the swarm wrapper of a run with secrets).
 */
export async function readOutputsByExec(container: Dockerode.Container, limits: OutputsLimits, capture: ArtifactCapture | undefined): Promise<OutputsReadResult> {
  const tar = new PassThrough();
  const reading = readOutputsTar(tar, limits, capture);
  // The parse settles on its own once the stream ends or the caps are passed; what is written after that is dropped.
  void reading.then(
    () => tar.resume(),
    () => tar.resume(),
  );
  const read = await execRead(
    container,
    ['tar', '-c', '-f', '-', '-C', OUTPUTS, '.'],
    (chunk) => void (tar.writableEnded || tar.destroyed ? undefined : tar.write(Buffer.from(chunk))),
  ).finally(() => tar.end());
  const outputs = await reading;
  return withTarStatus(outputs, { status: read.exitCode, message: read.complaint });
}

type KeptRead = { ok: true; bytes: Buffer } | { ok: false; complaint: string };

/**
 * A kept file's first `maxBytes`, by `cat` as the run's user (the copies are its own). Not there yet, or a `cat` the
 * run's last processes killed: not ok. A container that stopped reads as not ok too (its tmpfs is gone).
 */
export async function readKeptFile(container: Dockerode.Container, path: string, maxBytes: number): Promise<KeptRead> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  // The file is no larger than its tmpfs: the cap only bounds what is kept of it.
  const read = await execRead(container, ['cat', path], (chunk) => {
    if (bytes >= maxBytes) return;
    const kept = Buffer.from(chunk.subarray(0, maxBytes - bytes));
    chunks.push(kept);
    bytes += kept.length;
  });
  return read.ok ? { ok: true, bytes: Buffer.concat(chunks) } : { ok: false, complaint: read.complaint };
}

type ExecRead = { ok: boolean; exitCode: number | undefined; complaint: string };

/**
 * Runs `cmd` in the container as the run's user, its stdout to `stdout`, for READ_TIMEOUT_MS at most; ok when it
 * exited 0. A stopped container is not ok; an unreachable engine throws.
 */
async function execRead(container: Dockerode.Container, cmd: string[], stdout: (chunk: Buffer) => void): Promise<ExecRead> {
  const complaints: Buffer[] = [];
  try {
    const exec = await createExec(container, { cmd, user: RUN_USER, workingDir: '/' });
    const started = await startExec(exec, stdout, (chunk) => void complaints.push(Buffer.from(chunk)));
    const timer = setTimeout(() => started.stream.destroy(), READ_TIMEOUT_MS);
    await started.drained.finally(() => clearTimeout(timer));
    const broken = started.broken();
    if (broken && isEngineUnreachable(broken)) throw broken;
    const exitCode = await execExit(exec);
    const complaint = Buffer.concat(complaints).toString('utf8').trim() || `${cmd[0]} ended with ${exitCode ?? 'no exit code'}`;
    return { ok: exitCode === 0, exitCode, complaint };
  } catch (error) {
    if (isContainerNotRunning(error)) return { ok: false, exitCode: undefined, complaint: 'the container is not running' };
    throw engineError(error, `running ${cmd[0]} in container ${container.id.slice(0, 12)}`);
  }
}

/** The exec's exit code once its output has ended; the engine may mark it ended a moment after its stream closed. */
async function execExit(exec: Dockerode.Exec): Promise<number | undefined> {
  for (const deadline = Date.now() + EXEC_EXIT_GRACE_MS; ; await delay(50)) {
    const info = await exec.inspect();
    if (!info.Running) return info.ExitCode ?? undefined;
    if (Date.now() >= deadline) return undefined;
  }
}
