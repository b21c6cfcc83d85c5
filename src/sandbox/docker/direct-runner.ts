// Runs a command as its container's own process: the path for images without the shell the launcher needs.
//
// /outputs cannot be the container's own tmpfs here, since a container is gone with its process and a tmpfs with
// it. It is a size-capped tmpfs volume instead, which the engine keeps mounted while any container uses it; a
// helper container (sandrun's base image, idle) mounts it too, from before the run's start until its outputs have
// been read with the helper's `tar`. See docs/decisions.md.
import type Dockerode from 'dockerode';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { SandrunError } from '../../errors.ts';
import { STOP_SIGNAL, type RunOptions, type SandboxResult, type SandboxSpec, type SandboxUsage } from '../backend.ts';
import { RunClock } from '../run-clock.ts';
import { RunLogs } from '../run-logs.ts';
import { readContainerUsage } from '../container-usage.ts';
import { engineError, isNotFound } from '../engine-errors.ts';
import type { EngineEvents } from './engine-events.ts';
import { runEnv, runSecrets, type HardeningSettings } from '../container-layout.ts';
import { containerOptions, outputsHolderOptions, outputsVolumeOptions } from './hardening.ts';
import { exitedOutcome } from '../exit-outcome.ts';
import { artifactCapture } from '../artifact-capture.ts';
import type { OutputsReader } from './outputs-reader.ts';
import { createReplacing } from './create-replacing.ts';
import { writeParameters } from './parked-container.ts';
import type { RunContainers } from './run-containers.ts';
import type { SecretFiles } from './secret-files.ts';
import { StreamDemux } from '../stream-demux.ts';
import { delay } from '../../delay.ts';
import { noEgressProxy, wantsNetwork, type EgressGateway } from './egress-gateway.ts';

export interface DirectRunSettings extends HardeningSettings {
  runsDir: string;
  logCapBytes: number;
  /** The image of the helper that holds and reads /outputs; it needs `sleep` and `tar`. */
  outputsHelperImage: string;
  /** How long the engine may take to report the exit of a run it was told to stop. */
  engineCallTimeoutMs: number;
}

/** The container's CPU time is read while it runs (its cgroup goes with it): this often. */
const USAGE_SAMPLE_MS = 250;
const FIRST_SAMPLE_MS = 50;
/** After the process exited, how long the last of its output may take to arrive. */
const OUTPUT_DRAIN_MS = 2_000;

interface Made {
  volume?: Dockerode.Volume;
  holder?: Dockerode.Container;
  container?: Dockerode.Container;
  secretsDir?: string;
  /** The container's own egress network (named after the run), for a run with grants. */
  network?: { owner: string; name: string };
}

export class DirectRunner {
  constructor(
    private readonly docker: Dockerode,
    private readonly events: EngineEvents,
    private readonly outputs: OutputsReader,
    private readonly settings: DirectRunSettings,
    /** The engine's containers serving runs (the reaper leaves them alone) and their removals. */
    private readonly running: RunContainers,
    /** Where a run's secrets are written (on a host tmpfs) for its container to mount at /run/secrets. */
    private readonly secretFiles: SecretFiles,
    /** Gives a run with grants its own network to the egress proxy; absent: such a run is refused. */
    private readonly egress: EgressGateway | undefined,
  ) {}

  async run(spec: SandboxSpec, options: RunOptions): Promise<SandboxResult> {
    const id = spec.runId;
    const dir = join(this.settings.runsDir, id);
    const volumeName = `sandrun-${id}-outputs`;
    const made: Made = {};
    let result: SandboxResult | undefined;
    try {
      const inputsDir = join(dir, 'inputs');
      await mkdir(inputsDir, { recursive: true, mode: 0o755 });
      await writeParameters(inputsDir, spec.parameters);
      const secrets = runSecrets(spec);
      if (secrets) {
        made.secretsDir = await this.secretFiles.prepare(id);
        await this.secretFiles.write(made.secretsDir, secrets);
      }
      if (wantsNetwork(spec)) {
        if (!this.egress) throw noEgressProxy();
        made.network = { owner: id, name: await this.egress.attach(id) };
      }
      const attempt = <T>(what: string, step: Promise<T>) => step.catch((error: unknown) => Promise.reject(engineError(error, `${what} for run ${id}`)));
      made.volume = await attempt('creating the outputs volume', this.docker.createVolume(outputsVolumeOptions(volumeName, id, this.settings)));
      const direct = { command: spec.command, env: runEnv(spec), outputsVolume: volumeName };
      // The helper must hold the volume before the command starts, not before its container is created. Both
      // settle before a failure is thrown, so that the cleanup knows every container made.
      const [holder, container] = await allOrFirstFailure([
        attempt('creating the outputs helper', this.createHolder(id, volumeName)).then(async (holder) => {
          made.holder = holder;
          this.running.serve(holder.id);
          await attempt('starting the outputs helper', holder.start());
          return holder;
        }),
        attempt('creating its container', createReplacing(this.docker, containerOptions(spec, id, { inputs: inputsDir, secrets: made.secretsDir, network: made.network?.name }, this.settings, direct))).then((container) => {
          made.container = container;
          this.running.serve(container.id);
          return container;
        }),
      ] as const);
      result = await this.runProcess(container, holder, spec, options);
      return result;
    } finally {
      await this.running.removals.afterRun(this.remove(made, dir), result);
    }
  }

  private async remove(made: Made, dir: string): Promise<void> {
    if (made.container) this.events.forgetContainer(made.container.id);
    const containers = [made.container, made.holder].filter((container) => container !== undefined);
    await Promise.all(containers.map((container) => container.remove({ force: true, v: true }).catch(() => undefined)));
    // The volume can go only once neither container mounts it.
    await made.volume?.remove().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    if (made.secretsDir) await this.secretFiles.remove(made.secretsDir);
    // A network left by a failed release is the reaper's (it sweeps networks no container uses).
    if (made.network) await this.egress?.release(made.network.owner).catch(() => undefined);
    for (const container of containers) this.running.release(container.id);
  }

  private async createHolder(id: string, volumeName: string): Promise<Dockerode.Container> {
    const image = this.settings.outputsHelperImage;
    return createReplacing(this.docker, outputsHolderOptions(id, volumeName, image, this.settings)).catch((error: unknown) => {
      if (isNotFound(error)) {
        throw new SandrunError('image_unavailable', `image ${image}, which holds /outputs for images without a shell, is not present (build it with \`npm run images\`)`);
      }
      throw error;
    });
  }

  private async runProcess(container: Dockerode.Container, holder: Dockerode.Container, spec: SandboxSpec, options: RunOptions): Promise<SandboxResult> {
    const logs = new RunLogs(this.settings.logCapBytes, options.onLog, spec.secrets);
    // dockerode types the attach stream as a NodeJS.ReadWriteStream; it is a socket.
    const output = (await container.attach({ stream: true, stdout: true, stderr: true }).catch((error: unknown) => {
      throw engineError(error, `attaching to the container of run ${spec.runId}`);
    })) as unknown as Readable;
    const demux = new StreamDemux(logs.out, logs.err);
    output.on('data', (chunk: Buffer) => demux.push(chunk));
    const drained = finished(output).catch(() => undefined);
    // Registered before the start, so a process that ends at once cannot be missed. The wait answers at the exit
    // (no engine deadline, engine-deadline.ts): once the run is stopped, the engine has that long to report it.
    const unanswered = new AbortController();
    const exited = container.wait({ condition: 'next-exit', abortSignal: unanswered.signal }) as Promise<{ StatusCode: number }>;
    exited.catch(() => undefined);
    // The start request starts the command even if its answer is lost: from here on the run is not retried.
    const startedAt = new Date();
    options.onStart?.(startedAt);
    await container.start().catch((error: unknown) => {
      output.destroy();
      unanswered.abort();
      throw engineError(error, `starting the container of run ${spec.runId}`);
    });

    const clock = new RunClock(options.signal, spec.limits.timeoutSeconds);
    clock.start();
    let waitBound: NodeJS.Timeout | undefined;
    clock.onStop(() => {
      void container.kill({ signal: STOP_SIGNAL }).catch(() => undefined);
      waitBound = setTimeout(() => unanswered.abort(), this.settings.engineCallTimeoutMs);
    });
    const usage = new UsageSampler(container);
    let exitStatus: number;
    try {
      exitStatus = (await exited).StatusCode;
    } catch (error) {
      const why = unanswered.signal.aborted ? `it did not report the exit within ${this.settings.engineCallTimeoutMs / 1000} s of the stop` : engineError(error, 'waiting').message;
      throw new SandrunError('engine_unavailable', `the engine stopped answering while run ${spec.runId} ran (${why}); its outcome is unknown`);
    } finally {
      clearTimeout(waitBound);
      clock.dispose();
      usage.stop();
    }
    const finishedAt = new Date();
    await Promise.race([drained, delay(OUTPUT_DRAIN_MS)]);
    output.destroy();
    const base = logs.resultBase(startedAt, finishedAt, usage.last);
    // The process ran (its container started): its exit status is what the kill made of it.
    if (clock.reason) return { ...base, outcome: { kind: clock.reason }, exitCode: exitStatus, outputs: {} };
    // The engine's oom event tells (State.OOMKilled is set from the same event, only after the exit is seen).
    const oomKilled = await this.events.exitedByOom(container.id, exitStatus);
    const read = await this.outputs.read(holder, artifactCapture(options.artifacts, spec.secrets));
    return { ...base, outcome: exitedOutcome(exitStatus, oomKilled, read), exitCode: exitStatus, outputs: read.outputs, artifacts: read.artifacts };
  }
}

/** The container's latest usage, read every USAGE_SAMPLE_MS while it runs: the last interval before its exit is not counted. */
class UsageSampler {
  last: SandboxUsage | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly container: Dockerode.Container) {
    this.schedule(FIRST_SAMPLE_MS);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(afterMs = USAGE_SAMPLE_MS): void {
    this.timer = setTimeout(() => {
      void readContainerUsage(this.container).then((usage) => {
        if (this.stopped) return;
        // A read that races the exit can see an emptied account (the stats API answers zeros for a stopped container).
        if (usage && usage.cpuSeconds >= (this.last?.cpuSeconds ?? 0)) this.last = usage;
        this.schedule();
      });
    }, afterMs);
  }
}

/** Like Promise.all, but waits for every promise to settle before rejecting with the first failure. */
async function allOrFirstFailure<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

