// The sandbox on a Docker engine: one fresh, hardened container per run, removed when the run ends.
import type Dockerode from 'dockerode';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { SandrunError, errorMessage } from '../../errors.ts';
import type { ManagedContainer, RunOptions, SandboxBackend, SandboxOutcome, SandboxResult, SandboxSpec } from '../backend.ts';
import { LogCapture } from '../log-capture.ts';
import { readOutputsTar, type OutputsReadResult } from '../outputs.ts';
import { EngineEvents } from './engine-events.ts';
import { engineError, isNotFound } from './engine-errors.ts';
import { createExec, exitByInspection, startExec } from './exec-process.ts';
import { OUTPUTS, RUN_USER, WORKSPACE, containerOptions, outputsTmpfsBytes, runEnv, type HardeningSettings } from './hardening.ts';
import { MANAGED_LABEL, RUN_ID_LABEL } from './labels.ts';

export interface DockerBackendSettings extends HardeningSettings {
  /** Host directory under which each run gets its inputs directory (bind-mounted at /inputs). */
  runsDir: string;
  logCapBytes: number;
  outputsMaxEntries: number;
}

/** How long the output stream may lag behind the exit of the process (background children can hold it open). */
const DRAIN_GRACE_MS = 250;
const OOM_EVENT_GRACE_MS = 300;
const OUTPUTS_READ_TIMEOUT_MS = 15_000;
const COULD_NOT_READ = 'could not read /outputs: ';

type Ending = { kind: 'exited'; exitCode: number } | { kind: 'timed_out' } | { kind: 'cancelled' };

export class DockerBackend implements SandboxBackend {
  private readonly events: EngineEvents;
  private eventsStarted: Promise<void> | undefined;

  constructor(
    private readonly docker: Dockerode,
    private readonly settings: DockerBackendSettings,
  ) {
    this.events = new EngineEvents(docker);
  }

  private ensureEvents(): Promise<void> {
    this.eventsStarted ??= this.events.start().catch((error: unknown) => {
      this.eventsStarted = undefined;
      throw engineError(error, 'subscribing to engine events');
    });
    return this.eventsStarted;
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw new SandrunError('engine_unavailable', `the Docker engine does not answer: ${errorMessage(error)}`, undefined, { cause: error });
    }
  }

  async checkImage(image: string): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
    } catch (error) {
      if (isNotFound(error)) {
        throw new SandrunError('image_unavailable', `image ${image} is not present on the engine (build it with \`npm run images\`)`);
      }
      throw engineError(error, `inspecting image ${image}`);
    }
  }

  async run(spec: SandboxSpec, options: RunOptions = {}): Promise<SandboxResult> {
    await this.ensureEvents();
    const runDir = join(this.settings.runsDir, spec.runId);
    const inputsDir = join(runDir, 'inputs');
    let container: Dockerode.Container | undefined;
    try {
      await mkdir(inputsDir, { recursive: true, mode: 0o755 });
      await writeFile(join(inputsDir, 'parameters.json'), JSON.stringify(spec.parameters ?? {}), { mode: 0o644 });
      const created = await this.docker
        .createContainer(containerOptions(spec, inputsDir, this.settings))
        .catch((error: unknown) => Promise.reject(engineError(error, `creating the container of run ${spec.runId} from ${spec.image}`)));
      container = created;
      await created.start().catch((error: unknown) => Promise.reject(engineError(error, `starting the container of run ${spec.runId}`)));
      return await this.execute(created, spec, options);
    } finally {
      if (container) {
        this.events.forgetContainer(container.id);
        await container.remove({ force: true, v: true }).catch(() => undefined);
      }
      await rm(runDir, { recursive: true, force: true });
    }
  }

  private async execute(container: Dockerode.Container, spec: SandboxSpec, options: RunOptions): Promise<SandboxResult> {
    const stdout = new LogCapture(this.settings.logCapBytes);
    const stderr = new LogCapture(this.settings.logCapBytes);
    const exec = await createExec(container, { cmd: spec.command, env: runEnv(spec), user: RUN_USER, workingDir: WORKSPACE }).catch(
      (error: unknown) => Promise.reject(engineError(error, `starting the command of run ${spec.runId}`)),
    );
    const exitWatch = new AbortController();
    const exit = this.awaitExit(exec, exitWatch.signal);
    const stopped = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => stopped.abort('cancelled');
    let startedAt = new Date();
    try {
      const started = await startExec(
        this.docker,
        exec,
        (chunk) => {
          stdout.append(chunk);
          options.onLog?.('stdout', chunk);
        },
        (chunk) => {
          stderr.append(chunk);
          options.onLog?.('stderr', chunk);
        },
      ).catch((error: unknown) => Promise.reject(engineError(error, `starting the command of run ${spec.runId}`)));
      startedAt = new Date();
      options.onStart?.(startedAt);
      timer = setTimeout(() => stopped.abort('timed_out'), spec.limits.timeoutSeconds * 1000);
      if (options.signal?.aborted) onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const stoppedEarly = new Promise<Ending>((resolve) => {
        const settle = () => resolve({ kind: stopped.signal.reason === 'timed_out' ? 'timed_out' : 'cancelled' });
        if (stopped.signal.aborted) settle();
        else stopped.signal.addEventListener('abort', settle, { once: true });
      });
      exit.streamDrained(started.drained);
      const exited = exit.promise.then((exitCode): Ending => ({ kind: 'exited', exitCode }));
      const ending = await Promise.race([exited, stoppedEarly]);
      const finishedAt = new Date();
      if (ending.kind !== 'exited') {
        await container.kill().catch(() => undefined);
      }
      await Promise.race([started.drained, delay(DRAIN_GRACE_MS)]);
      started.stream.destroy();
      return await this.finish(container, ending, { stdout, stderr, startedAt, finishedAt });
    } finally {
      clearTimeout(timer);
      exitWatch.abort();
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async finish(
    container: Dockerode.Container,
    ending: Ending,
    captured: { stdout: LogCapture; stderr: LogCapture; startedAt: Date; finishedAt: Date },
  ): Promise<SandboxResult> {
    const base = {
      stdout: captured.stdout.result(),
      stderr: captured.stderr.result(),
      startedAt: captured.startedAt,
      finishedAt: captured.finishedAt,
      durationSeconds: (captured.finishedAt.getTime() - captured.startedAt.getTime()) / 1000,
    };
    if (ending.kind !== 'exited') {
      return { ...base, outcome: { kind: ending.kind }, exitCode: null, outputs: {} };
    }
    const { exitCode } = ending;
    const oomKilled = exitCode !== 0 && (await this.events.sawOom(container.id, exitCode === 137 ? OOM_EVENT_GRACE_MS : 0));
    const read = await this.readOutputs(container);
    let outcome: SandboxOutcome = { kind: 'exited' };
    if (oomKilled) outcome = { kind: 'oom_killed' };
    else if (!read.ok && read.code === 'output_too_large') outcome = { kind: 'output_too_large', message: read.message };
    else if (exitCode === 0 && !read.ok) outcome = { kind: read.code, message: read.message };
    return { ...base, outcome, exitCode, outputs: read.outputs };
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
    const inspected = new Promise<number>((resolve) => {
      onDrained = (drained) => void exitByInspection(exec, drained, signal).then(resolve);
    });
    const promise = Promise.race([event.promise, inspected]);
    void promise.then(() => event.cancel());
    return { promise, streamDrained: onDrained };
  }

  /** Reads /outputs with tar inside the still-running container: the archive API cannot see a tmpfs. */
  private async readOutputs(container: Dockerode.Container): Promise<OutputsReadResult> {
    const first = await this.readOutputsOnce(container);
    // A failed exec (not a failed parse) is retried once: under load the engine can refuse an exec transiently.
    if (first.ok || first.code !== 'output_invalid' || !first.message.startsWith(COULD_NOT_READ)) return first;
    return this.readOutputsOnce(container);
  }

  private async readOutputsOnce(container: Dockerode.Container): Promise<OutputsReadResult> {
    const tarBytes = new PassThrough();
    const errors: Buffer[] = [];
    const failed = (detail: string): OutputsReadResult => ({ ok: false, code: 'output_invalid', message: `${COULD_NOT_READ}${detail}`, outputs: {} });
    try {
      const exec = await createExec(container, { cmd: ['tar', '-c', '-f', '-', '-C', OUTPUTS, '.'], user: RUN_USER, workingDir: '/' });
      const exit = this.awaitExit(exec, AbortSignal.timeout(OUTPUTS_READ_TIMEOUT_MS));
      const started = await startExec(this.docker, exec, (chunk) => tarBytes.write(chunk), (chunk) => errors.push(chunk));
      exit.streamDrained(started.drained);
      void started.drained.then(() => tarBytes.end());
      const limits = { maxBytes: this.settings.outputsCapBytes, maxEntries: this.settings.outputsMaxEntries };
      const timer = setTimeout(() => {
        started.stream.destroy();
        tarBytes.destroy(new Error('reading /outputs took too long'));
      }, OUTPUTS_READ_TIMEOUT_MS);
      let read: OutputsReadResult;
      try {
        read = await readOutputsTar(tarBytes, limits);
      } finally {
        clearTimeout(timer);
        started.stream.destroy();
      }
      if (read.ok || read.code !== 'output_too_large') {
        // An archive that ended early or a tar that failed must not pass for "no outputs".
        const exitCode = await Promise.race([exit.promise, delay(OUTPUTS_READ_TIMEOUT_MS).then(() => undefined)]);
        if (exitCode !== 0) return failed(Buffer.concat(errors).toString('utf8').trim() || `tar exited with ${exitCode ?? 'no exit code'}`);
        if (read.ok && !read.sawRoot) return failed('the archive of /outputs was empty');
      }
      return read;
    } catch (error) {
      return failed(Buffer.concat(errors).toString('utf8').trim() || errorMessage(error));
    }
  }

  async listManaged(): Promise<ManagedContainer[]> {
    try {
      const containers = await this.docker.listContainers({ all: true, filters: { label: [`${MANAGED_LABEL}=true`] } });
      return containers.map((c) => ({ containerId: c.Id, runId: c.Labels[RUN_ID_LABEL] ?? '', running: c.State === 'running' }));
    } catch (error) {
      throw engineError(error, 'listing sandrun containers');
    }
  }

  async reap(isLive: (runId: string) => boolean): Promise<number> {
    let removed = 0;
    for (const managed of await this.listManaged()) {
      if (managed.runId && isLive(managed.runId)) continue;
      await this.docker
        .getContainer(managed.containerId)
        .remove({ force: true, v: true })
        .then(() => (removed += 1))
        .catch(() => undefined);
    }
    return removed;
  }

  close(): Promise<void> {
    this.events.close();
    return Promise.resolve();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export { outputsTmpfsBytes };
