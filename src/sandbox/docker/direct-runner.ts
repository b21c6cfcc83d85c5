// Runs a command as its container's own process: the path for images without the shell the launcher needs.
//
// /outputs cannot be the container's own tmpfs here, since a container is gone with its process and a tmpfs with
// it. It is a size-capped tmpfs volume instead, which the engine keeps mounted while any container uses it; a
// helper container (sandrun's base image, idle) mounts it too, from before the run's start until its outputs have
// been read with the helper's `tar`. See docs/decisions.md.
import type Dockerode from 'dockerode';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { SandrunError } from '../../errors.ts';
import type { RunOptions, SandboxResult, SandboxSpec } from '../backend.ts';
import { RunClock } from '../run-clock.ts';
import { RunLogs } from '../run-logs.ts';
import { engineError, isNotFound } from '../engine-errors.ts';
import type { EngineEvents } from './engine-events.ts';
import { runEnv, runSecrets, type HardeningSettings } from '../container-layout.ts';
import { containerOptions, outputsHolderOptions, outputsVolumeOptions } from './hardening.ts';
import { DirectExit, UsageSampler, directEnding, removeRunParts } from './direct-run-parts.ts';
import { directRef } from './adoption-ref.ts';
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
      const ref = directRef({ container: container.id, holder: holder.id, volume: volumeName, kept: secrets === undefined });
      result = await this.runProcess(container, holder, spec, options, ref);
      return result;
    } finally {
      await this.running.removals.afterRun(this.remove(made, dir), result);
    }
  }

  private async remove(made: Made, dir: string): Promise<void> {
    if (made.container) this.events.forgetContainer(made.container.id);
    const containers = [made.container, made.holder].filter((container) => container !== undefined);
    await removeRunParts(containers, made.volume, dir);
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

  private async runProcess(container: Dockerode.Container, holder: Dockerode.Container, spec: SandboxSpec, options: RunOptions, ref: string): Promise<SandboxResult> {
    const logs = new RunLogs(this.settings.logCapBytes, options.onLog, spec.secrets);
    // dockerode types the attach stream as a NodeJS.ReadWriteStream; it is a socket.
    const output = (await container.attach({ stream: true, stdout: true, stderr: true }).catch((error: unknown) => {
      throw engineError(error, `attaching to the container of run ${spec.runId}`);
    })) as unknown as Readable;
    const demux = new StreamDemux(logs.out, logs.err);
    output.on('data', (chunk: Buffer) => demux.push(chunk));
    const drained = finished(output).catch(() => undefined);
    // Registered before the start, so a process that ends at once cannot be missed.
    const exit = new DirectExit(container, 'next-exit', this.settings.engineCallTimeoutMs);
    // The start request starts the command even if its answer is lost: from here on the run is not retried. The note
    // goes with it: a server that finds this run after this one is gone adopts it by the note (adopted-direct-run.ts).
    const startedAt = new Date();
    options.onStart?.(startedAt, ref);
    await container.start().catch((error: unknown) => {
      output.destroy();
      exit.abandon();
      throw engineError(error, `starting the container of run ${spec.runId}`);
    });

    const clock = new RunClock(options.signal, spec.limits.timeoutSeconds);
    clock.start();
    exit.stopOn(clock);
    const usage = new UsageSampler(container);
    let exitStatus: number;
    try {
      exitStatus = await exit.status(spec.runId);
    } finally {
      clock.dispose();
      usage.stop();
    }
    const finishedAt = new Date();
    await Promise.race([drained, delay(OUTPUT_DRAIN_MS)]);
    output.destroy();
    return directEnding(
      logs.resultBase(startedAt, finishedAt, usage.last),
      exitStatus,
      clock.reason,
      // The engine's oom event tells (State.OOMKilled is set from the same event, only after the exit is seen).
      () => this.events.exitedByOom(container.id, exitStatus),
      () => this.outputs.read(holder, artifactCapture(options.artifacts, spec.secrets)),
    );
  }
}

/** Like Promise.all, but waits for every promise to settle before rejecting with the first failure. */
async function allOrFirstFailure<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

