// Starts a command inside a running container with exec and splits its output into stdout and stderr.
import type Dockerode from 'dockerode';
import { SandrunError } from '../errors.ts';
import { engineError, isContainerNotRunning, isEngineUnreachable, isNotFound } from './engine-errors.ts';
import { delay } from '../delay.ts';
import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { StreamDemux, type ChunkSink } from './stream-demux.ts';

export interface StartedExec {
  execId: string;
  stream: Readable;
  /** Settles when the engine closes the output stream (the process and every holder of its stdio are gone). */
  drained: Promise<void>;
  /** The error that broke the stream before it ended (the connection to the engine was lost), if any. */
  broken: () => Error | undefined;
}

export async function createExec(container: Dockerode.Container, options: { cmd: string[]; env?: string[]; user: string; workingDir: string }): Promise<Dockerode.Exec> {
  return container.exec({
    Cmd: options.cmd,
    Env: options.env,
    User: options.user,
    WorkingDir: options.workingDir,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });
}

/** Starts the exec; `stdout` and `stderr` get views of the stream's chunks, to copy what they keep. */
export async function startExec(exec: Dockerode.Exec, stdout: ChunkSink, stderr: ChunkSink): Promise<StartedExec> {
  const stream = (await exec.start({ hijack: true, stdin: false })) as Readable;
  const demux = new StreamDemux(stdout, stderr);
  stream.on('data', (chunk: Buffer) => demux.push(chunk));
  let broken: Error | undefined;
  const drained = finished(stream).catch((error: unknown) => {
    broken = error instanceof Error ? error : new Error(String(error));
  });
  return { execId: exec.id, stream, drained, broken: () => broken };
}

/** The exit code of an exec once it has finished, or undefined while it still runs. */
export async function execExitCode(exec: Dockerode.Exec): Promise<number | undefined> {
  const info = await exec.inspect();
  return info.Running || info.ExitCode === null ? undefined : info.ExitCode;
}

/**
 * A safety net beside the engine's exec_die event: once the output stream has ended, and then every few
 * seconds, ask the engine directly. An event lost on a reconnecting events stream must not leave a run
 * waiting for its timeout.
 */
export function exitByInspection(exec: Dockerode.Exec, drained: Promise<void>, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const check = async () => {
      if (signal.aborted) return;
      let lost = false;
      const code = await execExitCode(exec).catch((error: unknown) => {
        lost = isNotFound(error); // a restarted engine no longer knows the exec
        return undefined;
      });
      if (lost) reject(new SandrunError('engine_unavailable', 'the engine lost track of the command (it restarted while the run ran); its outcome is unknown'));
      else if (code !== undefined) resolve(code);
      else if (!signal.aborted) timer = setTimeout(() => void check(), 2000);
    };
    signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    void drained.then(check);
  });
}

/** How long one execRead may take. */
const READ_TIMEOUT_MS = 15_000;
/** How long an exec whose output ended may still read as running. */
const EXEC_EXIT_GRACE_MS = 2_000;

export type ExecRead = { ok: boolean; exitCode: number | undefined; complaint: string };

/**
 * Runs a short `cmd` in the container as `user`, its stdout to `stdout`, for READ_TIMEOUT_MS at most; ok when it
 * exited 0. A stopped container is not ok; an unreachable engine throws.
 */
export async function execRead(container: Dockerode.Container, cmd: string[], user: string, stdout: (chunk: Buffer) => void): Promise<ExecRead> {
  const complaints: Buffer[] = [];
  try {
    const exec = await createExec(container, { cmd, user, workingDir: '/' });
    const started = await startExec(exec, stdout, (chunk) => void complaints.push(Buffer.from(chunk)));
    const timer = setTimeout(() => started.stream.destroy(), READ_TIMEOUT_MS);
    await started.drained.finally(() => clearTimeout(timer));
    const broken = started.broken();
    if (broken && isEngineUnreachable(broken)) throw broken;
    const exitCode = await settledExitCode(exec);
    const complaint = Buffer.concat(complaints).toString('utf8').trim() || `${cmd[0]} ended with ${exitCode ?? 'no exit code'}`;
    return { ok: exitCode === 0, exitCode, complaint };
  } catch (error) {
    if (isContainerNotRunning(error)) return { ok: false, exitCode: undefined, complaint: 'the container is not running' };
    throw engineError(error, `running ${cmd[0]} in container ${container.id.slice(0, 12)}`);
  }
}

/** The exec's exit code once its output has ended; the engine may mark it ended a moment after its stream closed. */
async function settledExitCode(exec: Dockerode.Exec): Promise<number | undefined> {
  for (const deadline = Date.now() + EXEC_EXIT_GRACE_MS; ; await delay(50)) {
    const info = await exec.inspect();
    if (!info.Running) return info.ExitCode ?? undefined;
    if (Date.now() >= deadline) return undefined;
  }
}
