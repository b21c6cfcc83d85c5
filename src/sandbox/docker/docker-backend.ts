// The sandbox on a Docker engine: one fresh, hardened container per run (started ahead when it can), removed when the run ends.
import type Dockerode from 'dockerode';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SandrunError, errorMessage } from '../../errors.ts';
import type { AdoptionSpec, ManagedContainer, ReapOptions, RunOptions, SandboxBackend, SandboxResult, SandboxSpec } from '../backend.ts';
import { CommandRunner } from './command-runner.ts';
import { DirectRunner } from './direct-runner.ts';
import { EngineEvents } from './engine-events.ts';
import { ImageFit, LauncherUnavailable, assertLauncherFit } from './image-fit.ts';
import { engineError, isNotFound } from '../engine-errors.ts';
import { withEngineDeadline } from '../engine-deadline.ts';
import type { HardeningSettings } from '../container-layout.ts';
import type { ContainerTemplate } from './hardening.ts';
import { INSTANCE_LABEL, MANAGED_LABEL, RUN_ID_LABEL } from '../labels.ts';
import { OutputsReader } from './outputs-reader.ts';
import { LauncherOutputs } from './launcher-outputs.ts';
import { ImageIds } from './image-ids.ts';
import { RunContainers } from './run-containers.ts';
import { deliverParameters, discardContainer, startParkedContainer, type ParkedContainer } from './parked-container.ts';
import { WarmPool, type PoolStats, type WarmPoolLimits } from './warm-pool.ts';
import { SecretFiles } from './secret-files.ts';
import { Redactor } from '../redaction.ts';
import { SECRETS_DIR, runSecrets } from '../container-layout.ts';
import { EngineEnvironmentImages, type EnvironmentImages } from '../environment-images.ts';
import { EgressGateway, noEgressProxy, wantsNetwork, type EgressGatewaySettings } from './egress-gateway.ts';
import { removeEgressProxy, removeRunNetwork, sweepRunNetworks } from './egress-networks.ts';
import { closeForeignGrants } from './foreign-egress-counts.ts';
import type { EgressUsage } from '../../egress/egress-ledger.ts';
import { containersOf, parseDockerRef, type DockerRef } from './adoption-ref.ts';
import { followAdoptedRun } from './adopted-run.ts';
import { followAdoptedDirectRun } from './adopted-direct-run.ts';
import { removeRunParts } from './direct-run-parts.ts';
import { followMemoryRun } from './adopted-memory-run.ts';
import { containerGone } from '../run-lost.ts';

export interface DockerBackendSettings extends HardeningSettings {
  /** Host directory under which each container gets its own directory (inputs bind-mounted at /inputs). */
  runsDir: string;
  /**
   * Directory on a host tmpfs (SANDRUN_RUN_SECRETS_DIR) under which each container of a run with secrets gets its
   * own directory, bind-mounted read-only at /run/secrets: secret values never touch a disk (secret-files.ts).
   */
  secretsDir: string;
  logCapBytes: number;
  outputsMaxEntries: number;
  pool?: WarmPoolLimits;
  /** The image of the helper that holds /outputs for images without a shell (direct-runner.ts). */
  outputsHelperImage?: string;
  /** How long any engine request may wait for the engine's answer (engine-deadline.ts). */
  engineCallTimeoutMs: number;
  /** The egress proxy (SPEC §11); without it, a run with grants is refused. */
  egress?: Omit<EgressGatewaySettings, 'instanceId'>;
}

export const DEFAULT_OUTPUTS_HELPER_IMAGE = 'sandrun/base:bookworm';

const PING_TIMEOUT_MS = 3_000;
/** A launcher that has not said it is ready by then is left to the trigger's own acknowledgement timeout. */
const READY_TIMEOUT_MS = 10_000;
/** How long into a run served warm its replacement waits at most: a longer run loses little to it. */
const REPLACEMENT_DELAY_MAX_MS = 1_000;
const NO_POOL: WarmPoolLimits = { maxTotal: 0, maxPerTenant: 0, maxPerTemplate: 0, maxIdleMs: 0 };

export class DockerBackend implements SandboxBackend {
  private readonly events: EngineEvents;
  private readonly imageIds: ImageIds;
  private readonly commands: CommandRunner;
  private readonly direct: DirectRunner;
  private readonly pool: WarmPool;
  /** Images found to lack what the launcher needs: their runs take the direct path, and none is parked. */
  private readonly imageFit = new ImageFit();
  /** Containers serving a run right now, and their removals. */
  private readonly running = new RunContainers();
  private readonly secretFiles: SecretFiles;
  private readonly egress: EgressGateway | undefined;
  private readonly outputs: OutputsReader;
  private eventsStarted: Promise<void> | undefined;
  private readonly docker: Dockerode;
  readonly environments: EnvironmentImages;

  constructor(
    docker: Dockerode,
    private readonly settings: DockerBackendSettings,
    private readonly logWarning?: (error: unknown) => void,
  ) {
    // On the client itself (its modem), before any part below holds it: no engine call of the backend goes without it.
    this.docker = withEngineDeadline(docker, settings.engineCallTimeoutMs);
    this.environments = new EngineEnvironmentImages(this.docker);
    this.events = new EngineEvents(this.docker);
    this.imageIds = new ImageIds(this.docker);
    this.secretFiles = new SecretFiles(settings.secretsDir, settings.instanceId);
    this.egress = settings.egress && new EgressGateway(this.docker, { ...settings.egress, instanceId: settings.instanceId });
    const outputs = new OutputsReader(this.events, settings);
    this.outputs = outputs;
    const outputsLimits = { maxBytes: settings.outputsCapBytes, maxEntries: settings.outputsMaxEntries };
    this.commands = new CommandRunner(this.events, new LauncherOutputs(outputsLimits, outputs), settings);
    this.direct = new DirectRunner(
      this.docker,
      this.events,
      outputs,
      { ...settings, outputsHelperImage: settings.outputsHelperImage ?? DEFAULT_OUTPUTS_HELPER_IMAGE },
      this.running,
      this.secretFiles,
      this.egress,
    );
    this.pool = new WarmPool(
      settings.pool ?? NO_POOL,
      (template) => this.ensureEvents().then(() => startParkedContainer(this.docker, template, `pool-${crypto.randomUUID()}`, settings, this.secretFiles, this.egress)),
      discardContainer,
      (error) => this.logWarning?.(error),
    );
  }

  get poolStats(): PoolStats {
    return this.pool.stats;
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
      // Bounded: an engine that accepts the connection but never answers must read as down, not hang readyz.
      const ping = this.docker.ping.bind(this.docker) as unknown as (options: { abortSignal: AbortSignal }) => Promise<unknown>;
      await ping({ abortSignal: AbortSignal.timeout(PING_TIMEOUT_MS) });
    } catch (error) {
      throw new SandrunError('engine_unavailable', `the Docker engine does not answer: ${errorMessage(error)}`, undefined, { cause: error });
    }
  }

  async checkImage(image: string): Promise<void> {
    await this.imageId(image);
  }

  async imageId(image: string): Promise<string> {
    try {
      return await this.imageIds.idOf(image, async () => ((await this.docker.getImage(image).inspect()) as { Id: string }).Id);
    } catch (error) {
      if (isNotFound(error)) {
        throw new SandrunError('image_unavailable', `image ${image} is not present on the engine (build it with \`npm run images\`)`);
      }
      throw engineError(error, `inspecting image ${image}`);
    }
  }

  /**
   * A run takes one of three paths: a container parked ahead for runs like it (warm), one started for it now (cold),
   * or, for an image that cannot take the launcher, its command as the container's own process (direct). An image is
   * found unfit on the launcher paths before the command starts, so that run falls back to the direct path once.
   */
  async run(spec: SandboxSpec, options: RunOptions = {}): Promise<SandboxResult> {
    const result = spec.egress?.length ? await this.runWithEgress(spec, spec.egress, options) : await this.runOnAnyPath(spec, options);
    // Its logs were redacted as they streamed (run-logs.ts); its outputs and messages are, here.
    return Redactor.of(spec.secrets)?.result(result) ?? result;
  }

  /**
   * A run with grants: its container (parked ahead or made now) has a network of its own to the proxy, and the run
   * gets its credential in its environment. Its grants end with its command; its network goes with its container.
   */
  private async runWithEgress(spec: SandboxSpec, grants: NonNullable<SandboxSpec['egress']>, options: RunOptions): Promise<SandboxResult> {
    const gateway = this.egress;
    if (!gateway) throw noEgressProxy();
    const env = gateway.open(spec.runId, grants);
    let result: SandboxResult;
    let egress: EgressUsage[] = [];
    try {
      result = await this.runOnAnyPath({ ...spec, env: { ...spec.env, ...env } }, options);
    } finally {
      // Counts that cannot be read cost the run its egress figures, never its result.
      egress = await gateway.close(spec.runId).catch((error: unknown) => (this.logWarning?.(error), []));
    }
    return { ...result, egress };
  }

  private async runOnAnyPath(spec: SandboxSpec, options: RunOptions): Promise<SandboxResult> {
    await this.ensureEvents();
    if (this.imageFit.needsDirectPath(spec.image)) return this.direct.run(spec, options);
    try {
      return await this.runOnLauncher(spec, options);
    } catch (error) {
      if (!(error instanceof LauncherUnavailable)) throw error;
      this.imageFit.markUnfit(spec.image);
      await this.pool.evict((entry) => entry.image === spec.image);
      return this.direct.run(spec, options);
    }
  }

  /** Warm when a parked container is ready for it, else cold; a warm container that failed before the command started is dropped for a cold one. */
  private async runOnLauncher(spec: SandboxSpec, options: RunOptions): Promise<SandboxResult> {
    const template: ContainerTemplate = {
      image: spec.image,
      imageId: spec.imageId,
      workspaceDir: spec.workspaceDir,
      limits: spec.limits,
      labels: spec.labels,
      withSecrets: runSecrets(spec) !== undefined,
      withNetwork: wantsNetwork(spec),
    };
    const warm = this.pool.take(template);
    // The likely next run is of the same kind (an agent iterating on parameters): a replacement is parked. A hit's starts
    // once the run is over (or REPLACEMENT_DELAY_MAX_MS into it): started at once, the engine's work on it would take
    // CPU from the very run it replaces (docs/decisions.md). A miss is a start anyway: its replacement starts now.
    const replenish = this.pool.replenishLater(template, REPLACEMENT_DELAY_MAX_MS);
    if (!warm) replenish();
    try {
      if (warm) {
        let started = false;
        // The note goes on with the start: a warm run must be adoptable as much as a cold one.
        const tracked: RunOptions = { ...options, onStart: (at, sandboxRef) => ((started = true), options.onStart?.(at, sandboxRef)) };
        try {
          return await this.runIn(warm, spec, tracked);
        } catch (error) {
          // Once the command has started, trying again could repeat what it did: the failure is the run's.
          if (started || error instanceof LauncherUnavailable) throw error;
          // A parked container can die while it waits (engine restart); the command never started, so go cold.
          this.logWarning?.(error);
        }
      }
      return await this.runIn(await startParkedContainer(this.docker, template, spec.runId, this.settings, this.secretFiles, this.egress), spec, options);
    } finally {
      replenish();
    }
  }

  private async runIn(parked: ParkedContainer, spec: SandboxSpec, options: RunOptions): Promise<SandboxResult> {
    this.running.serve(parked.container.id);
    let result: SandboxResult | undefined;
    try {
      // Said by the launcher as it starts: long since for a warm container, within milliseconds for a cold one.
      assertLauncherFit(spec.image, await parked.session.readyWithin(READY_TIMEOUT_MS));
      await deliverParameters(parked, spec.parameters);
      await this.deliverSecrets(parked, spec);
      await parked.egress?.ready(parked.id);
      result = await this.commands.run(parked, spec, options);
      return result;
    } finally {
      this.events.forgetContainer(parked.container.id);
      await this.running.removals.afterRun(discardContainer(parked).finally(() => this.running.release(parked.container.id)), result);
    }
  }

  /**
   * A run another process started on this engine: its container is followed from what it kept (adopted-run.ts: the
   * launcher's log; adopted-memory-run.ts: a run with secrets, from copies in the container's memory;
   * adopted-direct-run.ts: an image without a shell), then removed with what else the run had (its directory, secrets
   * and network; on the direct path its outputs holder and volume), as the path that started it would have.
   */
  adopt(spec: AdoptionSpec, options: RunOptions = {}): Promise<SandboxResult> {
    const ref = parseDockerRef(spec.sandboxRef);
    if (!ref) return Promise.reject(containerGone(spec.runId, 'it left no note of a container that can be adopted'));
    if (!ref.kept) {
      return Promise.reject(
        containerGone(spec.runId, 'its container kept nothing to finish it from (a run with secrets on an image without `mkfifo` and `tee`: their values are never written to the engine’s disk)'),
      );
    }
    // Before anything else: the reaper must not take them for leftovers meanwhile.
    for (const id of containersOf(ref)) this.running.serve(id);
    if (ref.path === 'direct') {
      const deps = { logCapBytes: this.settings.logCapBytes, engineCallTimeoutMs: this.settings.engineCallTimeoutMs, outputs: this.outputs };
      return this.finishAdopted(ref, spec, () => followAdoptedDirectRun(this.docker, ref, spec, options, deps));
    }
    const settings = { logCapBytes: this.settings.logCapBytes, outputs: { maxBytes: this.settings.outputsCapBytes, maxEntries: this.settings.outputsMaxEntries } };
    const follow = ref.kept === 'memory' ? followMemoryRun : followAdoptedRun;
    return this.finishAdopted(ref, spec, () => follow(this.docker, ref, spec, options, { settings, fallback: this.outputs }));
  }

  private async finishAdopted(ref: DockerRef, spec: AdoptionSpec, follow: () => Promise<SandboxResult>): Promise<SandboxResult> {
    const container = this.docker.getContainer(ref.container);
    const info = await container.inspect().catch(() => undefined);
    const owner = info?.Config.Labels[RUN_ID_LABEL];
    // A run with secrets: the directory of its values on the host tmpfs goes with its container (one of this host's servers made it).
    const secrets = info?.Mounts.find((mount) => mount.Destination === SECRETS_DIR)?.Source;
    const ownSecrets = secrets !== undefined && secrets.startsWith(join(this.settings.secretsDir, '/')) ? secrets : undefined;
    // Another server's run with network grants: its proxy (which stays until the run is over) counted its bytes, in
    // that server's data directory, which only that proxy can reach.
    const instance = info?.Config.Labels[INSTANCE_LABEL];
    const foreignGrants = info !== undefined && instance !== this.settings.instanceId && (info.HostConfig.NetworkMode ?? 'none') !== 'none';
    let result: SandboxResult | undefined;
    try {
      result = await follow();
      // A run with grants still has them open in the ledger (its server never closed them): their end gives its counts.
      // Counts that cannot be read cost the run its egress figures, never its result (runWithEgress).
      const closing = !owner ? undefined : foreignGrants && instance ? closeForeignGrants(this.docker, instance, spec.runId) : this.egress?.close(spec.runId);
      const egress = (await closing?.catch((error: unknown) => (this.logWarning?.(error), [] as EgressUsage[]))) ?? [];
      result = egress.length > 0 ? { ...result, egress } : result;
      return Redactor.of(spec.secrets)?.result(result) ?? result;
    } finally {
      const ids = containersOf(ref);
      const volume = ref.path === 'direct' ? this.docker.getVolume(ref.volume) : undefined;
      const removed = removeRunParts(
        ids.map((id) => this.docker.getContainer(id)),
        volume,
        owner ? join(this.settings.runsDir, owner) : undefined,
      )
        .then(async () => {
          if (ownSecrets) await rm(ownSecrets, { recursive: true, force: true });
          if (!owner) return;
          if (foreignGrants) await removeRunNetwork(this.docker, owner).catch((error: unknown) => this.logWarning?.(error));
          else await this.egress?.release(owner).catch(() => undefined);
        })
        .finally(() => ids.forEach((id) => this.running.release(id)));
      await this.running.removals.afterRun(removed, result);
    }
  }

  /** Writes the run's secrets where its container sees them (a template with secrets gave it the directory). */
  private async deliverSecrets(parked: ParkedContainer, spec: SandboxSpec): Promise<void> {
    const secrets = runSecrets(spec);
    if (!secrets) return;
    if (!parked.secretsDir) throw new SandrunError('internal', `the container of run ${spec.runId} was made without a secrets directory`);
    await this.secretFiles.write(parked.secretsDir, secrets);
  }

  /** Removes parked containers whose labels match (a project refreshed or removed). */
  async releaseWarm(labels: Record<string, string>): Promise<void> {
    await this.pool.evict((entry) => Object.entries(labels).every(([key, value]) => entry.labels[key] === value));
  }

  async removeAll(): Promise<void> {
    // Closing the pool removes what it parked and discards what it is still starting; the listing catches the rest.
    const removeListed = async () => {
      const managed = await this.listManaged();
      await Promise.all(managed.map((container) => this.docker.getContainer(container.containerId).remove({ force: true, v: true }).catch(() => undefined)));
    };
    await Promise.all([this.pool.close(), removeListed()]);
  }

  async listManaged(instanceId = this.settings.instanceId): Promise<ManagedContainer[]> {
    try {
      const containers = await this.docker.listContainers({
        all: true,
        filters: { label: [`${MANAGED_LABEL}=true`, `${INSTANCE_LABEL}=${instanceId}`] },
      });
      return containers.map((c) => ({ containerId: c.Id, runId: c.Labels[RUN_ID_LABEL] ?? '', running: c.State === 'running', createdAt: new Date(c.Created * 1000) }));
    } catch (error) {
      throw engineError(error, 'listing sandrun containers');
    }
  }

  async reap(isLive: (runId: string) => boolean, options: ReapOptions = {}): Promise<number> {
    let removed = 0;
    const bornBefore = Date.now() - (options.minAgeMs ?? 0);
    const instanceId = options.instanceId ?? this.settings.instanceId;
    const own = instanceId === this.settings.instanceId;
    const managedContainers = await this.listManaged(instanceId);
    const keptRefs = (options.keep ?? []).flatMap((ref) => parseDockerRef(ref) ?? []);
    // A direct-path run's outputs holder and volume with its container: an adopting server reads its outputs through them.
    const kept = new Set(keptRefs.flatMap(containersOf));
    const keptVolumes = new Set(keptRefs.flatMap((ref) => (ref.path === 'direct' ? [ref.volume] : [])));
    const leftovers = managedContainers.filter(
      (managed) =>
        !this.running.isServing(managed.containerId) &&
        !this.pool.holds(managed.containerId) &&
        !kept.has(managed.containerId) &&
        // A container a few seconds old may be one this process is still setting up.
        managed.createdAt.getTime() <= bornBefore &&
        !(managed.runId && isLive(managed.runId)),
    );
    const gone = new Set<string>();
    // At once, so that removals the engine leaves unanswered cost a sweep one engine deadline, not one each.
    await Promise.all(
      leftovers.map((managed) =>
        this.docker
          .getContainer(managed.containerId)
          .remove({ force: true, v: true })
          .then(() => ((removed += 1), gone.add(managed.containerId)))
          // Gone meanwhile is fine; anything else (a removal the engine did not answer) is said, and tried again next pass.
          .catch((error: unknown) => isNotFound(error) || this.logWarning?.(engineError(error, `removing leftover container ${managed.containerId}`))),
      ),
    );
    // After the leftovers' removal, so that their directories go in this pass, not the next.
    const containerNames = new Set(managedContainers.filter((managed) => !gone.has(managed.containerId)).map((managed) => managed.runId));
    // Directories, secret files and the egress proxy are this server's own (its data directory): another's stay its own.
    if (own) {
      await this.removeStaleDirectories(bornBefore, containerNames);
      await this.secretFiles.sweep(bornBefore, containerNames);
    }
    await this.removeStaleVolumes(isLive, bornBefore, instanceId, keptVolumes);
    if (own) await this.egress?.sweep(isLive, bornBefore);
    else await this.removeDeadEgress(instanceId, bornBefore);
    return removed;
  }

  /**
   * A dead server's egress: the networks its runs no longer use, then, once nothing of its runs is left on the engine
   * (adopted ones end here), its proxy and outbound network. Should it start again, it makes them anew.
   */
  private async removeDeadEgress(instanceId: string, bornBefore: number): Promise<void> {
    const { left } = await sweepRunNetworks(this.docker, instanceId, bornBefore);
    if (left === 0 && (await this.listManaged(instanceId)).length === 0) await removeEgressProxy(this.docker, instanceId);
  }

  /** Outputs volumes of the direct path (direct-runner.ts) whose run is over: a killed server leaves them behind. */
  private async removeStaleVolumes(isLive: (runId: string) => boolean, bornBefore: number, instanceId: string, kept: ReadonlySet<string>): Promise<void> {
    const listed = await this.docker
      .listVolumes({ filters: { label: [`${MANAGED_LABEL}=true`, `${INSTANCE_LABEL}=${instanceId}`] } })
      .catch((error: unknown) => Promise.reject(engineError(error, 'listing sandrun volumes')));
    for (const volume of listed.Volumes ?? []) {
      const runId = volume.Labels?.[RUN_ID_LABEL] ?? '';
      const createdAt = Date.parse((volume as { CreatedAt?: string }).CreatedAt ?? '');
      if ((runId && isLive(runId)) || kept.has(volume.Name) || !(createdAt <= bornBefore)) continue;
      // One still mounted by a container is refused (409) and left for a later pass.
      await this.docker.getVolume(volume.Name).remove().catch(() => undefined);
    }
  }

  /**
   * Removes container directories (inputs) whose container is gone: a process killed between a container's end and
   * the removal of its directory leaves one behind. Directories of existing containers go with their container.
   */
  private async removeStaleDirectories(bornBefore: number, containerIds: ReadonlySet<string>): Promise<void> {
    const entries = await readdir(this.settings.runsDir).catch(() => [] as string[]);
    for (const entry of entries) {
      if (containerIds.has(entry)) continue;
      const path = join(this.settings.runsDir, entry);
      const info = await stat(path).catch(() => undefined);
      if (info && info.mtimeMs <= bornBefore) await rm(path, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.running.removals.drain();
    // A removal that failed earlier (engine briefly away) must not leave its container behind after a clean stop.
    await this.reap(() => false).catch(() => undefined);
    await this.egress?.remove().catch((error: unknown) => this.logWarning?.(error));
    this.events.close();
    this.imageIds.close();
  }
}
