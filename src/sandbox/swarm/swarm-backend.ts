// The sandbox on a Docker Swarm: one replicated service (1 replica, no restart) per run, removed with its config and secrets when the run ends.
import type Dockerode from 'dockerode';
import type { ChunkSink } from '../stream-demux.ts';
import { readContainerUsage } from '../container-usage.ts';
import { engineFor, tlsFailure, type EngineTls } from './engine-client.ts';
import { SandrunError, errorMessage } from '../../errors.ts';
import { STOP_SIGNAL, signalExitCode, type AdoptionSpec, type ManagedContainer, type ReapOptions, type RunOptions, type SandboxBackend, type SandboxResult, type SandboxSpec, type SandboxUsage } from '../backend.ts';
import { engineError, isEngineUnreachable, isNotFound } from '../engine-errors.ts';
import type { HardeningSettings } from '../container-layout.ts';
import { INSTANCE_LABEL, MANAGED_LABEL, RUN_ID_LABEL } from '../labels.ts';
import { Removals } from '../removals.ts';
import { RunClock } from '../run-clock.ts';
import { RunLogs } from '../run-logs.ts';
import { StdoutFrameSplitter, frameNonce } from './output-frame.ts';
import { managedLabels, parametersConfigName, secretName, serviceSpec, type RunSecretRef } from './service-spec.ts';
import { artifactCapture } from '../artifact-capture.ts';
import { Redactor } from '../redaction.ts';
import { runSecrets } from '../container-layout.ts';
import { failoverClient } from './manager-failover.ts';
import { SwarmNodes } from './swarm-nodes.ts';
import { TaskStdio } from './task-stdio.ts';
import { parseTaskRef, taskRef, type TaskRef } from './task-ref.ts';
import { followAdoptedTask } from './adopted-task.ts';
import { followMemoryTask } from './adopted-memory-task.ts';
import { containerGone } from '../run-lost.ts';
import { outcomeOf, taskFailure, taskOomKilled } from './task-result.ts';
import { unknownOutcomeOfSignalledExit } from '../exit-outcome.ts';
import { watchTask, type TaskInfo } from './task-watch.ts';
import type { EnvironmentImages } from '../environment-images.ts';
import { EnvironmentDistribution } from './environment-distribution.ts';
import { SwarmEnvironmentImages } from './swarm-environment-images.ts';
import { WorkspaceImages, removeUnusedImages } from './workspace-image.ts';
import { delay } from '../../delay.ts';

export interface SwarmBackendSettings extends HardeningSettings {
  /**
   * The managers' engines, in the order they are tried (manager-failover.ts): `unix:///path`, `tcp+tls://host:port` or
   * (loopback, or by opt-in) `tcp://host:port`.
   */
  managerHosts: string[];
  /** Every node's own engine (workspace images are loaded into each); the manager's included. */
  nodeHosts: string[];
  /**
   * The engine environment images are built on (SANDRUN_SWARM_BUILD_HOST), one that reaches the package sources;
   * default: the managers. Its images are shipped to the nodes from there.
   */
  buildHost?: string;
  /** Client certificate and CA for `tcp+tls://` engines. */
  tls?: EngineTls;
  /** Scratch directory for building workspace images. */
  workDir: string;
  logCapBytes: number;
  outputsMaxEntries: number;
  /** How long any engine request may wait for the engine's answer (engine-deadline.ts); the manager's is shorter still. */
  engineCallTimeoutMs: number;
  /** How long a workspace image may stay on the nodes with no run using it (SANDRUN_SWARM_IMAGE_IDLE_SECONDS; default 10 min). */
  imageIdleMs?: number;
}

const DEFAULT_IMAGE_IDLE_MS = 600_000;
/** After the task ends, how long its attach may take to deliver the last of its output and end. */
const STDIO_DRAIN_MS = 15_000;
const GONE_TIMEOUT_MS = 15_000;
/** How long the removal of a run's config and secrets is retried (refused while its service is still going away). */
const CONFIG_REMOVAL_MS = 45_000;
/** The manager's deadline at most: with too few managers its API hangs ~21 s rather than failing. */
const MANAGER_TIMEOUT_MS = 10_000;

export class SwarmBackend implements SandboxBackend {
  /**
   * Whichever manager answers (manager-failover.ts). Its deadline bounds the answer, not a stream: a log stream stays
   * open, silent, for as long as the run.
   */
  private readonly manager: Dockerode;
  private readonly nodes: SwarmNodes;
  private readonly images: WorkspaceImages;
  private readonly distribution: EnvironmentDistribution;
  private readonly removals = new Removals();
  readonly environments: EnvironmentImages;

  constructor(private readonly settings: SwarmBackendSettings) {
    const managerTimeoutMs = Math.min(settings.engineCallTimeoutMs, MANAGER_TIMEOUT_MS);
    this.manager = failoverClient(settings.managerHosts, settings.managerHosts.map((host) => engineFor(host, settings.tls, managerTimeoutMs)));
    const engines = settings.nodeHosts.map((host) => ({ host, engine: engineFor(host, settings.tls, settings.engineCallTimeoutMs) }));
    this.nodes = new SwarmNodes(this.manager, engines, settings.runtime, settings.instanceId);
    this.images = new WorkspaceImages(this.manager, settings.workDir, managedLabels('workspace', settings));
    const buildEngine = settings.buildHost ? engineFor(settings.buildHost, settings.tls, settings.engineCallTimeoutMs) : this.manager;
    this.distribution = new EnvironmentDistribution(buildEngine, settings.workDir);
    this.environments = new SwarmEnvironmentImages(buildEngine, this.nodes, this.distribution);
  }

  async ping(): Promise<void> {
    try {
      await this.manager.ping();
      await this.manager.swarmInspect();
    } catch (error) {
      const tls = this.settings.managerHosts.map((host) => tlsFailure(error, host)).find(Boolean);
      throw tls ?? new SandrunError('engine_unavailable', `the swarm manager does not answer: ${errorMessage(error)}`, undefined, { cause: error });
    }
  }

  async checkImage(image: string): Promise<void> {
    for (const node of (await this.nodes.ready()).values()) {
      try {
        await node.engine.getImage(image).inspect();
      } catch (error) {
        if (isNotFound(error)) throw new SandrunError('image_unavailable', `image ${image} is not present on swarm node ${node.nodeId} (load it on every node)`);
        throw engineError(error, `inspecting image ${image} on swarm node ${node.nodeId}`);
      }
    }
  }

  /**
   * An environment image keeps the source's ID on every node it is shipped to (environment-distribution.ts); a runner
   * image is the operator's, on every node: its ID as the first node that answers holds it, the copy a run's workspace
   * image is built on (workspace-image.ts).
   */
  async imageId(image: string): Promise<string> {
    const environment = await this.distribution.environmentImageId(image);
    if (environment) return environment;
    let unreachable: unknown;
    for (const node of (await this.nodes.ready()).values()) {
      try {
        return ((await node.engine.getImage(image).inspect()) as { Id: string }).Id;
      } catch (error) {
        if (isNotFound(error)) throw new SandrunError('image_unavailable', `image ${image} is not present on swarm node ${node.nodeId} (load it on every node)`);
        if (!isEngineUnreachable(error)) throw engineError(error, `inspecting image ${image} on swarm node ${node.nodeId}`);
        unreachable = error;
      }
    }
    if (unreachable) throw engineError(unreachable, `inspecting image ${image} on the swarm's nodes`);
    throw new SandrunError('engine_unavailable', `no swarm node is ready to inspect image ${image} on`);
  }

  async run(spec: SandboxSpec, options: RunOptions = {}): Promise<SandboxResult> {
    // An environment image first: the node check's probe and the workspace image (whose archive names the base's
    // layers only) both need it on every node.
    await this.distribution.ensure(spec.image, [...(await this.nodes.ready()).values()]);
    const { nodes, features } = await this.nodes.hardened(spec.image);
    const image = await this.images.use(spec.image, spec.workspaceDir, [...nodes.values()].map((n) => n.engine));
    const imageId = image.id;
    const nonce = frameNonce();
    const configName = parametersConfigName(spec.runId);
    let configId: string | undefined;
    const secrets: RunSecretRef[] = [];
    let serviceId: string | undefined;
    let task: TaskInfo | undefined;
    let result: SandboxResult | undefined;
    try {
      const config = (await this.manager.createConfig({
        Name: configName,
        Labels: managedLabels(spec.runId, this.settings),
        Data: Buffer.from(JSON.stringify(spec.parameters)).toString('base64'),
      })) as { id: string };
      configId = config.id;
      for (const [index, [key, value]] of Object.entries(runSecrets(spec) ?? {}).entries()) {
        const name = secretName(spec.runId, index);
        const made = (await this.manager.createSecret({ Name: name, Labels: managedLabels(spec.runId, this.settings), Data: Buffer.from(value, 'utf8').toString('base64') })) as { id: string };
        secrets.push({ key, secretId: made.id, secretName: name });
      }
      const service = (await this.manager.createService(serviceSpec({ spec, imageId, configId, configName, nonce, secrets }, this.settings, features))) as { id: string };
      serviceId = service.id;
      // A run with secrets keeps no log on its node: its wrapper keeps copies in its container's memory, where the image lets it.
      const kept = secrets.length === 0 ? 'log' : 'memory';
      result = await this.follow(serviceId, nonce, kept, spec, options, nodes, (t) => (task = t));
      // Its logs were redacted as they streamed (run-logs.ts); its outputs and messages are, here.
      return Redactor.of(spec.secrets)?.result(result) ?? result;
    } catch (error) {
      throw engineError(error, `running run ${spec.runId} on the swarm`);
    } finally {
      await this.removals.afterRun(this.discard(serviceId, configId, secrets, task).finally(() => image.release()), result);
    }
  }

  private async follow(
    serviceId: string,
    nonce: string,
    kept: TaskRef['kept'],
    spec: SandboxSpec,
    options: RunOptions,
    nodes: Map<string, { engine: Dockerode }>,
    seen: (task: TaskInfo) => void,
  ): Promise<SandboxResult> {
    const captured = new RunLogs(this.settings.logCapBytes, options.onLog, spec.secrets);
    let stdio: TaskStdio | undefined;
    let usage: SandboxUsage | undefined;
    // At the frame's begin line the run's processes are dead and its container still lives: its usage is read
    // then (before tar adds to it), and only then is the wrapper let go on. A run can print begin lines of its
    // own (the nonce is in the wrapper's argv): one read at a time, whose end lets the wrapper go on either way.
    let readingUsage = false;
    const onBegin = () => {
      const current = stdio;
      if (!current || readingUsage) return;
      readingUsage = true;
      void readContainerUsage(current.container)
        .then((read) => (usage = read))
        .finally(() => {
          readingUsage = false;
          current.writeLine('');
        });
    };
    const splitter = new StdoutFrameSplitter(nonce, captured.out, Math.ceil(this.settings.outputsCapBytes * 1.4) + 4096, onBegin);
    const clock = new RunClock(options.signal, spec.limits.timeoutSeconds);
    const attachFailed = new AbortController();
    let attachError: SandrunError | undefined;
    let startedAt = new Date();
    let started = false;
    try {
      const task = await watchTask(this.manager, this.nodes, serviceId, AbortSignal.any([clock.signal, attachFailed.signal]), (running) => {
        seen(running);
        const attaching = this.attach(running, nodes, (chunk) => splitter.push(chunk), captured.err);
        void attaching.then(
          (attached) => {
            stdio = attached;
            if (clock.signal.aborted) return;
            // The wrapper starts the command on this line: the run's start, and its timeout's.
            attached.writeLine(nonce);
            started = true;
            startedAt = new Date();
            // What a server that adopts the run finds it by (adopted-task.ts); it rides on the start's own write.
            options.onStart?.(startedAt, taskRef({ service: serviceId, node: running.NodeID!, container: attached.container.id, nonce, kept }));
            clock.start();
          },
          (error: unknown) => {
            attachError = engineError(error, `attaching to the container of run ${spec.runId}`);
            attachFailed.abort();
          },
        );
      });
      if (attachError) throw attachError;
      let finishedAt = new Date();
      const base = () => captured.resultBase(startedAt, finishedAt, usage);
      if (!task) {
        splitter.finish();
        // Its task is removed with the service, and killed by its StopSignal (service-spec.ts) if it had started.
        const exitCode = started ? signalExitCode(STOP_SIGNAL) : null;
        return { ...base(), outcome: { kind: clock.reason ?? 'cancelled' }, exitCode, outputs: {} };
      }
      seen(task);
      const failure = taskFailure(task);
      if (failure) throw failure;
      const nodeId = task.NodeID ?? 'unknown';
      if (!started || !stdio) throw new SandrunError('engine_unavailable', `the swarm task of this run on node ${nodeId} ended before the server could start its command`);
      finishedAt = new Date(task.Status.Timestamp ?? Date.now());
      const exitCode = task.Status.ContainerStatus!.ExitCode!;
      // The attach ends once the container's last output is delivered, which is just after its exit.
      await Promise.race([stdio.ended, delay(STDIO_DRAIN_MS)]);
      if (stdio.broken) throw new SandrunError('engine_unavailable', `the connection to swarm node ${nodeId} broke while reading the run's output: ${stdio.broken.message}; its result is unknown`);
      const frame = splitter.finish();
      const oomKilled = await taskOomKilled(task.NodeID ? nodes.get(task.NodeID)?.engine : undefined, task.Status.ContainerStatus?.ContainerID, exitCode);
      // No frame: the wrapper died before the command's end was reported (the same rule as the Docker launcher's).
      const signalled = !frame && !oomKilled ? unknownOutcomeOfSignalledExit(exitCode) : undefined;
      if (signalled) throw signalled;
      const limits = { maxBytes: this.settings.outputsCapBytes, maxEntries: this.settings.outputsMaxEntries };
      return { ...base(), exitCode, ...(await outcomeOf(exitCode, oomKilled, frame, limits, artifactCapture(options.artifacts, spec.secrets))) };
    } finally {
      clock.dispose();
      stdio?.close();
    }
  }

  /** Attaches to the running task's container on the node that runs it. */
  private async attach(task: TaskInfo, nodes: Map<string, { engine: Dockerode }>, stdout: ChunkSink, stderr: ChunkSink): Promise<TaskStdio> {
    const nodeId = task.NodeID ?? 'unknown';
    const engine = nodes.get(nodeId)?.engine;
    const containerId = task.Status.ContainerStatus?.ContainerID;
    if (!engine || !containerId) throw new SandrunError('engine_unavailable', `the swarm task of this run runs on node ${nodeId}, whose engine or container the server cannot reach`);
    return TaskStdio.attach(engine, containerId, nodeId, stdout, stderr);
  }

  /** Removes the service (which stops its task), the config and the secrets; waits until the task's container is gone, when its node is known. */
  private async discard(serviceId: string | undefined, configId: string | undefined, secrets: RunSecretRef[], task: TaskInfo | undefined): Promise<void> {
    if (serviceId) await this.manager.getService(serviceId).remove().catch(() => undefined);
    const engine = task?.NodeID ? (await this.nodes.ready().catch(() => undefined))?.get(task.NodeID)?.engine : undefined;
    const containerId = task?.Status.ContainerStatus?.ContainerID;
    if (engine && containerId) {
      await engine
        .getContainer(containerId)
        .wait({ condition: 'removed', abortSignal: AbortSignal.timeout(GONE_TIMEOUT_MS) })
        .catch(() => undefined);
    }
    await Promise.all([
      ...(configId ? [this.removeInUse(() => this.manager.getConfig(configId).remove())] : []),
      ...secrets.map((secret) => this.removeInUse(() => this.manager.getSecret(secret.secretId).remove())),
    ]);
  }

  /**
   * The manager refuses to remove a config or secret while its service is still going away, and answers nothing
   * during an election (a lost node coming back can cause one): retry for a bounded time instead of leaving it behind.
   */
  private async removeInUse(remove: () => Promise<unknown>): Promise<void> {
    const deadline = Date.now() + CONFIG_REMOVAL_MS;
    for (;;) {
      const removed = await remove().then(
        () => true,
        (error: { statusCode?: number }) => error.statusCode === 404,
      );
      if (removed || Date.now() > deadline) return;
      await delay(500);
    }
  }

  /**
   * A run another process started on this swarm: its task is followed from its kept log on its node (adopted-task.ts),
   * or, a run with secrets, from the copies its wrapper kept in its container's memory (adopted-memory-task.ts); then
   * its service, config and secrets are removed as run() would have. A run that cannot be adopted (no note, nothing
   * kept, its service or container gone) ends error, and its service goes all the same.
   */
  async adopt(spec: AdoptionSpec, options: RunOptions = {}): Promise<SandboxResult> {
    const ref = parseTaskRef(spec.sandboxRef);
    if (!ref) throw containerGone(spec.runId, 'it left no note of a swarm service that can be adopted');
    let task: TaskInfo | undefined;
    let result: SandboxResult | undefined;
    try {
      if (!ref.kept) throw containerGone(spec.runId, 'its task kept no log to finish it from (a run with secrets: their values are never written to the node’s disk)');
      const follow = ref.kept === 'memory' ? followMemoryTask : followAdoptedTask;
      result = await follow(ref, spec, options, {
        manager: this.manager,
        nodes: this.nodes,
        settings: { logCapBytes: this.settings.logCapBytes, outputs: { maxBytes: this.settings.outputsCapBytes, maxEntries: this.settings.outputsMaxEntries } },
        seen: (t) => (task = t),
      });
      return Redactor.of(spec.secrets)?.result(result) ?? result;
    } catch (error) {
      throw engineError(error, `adopting run ${spec.runId} on the swarm`);
    } finally {
      task ??= { ID: '', NodeID: ref.node, Status: { State: 'unknown', ContainerStatus: { ContainerID: ref.container } } };
      await this.removals.afterRun(this.discardAdopted(ref.service, spec.runId, task), result);
    }
  }

  /** As discard, with the config and secrets named by the service's spec (or, the service gone, the config by its name). */
  private async discardAdopted(serviceId: string, runId: string, task: TaskInfo): Promise<void> {
    type Spec = { Spec?: { TaskTemplate?: { ContainerSpec?: { Configs?: { ConfigID: string }[]; Secrets?: { File?: { Name?: string }; SecretID: string; SecretName: string }[] } } } };
    const service = (await this.manager.getService(serviceId).inspect().catch(() => undefined)) as Spec | undefined;
    const containerSpec = service?.Spec?.TaskTemplate?.ContainerSpec;
    const configId = containerSpec?.Configs?.[0]?.ConfigID ?? parametersConfigName(runId);
    const secrets = (containerSpec?.Secrets ?? []).map((s) => ({ key: s.File?.Name ?? '', secretId: s.SecretID, secretName: s.SecretName }));
    await this.discard(service ? serviceId : undefined, configId, secrets, task);
  }

  async listManaged(instanceId = this.settings.instanceId): Promise<ManagedContainer[]> {
    try {
      const services = (await this.manager.listServices({
        filters: { label: [`${MANAGED_LABEL}=true`, `${INSTANCE_LABEL}=${instanceId}`] },
      })) as { ID: string; CreatedAt: string; Spec: { Labels?: Record<string, string> } }[];
      return services.map((s) => ({ containerId: s.ID, runId: s.Spec.Labels?.[RUN_ID_LABEL] ?? '', running: true, createdAt: new Date(s.CreatedAt) }));
    } catch (error) {
      throw engineError(error, 'listing sandrun services');
    }
  }

  async reap(isLive: (runId: string) => boolean, options: ReapOptions = {}): Promise<number> {
    const bornBefore = Date.now() - (options.minAgeMs ?? 0);
    const instanceId = options.instanceId ?? this.settings.instanceId;
    let removed = 0;
    for (const managed of await this.listManaged(instanceId)) {
      if (managed.createdAt.getTime() > bornBefore || (managed.runId && isLive(managed.runId))) continue;
      await this.manager.getService(managed.containerId).remove().then(() => (removed += 1), () => undefined);
    }
    type Listed = { ID: string; CreatedAt: string; Spec: { Labels?: Record<string, string> } }[];
    const byInstance = { filters: { label: [`${INSTANCE_LABEL}=${instanceId}`] } };
    const leftover = (item: Listed[number]) => {
      const runId = item.Spec.Labels?.[RUN_ID_LABEL] ?? '';
      return new Date(item.CreatedAt).getTime() <= bornBefore && !(runId && isLive(runId));
    };
    // Either is refused while a service still uses it, and tried again next pass.
    for (const config of ((await this.manager.listConfigs(byInstance).catch(() => [])) as Listed).filter(leftover)) {
      await this.manager.getConfig(config.ID).remove().catch(() => undefined);
    }
    for (const secret of ((await this.manager.listSecrets(byInstance).catch(() => [])) as Listed).filter(leftover)) {
      await this.manager.getSecret(secret.ID).remove().catch(() => undefined);
    }
    // Workspace images are leased by this process. Another instance is reaped only once none of its servers is live
    // (takeover.ts sweepInstances): a server killed for good would leave its images on every node for ever.
    if (instanceId === this.settings.instanceId) await this.removeIdleImages(this.settings.imageIdleMs ?? DEFAULT_IMAGE_IDLE_MS);
    else await this.removeDeadInstanceImages(instanceId);
    return removed;
  }

  /** There is no warm pool on the swarm. */
  async releaseWarm(): Promise<void> {}

  async removeAll(): Promise<void> {
    await this.reap(() => false);
    await this.removeIdleImages(0);
  }

  /** Nothing made for runs stays on the nodes after a clean stop, as on the Docker backend (its warm containers). */
  async close(): Promise<void> {
    await this.removals.drain();
    await this.removeIdleImages(0).catch(() => undefined);
  }

  private async removeDeadInstanceImages(instanceId: string): Promise<void> {
    const nodes = await this.nodes.ready().catch(() => undefined);
    if (nodes) await removeUnusedImages(managedLabels('workspace', { ...this.settings, instanceId }), [...nodes.values()].map((n) => n.engine));
  }

  private async removeIdleImages(idleMs: number): Promise<void> {
    const nodes = await this.nodes.ready().catch(() => undefined);
    if (nodes) await this.images.removeIdle(idleMs, [...nodes.values()].map((n) => n.engine));
  }
}

