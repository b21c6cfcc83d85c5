// Finishes a launcher run with secrets whose server is gone, from the copies its launcher kept in the container's memory: exit file polled, logs and /outputs read by exec.
//
// Such a container has no engine log (hardening.ts); its launcher copied the command's output into tmpfs files and
// writes the trailer's data to another once the command and what it left have ended (kept-in-memory.ts). Its stdin
// ended with its server, so it lingers after the command (launcher-protocol.ts): the files, the cgroup and /outputs
// stay readable until this server removes the container. No live log is passed on meanwhile: the logs come whole, at
// the end (docs/decisions.md, "Runs with secrets outlive their server").
import type Dockerode from 'dockerode';
import { SandrunError } from '../../errors.ts';
import { STOP_SIGNAL, signalExitCode, type AdoptionSpec, type RunOptions, type SandboxResult, type SandboxUsage } from '../backend.ts';
import { RunClock } from '../run-clock.ts';
import { RunLogs, type ResultBase } from '../run-logs.ts';
import { Redactor } from '../redaction.ts';
import { oomKillsOf, readContainerUsage } from '../container-usage.ts';
import { artifactCapture } from '../artifact-capture.ts';
import type { OutputsReadResult } from '../outputs.ts';
import { exitedOutcome } from '../exit-outcome.ts';
import { engineError, isContainerNotRunning, isEngineUnreachable } from '../engine-errors.ts';
import { RUN_USER } from '../container-layout.ts';
import { delay } from '../../delay.ts';
import { createExec, startExec } from './exec-process.ts';
import { KEPT_EXIT, KEPT_STDERR, KEPT_STDOUT, parseKeptExit, type KeptExit } from './kept-in-memory.ts';
import type { OutputsReader } from './outputs-reader.ts';
import type { LauncherRef } from './adoption-ref.ts';
import { inspectState, lostEnding } from './adopted-run.ts';
import { containerGone } from '../run-lost.ts';

/** How often the exit file is looked for: an exec each time, so not too often; the run's end is known this late at most. */
const EXIT_POLL_MS = 500;
/** How long one `cat` of a kept file may take. */
const READ_TIMEOUT_MS = 15_000;
const EXIT_FILE_MAX_BYTES = 64;
/** How long an exec whose output ended may still read as running. */
const EXEC_EXIT_GRACE_MS = 2_000;

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

type MemoryEnding = { kind: 'exited'; exit: KeptExit } | { kind: 'lost' } | { kind: 'timed_out' } | { kind: 'cancelled' };

/**
 * Polls for the exit file until it is there, the container stops without it (lost), or the run must stop. An exit
 * written after the deadline (the run ended while no server watched, too late) is a timeout.
 */
async function awaitKeptExit(container: Dockerode.Container, clock: RunClock, deadline: number): Promise<MemoryEnding> {
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

/** Both kept logs, redacted and capped as a live run's are; a copy at its tmpfs's cap lost its tail, which the result says. */
async function readKeptLogs(container: Dockerode.Container, spec: AdoptionSpec, capBytes: number, usage: SandboxUsage | undefined, finishedAt: Date): Promise<ResultBase> {
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

type KeptRead = { ok: true; bytes: Buffer } | { ok: false; complaint: string };

/**
 * A kept file's first `maxBytes`, by `cat` as the run's user (the copies are its own, mode 0700). Not there yet, or a
 * `cat` the run's last processes killed: not ok. A container that stopped reads as not ok too (its tmpfs is gone).
 */
async function readKeptFile(container: Dockerode.Container, path: string, maxBytes: number): Promise<KeptRead> {
  const chunks: Buffer[] = [];
  const complaints: Buffer[] = [];
  let bytes = 0;
  try {
    const exec = await createExec(container, { cmd: ['cat', path], user: RUN_USER, workingDir: '/' });
    const started = await startExec(
      exec,
      // The file is no larger than its tmpfs: the cap only bounds what is kept of it.
      (chunk) => {
        if (bytes >= maxBytes) return;
        const kept = Buffer.from(chunk.subarray(0, maxBytes - bytes));
        chunks.push(kept);
        bytes += kept.length;
      },
      (chunk) => void complaints.push(Buffer.from(chunk)),
    );
    const timer = setTimeout(() => started.stream.destroy(), READ_TIMEOUT_MS);
    await started.drained.finally(() => clearTimeout(timer));
    const broken = started.broken();
    if (broken && isEngineUnreachable(broken)) throw broken;
    const exit = await execExit(exec);
    if (exit !== 0) return { ok: false, complaint: Buffer.concat(complaints).toString('utf8').trim() || `cat ended with ${exit ?? 'no exit code'}` };
    return { ok: true, bytes: Buffer.concat(chunks) };
  } catch (error) {
    if (isContainerNotRunning(error)) return { ok: false, complaint: 'the container is not running' };
    throw engineError(error, `reading ${path} in container ${container.id.slice(0, 12)}`);
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
