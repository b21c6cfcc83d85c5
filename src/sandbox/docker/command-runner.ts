// Runs a run's command inside its (already started, parked) container and collects exit, logs and outputs.
import type Dockerode from 'dockerode';
import { PassThrough } from 'node:stream';
import { SandrunError, errorMessage } from '../../errors.ts';
import type { RunOptions, SandboxOutcome, SandboxResult, SandboxSpec } from '../backend.ts';
import { LogCapture } from '../log-capture.ts';
import { readOutputsTar, type OutputsReadResult } from '../outputs.ts';
import type { EngineEvents } from './engine-events.ts';
import { engineError, isContainerNotRunning, isEngineUnreachable } from './engine-errors.ts';
import { createExec, exitByInspection, startExec } from './exec-process.ts';
import { readContainerUsage } from './container-usage.ts';
import { OUTPUTS, RUN_USER, WORKSPACE, runEnv } from './hardening.ts';
import { outputsLookEmpty } from './outputs-probe.ts';

export interface CommandSettings {
  runtime: 'runc' | 'runsc';
  logCapBytes: number;
  outputsCapBytes: number;
  outputsMaxEntries: number;
}

/** How long the output stream may lag behind the exit of the process (background children can hold it open). */
const DRAIN_GRACE_MS = 250;
const OOM_EVENT_GRACE_MS = 300;
const OUTPUTS_READ_TIMEOUT_MS = 15_000;
const COULD_NOT_READ = 'could not read /outputs: ';

type Ending = { kind: 'exited'; exitCode: number } | { kind: 'timed_out' } | { kind: 'cancelled' };

export class CommandRunner {
  constructor(
    private readonly docker: Dockerode,
    private readonly events: EngineEvents,
    private readonly settings: CommandSettings,
  ) {}

  async run(container: Dockerode.Container, spec: SandboxSpec, options: RunOptions): Promise<SandboxResult> {
    const stdout = new LogCapture(this.settings.logCapBytes);
    const stderr = new LogCapture(this.settings.logCapBytes);
    const exec = await createExec(container, { cmd: spec.command, env: runEnv(spec), user: RUN_USER, workingDir: WORKSPACE }).catch(
      async (error: unknown) => Promise.reject(await this.startFailure(container, error, spec.runId)),
    );
    const exitWatch = new AbortController();
    const exit = this.awaitExit(exec, exitWatch.signal);
    const stopped = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => stopped.abort('cancelled');
    let startedAt = new Date();
    const lossesAtStart = this.events.connectionLosses;
    try {
      const started = await startExec(
        exec,
        (chunk) => {
          stdout.append(chunk);
          options.onLog?.('stdout', chunk);
        },
        (chunk) => {
          stderr.append(chunk);
          options.onLog?.('stderr', chunk);
        },
      ).catch(async (error: unknown) => Promise.reject(await this.startFailure(container, error, spec.runId)));
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
      // Read while the container still lives (a kill removes its cgroup) and before tar adds to its CPU time.
      const usage = await readContainerUsage(container);
      if (ending.kind !== 'exited') {
        await container.kill().catch(() => undefined);
      }
      await Promise.race([started.drained, delay(DRAIN_GRACE_MS)]);
      const broken = started.broken()?.message ?? (this.events.connectionLosses !== lossesAtStart ? 'the engine connection was lost' : undefined);
      started.stream.destroy();
      if (broken && ending.kind === 'exited') {
        // The command's output pipe may have gone with the connection: what it did and printed is not known.
        throw new SandrunError('engine_unavailable', `the connection to the Docker engine broke during the run (${broken}); its outcome is unknown`);
      }
      return { ...(await this.finish(container, ending, { stdout, stderr, startedAt, finishedAt })), usage };
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
    // 137: SIGKILLed, 126: could not be started: what an engine going down does to a command.
    if ((exitCode === 137 || exitCode === 126) && !oomKilled) await this.assertContainerAlive(container);
    const read = await this.readOutputs(container);
    let outcome: SandboxOutcome = { kind: 'exited' };
    if (oomKilled) outcome = { kind: 'oom_killed' };
    else if (!read.ok && read.code === 'output_too_large') outcome = { kind: 'output_too_large', message: read.message };
    else if (exitCode === 0 && !read.ok) outcome = { kind: read.code, message: read.message };
    return { ...base, outcome, exitCode, outputs: read.outputs };
  }

  /**
   * Why the command could not start. A container whose parked init was killed by a signal (exit 137 or 143: an
   * engine stopping, or someone removing it) is a platform failure before the start, which the run service retries
   * once the engine answers; any other exit (an image that cannot park) is reported as it is, and not retried.
   */
  private async startFailure(container: Dockerode.Container, error: unknown, runId: string): Promise<SandrunError> {
    const attempting = `starting the command of run ${runId}`;
    if (!isContainerNotRunning(error)) return engineError(error, attempting);
    const state = await containerState(container);
    if (state === undefined || (!state.Running && (state.ExitCode === 137 || state.ExitCode === 143))) {
      return new SandrunError('engine_unavailable', `${attempting}: its container was stopped before the command started (an engine restart?)`, undefined, { cause: error });
    }
    return engineError(error, attempting);
  }

  /**
   * A command that failed while its container stopped under it (the engine restarted, someone removed it) did not
   * fail by itself: the container's parked init only ends when the engine ends it. Reported as a platform failure.
   */
  private async assertContainerAlive(container: Dockerode.Container): Promise<void> {
    if (!(await containerState(container))?.Running) {
      throw new SandrunError('engine_unavailable', 'the container of this run was stopped by the engine (a restart?) while the command ran; its outcome is unknown');
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

  /** Reads /outputs with tar inside the still-running container: the archive API cannot see a tmpfs. */
  private async readOutputs(container: Dockerode.Container): Promise<OutputsReadResult> {
    if (this.settings.runtime === 'runc' && (await outputsLookEmpty(container))) return { ok: true, outputs: {}, totalBytes: 0, sawRoot: true };
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
      const started = await startExec(exec, (chunk) => tarBytes.write(Buffer.from(chunk)), (chunk) => errors.push(Buffer.from(chunk)));
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
      const broken = started.broken();
      if (broken && isEngineUnreachable(broken)) throw broken;
      if (read.ok || read.code !== 'output_too_large') {
        // An archive that ended early or a tar that failed must not pass for "no outputs".
        const exitCode = await Promise.race([exit.promise, delay(OUTPUTS_READ_TIMEOUT_MS).then(() => undefined)]);
        if (exitCode !== 0) return failed(Buffer.concat(errors).toString('utf8').trim() || `tar exited with ${exitCode ?? 'no exit code'}`);
        if (read.ok && !read.sawRoot) return failed('the archive of /outputs was empty');
      }
      return read;
    } catch (error) {
      // The engine going away is a platform failure, not a fault of the run's outputs.
      if (isEngineUnreachable(error)) throw engineError(error, 'reading /outputs');
      return failed(Buffer.concat(errors).toString('utf8').trim() || errorMessage(error));
    }
  }
}

/** The container's state, or undefined when the engine cannot say (the container is gone, or the engine is). */
function containerState(container: Dockerode.Container): Promise<Dockerode.ContainerInspectInfo['State'] | undefined> {
  return container.inspect().then(
    (info) => info.State,
    () => undefined,
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
