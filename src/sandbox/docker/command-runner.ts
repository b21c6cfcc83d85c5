// Runs a run's command in its (already started, parked) container through the launcher, and collects exit, logs and outputs.
import type Dockerode from 'dockerode';
import { SandrunError } from '../../errors.ts';
import { STOP_SIGNAL, signalExitCode, type RunOptions, type SandboxResult, type SandboxSpec } from '../backend.ts';
import { RunClock } from '../run-clock.ts';
import { RunLogs, type ResultBase } from '../run-logs.ts';
import type { OutputsReadResult } from '../outputs.ts';
import { artifactCapture } from '../artifact-capture.ts';
import type { EngineEvents } from './engine-events.ts';
import { oomKillsOf, readContainerUsage } from '../container-usage.ts';
import { runEnv } from '../container-layout.ts';
import { LauncherStdout, MarkerSplitter, newNonce, stderrEndMarker, triggerPayload, type LauncherExit } from './launcher-protocol.ts';
import { exitedOutcome, stoppedBeforeFinishing, unknownOutcomeOfSignalledExit } from '../exit-outcome.ts';
import type { ExpectedOutputs, LauncherOutputs } from './launcher-outputs.ts';
import { LauncherUnavailable, isNoShell } from './image-fit.ts';
import type { ParkedContainer } from './parked-container.ts';
import { delay } from '../../delay.ts';
import { launcherRef, type KeptBy } from './adoption-ref.ts';

export interface CommandSettings {
  logCapBytes: number;
}

/** How long the launcher may take to acknowledge a trigger before the engine is deemed stuck. */
const ACK_TIMEOUT_MS = 30_000;
/** After stdout's trailer, how long stderr's end marker (written just before it) may lag behind. */
const STDERR_GRACE_MS = 1_000;
/** How long a container whose output stream ended may take to be seen as stopped. */
const STOP_GRACE_MS = 2_000;

/** How a run's command ended; `lost`: the output ended without the launcher's trailer (the container stopped first). */
export type Ending = { kind: 'exited'; exit: LauncherExit } | { kind: 'lost' } | { kind: 'timed_out' } | { kind: 'cancelled' };

export class CommandRunner {
  constructor(
    private readonly events: EngineEvents,
    private readonly outputs: LauncherOutputs,
    private readonly settings: CommandSettings,
  ) {}

  async run(parked: ParkedContainer, spec: SandboxSpec, options: RunOptions): Promise<SandboxResult> {
    const { container, session } = parked;
    const logs = new RunLogs(this.settings.logCapBytes, options.onLog, spec.secrets);
    const nonce = newNonce();
    const progress = new Progress();
    // The waiting loop is woken when a marker arrives, not for every chunk of a flood.
    const wake = () => progress.notify();
    const launcherStdout = new LauncherStdout(nonce, logs.out, wake, wake);
    const launcherStderr = new MarkerSplitter(stderrEndMarker(nonce), logs.err, wake);
    session.route(
      (chunk) => launcherStdout.push(chunk),
      (chunk) => launcherStderr.push(chunk),
    );
    const clock = new RunClock(options.signal, spec.limits.timeoutSeconds);
    void session.ended.then(() => progress.notify());
    clock.signal.addEventListener('abort', () => progress.notify(), { once: true });
    let usageRead!: () => void;
    const outputs = this.outputs.expect(parked, launcherStdout, nonce, artifactCapture(options.artifacts, spec.secrets), new Promise<void>((resolve) => (usageRead = resolve)));
    try {
      await this.trigger(parked, spec, nonce, { launcherStdout, logs, progress, stopped: clock.signal });
      const startedAt = new Date();
      if (!clock.signal.aborted) options.onStart?.(startedAt, launcherRef(container.id, nonce, keptBy(parked)));
      clock.start();
      const ending = await awaitEnding({ session, launcherStdout, launcherStderr, progress, clock, runId: spec.runId });
      const finishedAt = new Date();
      // Read while the container still lives (a kill removes its cgroup), as the frame of /outputs begins.
      const usage = ending.kind === 'lost' ? undefined : await readContainerUsage(container).finally(usageRead);
      if (ending.kind === 'timed_out' || ending.kind === 'cancelled') await container.kill({ signal: STOP_SIGNAL }).catch(() => undefined);
      launcherStdout.end();
      launcherStderr.flush();
      return await this.finish(parked, ending, { base: logs.resultBase(startedAt, finishedAt, usage), started: launcherStdout.acknowledged, outputs });
    } finally {
      usageRead();
      clock.dispose();
    }
  }

  /** Writes the run's trigger and waits for the launcher's acknowledgement (unless the run is stopped first). */
  private async trigger(
    parked: ParkedContainer,
    spec: SandboxSpec,
    nonce: string,
    watch: { launcherStdout: LauncherStdout; logs: RunLogs; progress: Progress; stopped: AbortSignal },
  ): Promise<void> {
    const { launcherStdout, progress, stopped } = watch;
    const failure = () => this.startFailure(parked.container, launcherStdout, watch.logs, spec.runId);
    const deadline = Date.now() + ACK_TIMEOUT_MS;
    if (stopped.aborted) return;
    if (!parked.session.write(triggerPayload(nonce, spec.command, runEnv(spec)))) throw await failure();
    while (!launcherStdout.acknowledged && !stopped.aborted) {
      if (launcherStdout.protocolError) throw new SandrunError('internal', `starting the command of run ${spec.runId}: ${launcherStdout.protocolError}`);
      if (parked.session.hasEnded || Date.now() >= deadline) throw await failure();
      await progress.next(deadline - Date.now());
    }
  }

  private async finish(
    parked: ParkedContainer,
    ending: Ending,
    captured: { base: ResultBase; started: boolean; outputs: ExpectedOutputs },
  ): Promise<SandboxResult> {
    const { container, session } = parked;
    const { base, outputs } = captured;
    if (ending.kind !== 'exited' || !ending.exit.hasOutputs) outputs.drop();
    if (ending.kind === 'timed_out' || ending.kind === 'cancelled') {
      // A command that started dies of the kill, with the rest of its container; one stopped before it started never ran.
      return { ...base, outcome: { kind: ending.kind }, exitCode: captured.started ? signalExitCode(STOP_SIGNAL) : null, outputs: {} };
    }
    if (ending.kind === 'lost') {
      if (await this.events.sawOom(container.id)) return { ...base, outcome: { kind: 'oom_killed' }, exitCode: 137, outputs: {} };
      const exitCode = await this.stoppedContainerExit(container, session);
      return { ...base, outcome: { kind: 'exited' }, exitCode, outputs: {} };
    }
    const { exitCode, hasOutputs } = ending.exit;
    // The kernel's count first (local engines: at once, and right even if the engine's event stream was cut meanwhile).
    const oomKilled = exitCode !== 0 && ((oomKillsOf(container.id) ?? 0) > 0 || (await this.events.exitedByOom(container.id, exitCode)));
    const read: OutputsReadResult = hasOutputs ? await outputs.read() : { ok: true, outputs: {}, totalBytes: 0, sawRoot: true };
    return { ...base, outcome: exitedOutcome(exitCode, oomKilled, read), exitCode, outputs: read.outputs, artifacts: read.artifacts };
  }

  /**
   * The exit code of a container that stopped before its command finished, when that is the run's doing (gVisor
   * ends a sandbox whose pids limit is hit, say). Stopped by a signal (an engine stopping or restarting sends
   * SIGTERM, then SIGKILL), gone, or out of reach: a platform failure, and what the command did is unknown.
   */
  private async stoppedContainerExit(container: Dockerode.Container, session: ParkedContainer['session']): Promise<number> {
    if (session.broken) throw stoppedBeforeFinishing(`the connection to the Docker engine broke: ${session.broken.message}`);
    let state = await containerState(container);
    for (const deadline = Date.now() + STOP_GRACE_MS; state?.Running && Date.now() < deadline; state = await containerState(container)) await delay(100);
    if (!state) throw stoppedBeforeFinishing('the engine no longer knows it');
    if (state.Running) throw stoppedBeforeFinishing('its output ended while it still ran');
    const signalled = unknownOutcomeOfSignalledExit(state.ExitCode);
    if (signalled) throw signalled;
    return state.ExitCode;
  }

  /**
   * Why the command could not start. A container whose launcher was ended by a signal while it waited (exit 137 or
   * 143: an engine stopping, or someone removing it) is a platform failure before the start, which the run service
   * retries once the engine answers; any other end (an image without a shell) is reported as it is, not retried.
   */
  private async startFailure(container: Dockerode.Container, launcher: LauncherStdout, logs: RunLogs, runId: string): Promise<SandrunError> {
    const attempting = `starting the command of run ${runId}`;
    const state = await containerState(container);
    if (state?.Running) {
      return new SandrunError('engine_unavailable', `${attempting}: the container did not acknowledge the run within ${ACK_TIMEOUT_MS / 1000} s`);
    }
    if (state === undefined || state.ExitCode === 137 || state.ExitCode === 143) {
      return new SandrunError('engine_unavailable', `${attempting}: its container was stopped before the command started (an engine restart?)`);
    }
    const said = logs.stderrText().trim() || launcher.protocolError || 'no message';
    const message = `${attempting}: the container's launcher ended with exit ${state.ExitCode} before the run started: ${said}`;
    if (isNoShell(state.ExitCode, said)) return new LauncherUnavailable(message);
    return new SandrunError('internal', message);
  }
}

/** What a container keeps of its run for a server that adopts it: a run with secrets is kept in no engine log (hardening.ts). */
function keptBy(parked: ParkedContainer): KeptBy {
  if (parked.secretsDir === undefined) return 'log';
  return parked.session.keepsInMemory ? 'memory' : false;
}

/** Waits for the trailer (and stderr's end marker), the stream's end without one, or a stop (timeout, cancel). */
export async function awaitEnding(watch: {
  session: { readonly hasEnded: boolean };
  launcherStdout: LauncherStdout;
  launcherStderr: MarkerSplitter;
  progress: Progress;
  clock: RunClock;
  runId: string;
}): Promise<Ending> {
  const { session, launcherStdout, launcherStderr, progress, clock } = watch;
  let trailerAt: number | undefined;
  for (;;) {
    const exit = launcherStdout.result;
    if (exit) trailerAt ??= Date.now();
    if (clock.reason) return { kind: clock.reason };
    if (exit && (launcherStderr.rest !== undefined || Date.now() - trailerAt! >= STDERR_GRACE_MS || session.hasEnded)) return { kind: 'exited', exit };
    if (launcherStdout.protocolError) throw new SandrunError('internal', `run ${watch.runId}: ${launcherStdout.protocolError}`);
    if (session.hasEnded) return { kind: 'lost' };
    await progress.next(exit ? STDERR_GRACE_MS : undefined);
  }
}

/** Resolves on the next notify(), or after timeoutMs; lets one loop wait on several sources of progress. */
export class Progress {
  private wake: (() => void) | undefined;

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  next(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(resolve, Math.max(0, timeoutMs));
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** The container's state, or undefined when the engine cannot say (the container is gone, or the engine is). */
export function containerState(container: Dockerode.Container): Promise<Dockerode.ContainerInspectInfo['State'] | undefined> {
  return container.inspect().then(
    (info) => info.State,
    () => undefined,
  );
}

