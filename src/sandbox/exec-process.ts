// Starts a command inside a running container with exec and splits its output into stdout and stderr.
import type Dockerode from 'dockerode';
import { SandrunError } from '../errors.ts';
import { isNotFound } from './engine-errors.ts';
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
