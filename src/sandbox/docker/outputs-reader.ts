// Reads a container's /outputs with `tar` run inside it (an exec): the archive API cannot see a tmpfs. The direct
// path's helper is read so; the launcher path only when its own stream to the engine broke (launcher-outputs.ts).
import type Dockerode from 'dockerode';
import { PassThrough } from 'node:stream';
import { SandrunError, errorMessage } from '../../errors.ts';
import { readOutputsTar, withTarStatus, type ArtifactCapture, type OutputsReadResult } from '../outputs.ts';
import type { EngineEvents } from './engine-events.ts';
import { engineError, isContainerNotRunning, isEngineUnreachable } from '../engine-errors.ts';
import { createExec, exitByInspection, startExec } from '../exec-process.ts';
import { OUTPUTS, RUN_USER } from '../container-layout.ts';
import { delay } from '../../delay.ts';

const OUTPUTS_READ_TIMEOUT_MS = 15_000;
const COULD_NOT_READ = 'could not read /outputs: ';

export class OutputsReader {
  constructor(
    private readonly events: EngineEvents,
    private readonly limits: { outputsCapBytes: number; outputsMaxEntries: number },
  ) {}

  /** Reads /outputs with tar inside the still-running container: the archive API cannot see a tmpfs. */
  async read(container: Dockerode.Container, capture?: ArtifactCapture): Promise<OutputsReadResult> {
    const first = await this.readOnce(container, capture);
    // A failed exec (not a failed parse) is retried once: under load the engine can refuse an exec transiently.
    if (first.ok || first.code !== 'output_invalid' || !first.message.startsWith(COULD_NOT_READ)) return first;
    return this.readOnce(container, capture);
  }

  private async readOnce(container: Dockerode.Container, capture: ArtifactCapture | undefined): Promise<OutputsReadResult> {
    const tarBytes = new PassThrough();
    const errors: Buffer[] = [];
    const failed = (detail: string): OutputsReadResult => ({ ok: false, code: 'output_invalid', message: `${COULD_NOT_READ}${detail}`, outputs: {} });
    try {
      const exec = await createExec(container, { cmd: ['tar', '-c', '-f', '-', '-C', OUTPUTS, '.'], user: RUN_USER, workingDir: '/' });
      const exit = this.awaitExit(exec, AbortSignal.timeout(OUTPUTS_READ_TIMEOUT_MS));
      const started = await startExec(exec, (chunk) => tarBytes.write(Buffer.from(chunk)), (chunk) => errors.push(Buffer.from(chunk)));
      exit.streamDrained(started.drained);
      void started.drained.then(() => tarBytes.end());
      const limits = { maxBytes: this.limits.outputsCapBytes, maxEntries: this.limits.outputsMaxEntries };
      const timer = setTimeout(() => {
        started.stream.destroy();
        tarBytes.destroy(new Error('reading /outputs took too long'));
      }, OUTPUTS_READ_TIMEOUT_MS);
      let read: OutputsReadResult;
      try {
        read = await readOutputsTar(tarBytes, limits, capture);
      } finally {
        clearTimeout(timer);
        started.stream.destroy();
      }
      const broken = started.broken();
      if (broken && isEngineUnreachable(broken)) throw broken;
      if (!read.ok && read.code === 'output_too_large') return read;
      const status = await Promise.race([exit.promise, delay(OUTPUTS_READ_TIMEOUT_MS).then(() => undefined)]);
      return withTarStatus(read, { status, message: Buffer.concat(errors).toString('utf8') });
    } catch (error) {
      // A file the server could not keep (its disk) is the platform's failure, not the run's outputs'.
      if (error instanceof SandrunError) throw error;
      // The engine going away is a platform failure, not a fault of the run's outputs.
      if (isEngineUnreachable(error)) throw engineError(error, 'reading /outputs');
      // Only the platform stops a container between the command's exit and this read (the launcher outlives the run).
      if (isContainerNotRunning(error)) {
        throw new SandrunError('engine_unavailable', `the container of this run stopped before its outputs could be read; they are lost (${errorMessage(error)})`, undefined, { cause: error });
      }
      return failed(Buffer.concat(errors).toString('utf8').trim() || errorMessage(error));
    }
  }

  /**
   * The exit code of an exec: from the engine's exec_die event, or (a safety net for an event lost while the
   * events stream reconnects) from inspecting the exec once its output stream has ended, then every 2 s.
   * Register before starting the exec so the event cannot be missed.
   */
  private awaitExit(exec: Dockerode.Exec, signal: AbortSignal): { promise: Promise<number>; streamDrained: (drained: Promise<void>) => void } {
    const event = this.events.execExit(exec.id);
    signal.addEventListener('abort', () => event.cancel(), { once: true });
    let onDrained!: (drained: Promise<void>) => void;
    const inspected = new Promise<number>((resolve, reject) => {
      onDrained = (drained) => void exitByInspection(exec, drained, signal).then(resolve, reject);
    });
    const promise = Promise.race([event.promise, inspected]);
    void promise.then(event.cancel, event.cancel);
    return { promise, streamDrained: onDrained };
  }
}

