// The run lifecycle (pending → running → terminal): submit, execute, get, list, cancel. One implementation for REST, MCP and CLI.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { SandrunError } from '../errors.ts';
import type { ProjectService } from '../projects/project-service.ts';
import { planRun } from '../projects/run-plan.ts';
import type { ArtifactSink, SandboxBackend, SandboxResult } from '../sandbox/backend.ts';
import type { ArtifactBlobs } from '../artifacts/artifact-blobs.ts';
import { isTerminal, type RunStatus } from '../run-status.ts';
import type { NewRun, RunCompletion, RunRecord, RunSnapshot, RunStore } from '../store/run-store.ts';
import type { IdempotencyKey, StoredKey } from '../store/idempotency-keys.ts';
import type { ProjectRecord } from '../store/project-store.ts';
import type { LiveLogs } from './live-logs.ts';
import type { RunSignals } from '../cluster/run-signals.ts';
import { waitForFinish } from '../cluster/finish-wait.ts';
import type { RunOwnership } from '../cluster/membership.ts';
import { cancelledBeforeStart, completionFromFailure, completionFromSandbox } from './run-outcome.ts';
import { IDEMPOTENCY_WINDOW_MS, parseIdempotencyKey, requestHash } from './idempotency.ts';
import { assertWithinDailyCpu } from './quota.ts';
import { parseRunRequest, type RunRequest } from './run-request.ts';
import { dataSnapshotRef } from './data-snapshot.ts';
import { outputsMatch } from './outputs-match.ts';
import { diskFullError, type DiskGuard } from './disk-guard.ts';
import type { EngineGate } from './engine-gate.ts';
import type { FairScheduler } from './scheduler.ts';
import { delay } from '../delay.ts';
import type { EnvironmentService } from '../environments/environment-service.ts';
import type { EnvironmentDeclaration, ResolvedManifest } from '../projects/manifest.ts';
import type { EgressGrant } from '../egress/egress-files.ts';
import { grantsFor } from '../egress/egress-rules.ts';

/** What a run's manifest asks of the platform beyond its command: an environment's image (null: none), network grants. */
export interface RunNeeds {
  environment: EnvironmentDeclaration | null;
  grants: EgressGrant[];
}

/** `replayed`: an earlier submission with the same idempotency key made this run. */
export type SubmitResult = { mode: 'sync' | 'async'; run: RunRecord; replayed: boolean };

export interface SubmitOptions {
  /** Same key, same tenant, within 24 h: the same run instead of a new one (409 if the body differs). */
  idempotencyKey?: string;
}

export interface RunListOptions {
  projectName?: string;
  status?: RunStatus;
  limit: number;
  cursor?: string;
}

/** Everything the run service works with, built by the composition root (src/sandrun.ts). */
export interface RunServiceDeps {
  runs: RunStore;
  projects: ProjectService;
  sandbox: SandboxBackend;
  scheduler: FairScheduler;
  liveLogs: LiveLogs;
  /** Runs' ends and cancels between the servers of one service (in-process when this process is the whole service). */
  signals: RunSignals;
  /** Which server answers for each run (membership.ts): recorded with each run this one accepts. */
  ownership: Pick<RunOwnership, 'serverId' | 'claimIfOrphaned'>;
  config: Pick<Config, 'defaultImage' | 'defaultLimits' | 'maxLimits' | 'minPids' | 'tenantDailyCpuSeconds' | 'parametersMaxDepth' | 'egressAllow'>;
  /** Why this server cannot give a run network access yet (SPEC §11): a run granted any is refused with it; null when it can. */
  egressUnavailable: string | null;
  logger: Logger;
  metrics: Metrics;
  /** Whether the engine answers: runs wait for it, sync requests are refused while it is down. */
  engine: EngineGate;
  disk: DiskGuard;
  /** Project environments (SPEC §9): a run whose project declares one waits, pending, for its image. */
  environments: EnvironmentService;
  /** The project's secret values (SPEC §10), read when its run starts: each becomes /run/secrets/KEY. */
  secretsOf: (projectId: string) => Promise<Record<string, string>>;
  /** Told of each run once it is terminal and recorded (webhooks queue their deliveries); must not throw. */
  /** Told of each run's end before its waiters are; whatever it writes (webhook deliveries) is there when they read. */
  onFinished: (run: RunRecord) => Promise<void>;
  /** Where runs' files under /outputs are kept (SPEC §12). */
  artifacts: ArtifactBlobs;
  /** The clock (tests may pin it). */
  now?: () => Date;
}

/** Starts of one run's container that the engine may stop before the command starts, before the run ends in error. */
const MAX_START_ATTEMPTS = 5;

export class RunService {
  private readonly active = new Map<string, AbortController>();
  private readonly finished = new Map<string, { promise: Promise<RunRecord>; resolve: (run: RunRecord) => void }>();
  /** Runs waiting for their environment before they queue; aborting one gives its wait up (cancel, shutdown). */
  private readonly preparing = new Map<string, AbortController>();
  /** The write of each started run's start, awaited before its end is written. */
  private readonly markings = new Map<string, Promise<unknown>>();
  private stopping = false;

  private readonly runs: RunStore;
  private readonly projects: ProjectService;
  private readonly sandbox: SandboxBackend;
  private readonly scheduler: FairScheduler;
  private readonly liveLogs: LiveLogs;
  private readonly signals: RunSignals;
  private readonly ownership: RunServiceDeps['ownership'];
  private readonly config: RunServiceDeps['config'];
  private readonly logger: Logger;
  private readonly metrics: Metrics;
  private readonly engine: EngineGate;
  private readonly disk: DiskGuard;
  private readonly environments: EnvironmentService;
  private readonly secretsOf: (projectId: string) => Promise<Record<string, string>>;
  private readonly onFinished: (run: RunRecord) => Promise<void>;
  private readonly artifacts: ArtifactBlobs;
  private readonly egressUnavailable: string | null;
  private readonly now: () => Date;

  constructor(deps: RunServiceDeps) {
    ({ runs: this.runs, projects: this.projects, sandbox: this.sandbox, scheduler: this.scheduler, liveLogs: this.liveLogs } = deps);
    ({ config: this.config, logger: this.logger, metrics: this.metrics, engine: this.engine, disk: this.disk, environments: this.environments, secretsOf: this.secretsOf } = deps);
    this.egressUnavailable = deps.egressUnavailable;
    this.onFinished = deps.onFinished;
    this.artifacts = deps.artifacts;
    this.now = deps.now ?? (() => new Date());
    this.signals = deps.signals;
    this.ownership = deps.ownership;
    // A cancel asked of another server, for a run this one holds (queued, preparing or running).
    this.signals.subscribeAll((signal) => {
      if (signal.type !== 'cancel') return;
      this.cancelHere(signal.runId)?.catch((error: unknown) => this.logger.warn({ runId: signal.runId, err: error }, 'cancelling a run for another server failed'));
    });
  }

  /** Validates, resolves and records a run, queues it, and (sync) waits for its terminal state. */
  async submit(tenantId: string, input: unknown, options: SubmitOptions = {}): Promise<SubmitResult> {
    return this.submitRequest(tenantId, parseRunRequest(input, this.config), options, null);
  }

  /**
   * POST /v1/runs/{id}/replay (SPEC §12): an async run of the same project, commit, scope, model and parameters as a
   * finished run (branch null: a branch that moved since must not move the replay), recorded as its replay. The
   * manifest is read again at that commit, so the plan is the same; refused (409) for a run that has not finished,
   * never started, or whose outputs retention removed (nothing left to compare with).
   */
  async replayRun(tenantId: string, runId: string, options: SubmitOptions = {}): Promise<SubmitResult> {
    const original = await this.get(tenantId, runId);
    if (!isTerminal(original.status)) throw new SandrunError('conflict', `run ${runId} is ${original.status}; only a finished run can be replayed`);
    if (original.startedAt === null) {
      throw new SandrunError('conflict', `run ${runId} never started (${original.status}${original.error ? `: ${original.error.code}` : ''}), so it has no result to reproduce; submit it again instead`);
    }
    if (original.purgedAt !== null) throw new SandrunError('conflict', `run ${runId}'s outputs were removed by retention at ${original.purgedAt}; there is nothing to compare a replay with`);
    const request = parseRunRequest(
      {
        scope: original.scope,
        mode: 'async',
        project_name: original.projectName,
        model_name: original.modelName,
        commit_sha: original.commitSha,
        parameters: original.parameters,
      },
      this.config,
    );
    return this.submitRequest(tenantId, request, options, original.id);
  }

  private async submitRequest(tenantId: string, request: RunRequest, options: SubmitOptions, replayOf: string | null): Promise<SubmitResult> {
    const key =
      options.idempotencyKey === undefined ? undefined : { tenantId, key: parseIdempotencyKey(options.idempotencyKey), requestHash: requestHash(request, replayOf) };
    const notBefore = new Date(this.now().getTime() - IDEMPOTENCY_WINDOW_MS).toISOString();
    const earlier = key && (await this.runs.idempotencyKeys.find(tenantId, key.key, notBefore));
    if (key && earlier) return this.replay(request.mode, key, earlier);
    const project = await this.projects.require(tenantId, request.project_name);
    const { commitSha, warning } = await this.projects.resolve(project, { branch: request.branch, commitSha: request.commit_sha });
    // Refused now (422) rather than accepted and ended as an error when its checkout is built; and before its tree is read.
    await this.projects.assertCheckoutFits(project, commitSha);
    const manifest = await this.projects.manifestAt(project, commitSha);
    const plan = planRun(manifest, { scope: request.scope, modelName: request.model_name, projectName: project.name }, this.config);
    // Refused now, naming each destination the operator's rules do not cover (SPEC §11), before anything is recorded.
    const grants = this.grantsOf(manifest);
    if (request.mode === 'sync' && !this.engine.available) {
      throw new SandrunError(
        'engine_unavailable',
        `the Docker engine is not answering (${this.engine.reason}); sync runs are refused until it is back, async runs are queued and start then`,
      );
    }
    await assertWithinDailyCpu(this.runs, tenantId, this.config.tenantDailyCpuSeconds, this.now());
    this.scheduler.assertCapacity(tenantId);
    this.disk.assertRoom();
    // The run's place in the queue is held from the capacity check, through the insert's await, to its enqueue: runs
    // submitted side by side cannot all pass the check and then all be queued past the limit.
    const releasePlace = this.scheduler.reserve(tenantId);
    try {
      return await this.recordAndQueue(request, project, manifest, grants, key, notBefore, {
        id: randomUUID(),
        tenantId,
        projectId: project.id,
        projectName: project.name,
        scope: request.scope,
        modelName: request.scope === 'model' ? (request.model_name ?? null) : null,
        branch: request.branch ?? null,
        commitSha,
        parameters: request.parameters ?? {},
        image: plan.image,
        command: plan.command,
        limits: plan.limits,
        warning,
        replayOf,
        serverId: this.ownership.serverId,
      }, releasePlace);
    } finally {
      releasePlace();
    }
  }

  private async recordAndQueue(
    request: RunRequest,
    project: ProjectRecord,
    manifest: ResolvedManifest,
    grants: EgressGrant[],
    key: IdempotencyKey | undefined,
    notBefore: string,
    newRun: NewRun,
    releasePlace: () => void,
  ): Promise<SubmitResult> {
    const createdAt = this.now().toISOString();
    let run: RunRecord;
    if (key) {
      // Another submission with this key may have been recorded while this one resolved the commit.
      const inserted = await this.runs.insertOnce(newRun, createdAt, key, notBefore, this.scheduler.admission);
      if (inserted.existing) {
        releasePlace();
        return this.replay(request.mode, key, inserted.existing);
      }
      run = inserted.run;
    } else {
      // Several servers: the service's queue limits are decided in the insert (scheduler.admission); one: above, in memory.
      run = await this.runs.insert(newRun, createdAt, this.scheduler.admission);
    }
    this.logger.info({ runId: run.id, tenantId: run.tenantId, project: project.name, runNumber: run.runNumber }, 'run queued');
    releasePlace();
    this.enqueue(run, project, { environment: manifest.environment ?? null, grants });
    if (request.mode === 'async') return { mode: 'async', run, replayed: false };
    return { mode: 'sync', run: await this.waitForTerminal(run.id), replayed: false };
  }

  /** The answer to a repeated submission: the key's run (sync: once terminal), or 409 when the body differs. */
  private async replay(mode: 'sync' | 'async', key: IdempotencyKey, earlier: StoredKey): Promise<SubmitResult> {
    if (earlier.requestHash !== key.requestHash) {
      throw new SandrunError('conflict', `idempotency key '${key.key}' was used at ${earlier.createdAt} for a different request; use a new key for a new request`, {
        run_id: earlier.runId,
      });
    }
    const run = mode === 'async' ? (await this.runs.get(earlier.runId))! : await this.waitForTerminal(earlier.runId);
    return { mode, run, replayed: true };
  }

  /**
   * The destinations the project's manifest asks for, as the operator's rules grant them (SPEC §11); egress_denied
   * naming each one they do not cover, or when this server cannot give runs network access.
   */
  private grantsOf(manifest: ResolvedManifest): EgressGrant[] {
    const grants = grantsFor(this.config.egressAllow, manifest.network?.allow ?? []);
    if (grants.length > 0 && this.egressUnavailable !== null) {
      throw new SandrunError('egress_denied', `network.allow: ${this.egressUnavailable}`, { grants: grants.map(({ host, port }) => ({ host, port })) });
    }
    return grants;
  }

  /**
   * Queues a pending run (new, or found pending at start-up), once its environment's image is there: `needs` is what
   * its manifest asks for, or undefined when the caller has not read the manifest (it is read, and the grants
   * checked against today's rules, before the run is queued).
   */
  enqueue(run: RunRecord, project: ProjectRecord, needs?: RunNeeds): void {
    this.trackCompletion(run.id);
    this.liveLogs.open(run.id);
    if (needs?.environment === null) this.schedule(run, project, run.image, needs.grants);
    else void this.prepare(run, project, needs);
  }

  private schedule(run: RunRecord, project: ProjectRecord, image: string, grants: EgressGrant[]): void {
    this.scheduler.enqueue({ runId: run.id, tenantId: run.tenantId, start: () => this.execute(run, project, image, grants) });
  }

  /** Waits (holding a place in the queue, not a run slot) for the run's environment image, then queues the run on it. */
  private async prepare(run: RunRecord, project: ProjectRecord, known: RunNeeds | undefined): Promise<void> {
    const release = this.scheduler.reserve(run.tenantId);
    const controller = new AbortController();
    this.preparing.set(run.id, controller);
    try {
      const needs = known ?? this.needsOf(await this.projects.manifestAt(project, run.commitSha));
      const environment = needs.environment;
      let waited = false;
      const image = environment
        ? await this.environments.imageFor(
            { tenantId: run.tenantId, projectId: project.id, projectName: project.name, commitSha: run.commitSha, baseImage: run.image, declaration: environment },
            {
              signal: controller.signal,
              onBuilding: (message) => {
                waited = true;
                this.runs.setStatusMessage(run.id, message).catch((error: unknown) => this.logger.warn({ runId: run.id, err: error }, "could not record what the run waits for"));
              },
            },
          )
        : run.image;
      if (waited) await this.runs.setStatusMessage(run.id, null);
      release();
      this.schedule(run, project, image, needs.grants);
    } catch (error) {
      release();
      // At shutdown the run stays pending; the next start prepares it again.
      if (this.stopping) return;
      if (!controller.signal.aborted) this.logger.warn({ runId: run.id, tenantId: run.tenantId, err: error }, 'the run\'s environment could not be made ready');
      await this.finish(run.id, controller.signal.aborted ? cancelledBeforeStart(this.now()) : completionFromFailure(error, this.now()));
    } finally {
      this.preparing.delete(run.id);
    }
  }

  private trackCompletion(runId: string): void {
    if (this.finished.has(runId)) return;
    let resolve!: (run: RunRecord) => void;
    const promise = new Promise<RunRecord>((done) => (resolve = done));
    this.finished.set(runId, { promise, resolve });
  }

  /** Resolves with the run once it is terminal. */
  async waitForTerminal(runId: string): Promise<RunRecord> {
    // Taken before the read: a run that ends while it is read has resolved its waiter by then, not lost it.
    const waiter = this.finished.get(runId);
    const current = await this.runs.get(runId);
    if (!current) throw new SandrunError('not_found', `run ${runId} not found`);
    if (isTerminal(current.status)) return current;
    if (waiter) return waiter.promise;
    if (!this.signals.spansServers) throw new SandrunError('internal', `run ${runId} is ${current.status} but not tracked by this server`);
    return waitForFinish(this.signals, runId, () => this.finishedRun(runId));
  }

  /**
   * The run once it is terminal, undefined while it is not: how a server learns of an end another one recorded (the
   * store is the source of truth; signals only say when to look).
   */
  async finishedRun(runId: string): Promise<RunRecord | undefined> {
    const run = await this.runs.get(runId);
    return run && isTerminal(run.status) ? run : undefined;
  }

  private needsOf(manifest: ResolvedManifest): RunNeeds {
    return { environment: manifest.environment ?? null, grants: this.grantsOf(manifest) };
  }

  private async execute(run: RunRecord, project: ProjectRecord, image: string, grants: EgressGrant[]): Promise<void> {
    const controller = new AbortController();
    this.active.set(run.id, controller);
    let completion: RunCompletion;
    this.metrics.queueWait.observe(Math.max(0, (this.now().getTime() - Date.parse(run.createdAt)) / 1000));
    // What the run stores stays held until its end (with its artifacts' rows) is recorded: no sweep takes it before.
    const artifacts = this.artifacts.forRun();
    try {
      this.disk.assertRoom();
      const workspaceDir = await this.projects.checkout(project, run.commitSha);
      controller.signal.throwIfAborted();
      const result = await this.runInSandbox({ ...run, image }, grants, workspaceDir, controller.signal, artifacts);
      completion = completionFromSandbox(result, run.limits);
    } catch (error) {
      completion = controller.signal.aborted ? cancelledBeforeStart(this.now()) : completionFromFailure(diskFullError(error) ?? error, this.now());
      if (!controller.signal.aborted) this.logger.warn({ runId: run.id, tenantId: run.tenantId, err: error }, 'run failed on the platform side');
    }
    try {
      await this.finish(run.id, completion);
    } finally {
      // Active until its end is recorded: a shutdown waits for that write before the database closes.
      this.active.delete(run.id);
      artifacts.release();
    }
  }

  /**
   * While the engine is down a run waits, still pending; if the engine fails before the command started, the run
   * waits for it to come back and tries again (nothing ran yet). A failure after the start is the run's end.
   */
  private async runInSandbox(run: RunRecord, grants: EgressGrant[], workspaceDir: string, signal: AbortSignal, artifacts: ArtifactSink): Promise<SandboxResult> {
    for (let attempt = 1; ; attempt += 1) {
      await this.engine.whenAvailable(signal);
      let started = false;
      try {
        // Asked of the engine each attempt, just before the start: the ID of what the tag names when the run starts.
        const imageId = await this.sandbox.imageId(run.image);
        const snapshot: RunSnapshot = {
          imageId,
          dataSnapshotRef: dataSnapshotRef({ ...run, imageId, egress: grants }),
        };
        return await this.startInSandbox(run, grants, workspaceDir, snapshot, signal, artifacts, () => (started = true));
      } catch (error) {
        const engineDown = error instanceof SandrunError && error.code === 'engine_unavailable';
        if (!engineDown || started || signal.aborted) throw error;
        // An engine that answers but stops every container of this run before it starts (a host killing it, an
        // image whose shell dies at once) would otherwise make a container after a container, for ever.
        if (attempt >= MAX_START_ATTEMPTS) {
          throw new SandrunError('engine_unavailable', `${error.message}; gave up after ${attempt} attempts to start this run's container`, undefined, { cause: error });
        }
        this.logger.warn({ runId: run.id, err: error.message, attempt }, 'the engine went away before the run started; it stays pending until the engine is back');
        this.engine.markDown(error);
      }
    }
  }

  private async startInSandbox(
    run: RunRecord,
    grants: EgressGrant[],
    workspaceDir: string,
    snapshot: RunSnapshot,
    signal: AbortSignal,
    artifacts: ArtifactSink,
    onStarted: () => void,
  ): Promise<SandboxResult> {
    const askedAt = performance.now();
    return this.sandbox.run(
      {
        runId: run.id,
        image: run.image,
        imageId: snapshot.imageId,
        command: run.command,
        workspaceDir,
        parameters: run.parameters,
        env: {
          SANDRUN_RUN_ID: run.id,
          SANDRUN_RUN_NUMBER: String(run.runNumber),
          SANDRUN_PROJECT: run.projectName,
          SANDRUN_MODEL: run.modelName ?? '',
          SANDRUN_COMMIT_SHA: run.commitSha,
        },
        limits: run.limits,
        secrets: await this.secretsOf(run.projectId),
        egress: grants,
        labels: { 'sandrun.tenant': run.tenantId, 'sandrun.project': run.projectName, 'sandrun.project_id': run.projectId },
      },
      {
        signal,
        onStart: (startedAt, sandboxRef) => {
          onStarted();
          this.metrics.containerStart.observe((performance.now() - askedAt) / 1000);
          this.markings.set(
            run.id,
            this.runs
              .markRunning(run.id, startedAt.toISOString(), snapshot, sandboxRef ?? null)
              .catch((error: unknown) => this.logger.error({ runId: run.id, err: error }, 'could not record the start of a run')),
          );
        },
        onLog: (stream, chunk) => this.liveLogs.push(run.id, stream, chunk),
        artifacts,
      },
    );
  }

  private async finish(runId: string, completion: RunCompletion): Promise<RunRecord> {
    // Its start is recorded before its end, never after it.
    await this.markings.get(runId);
    this.markings.delete(runId);
    try {
      await this.runs.complete(runId, { ...completion, outputsMatch: await this.comparedWithOriginal(runId, completion) });
    } catch (error) {
      // The database could not take the write (disk full): the row stays running and the next start reconciles it.
      this.logger.error({ runId, err: error }, 'could not record the end of a run');
    }
    const record = (await this.runs.get(runId))!;
    if (isTerminal(record.status)) await this.onFinished(record);
    this.liveLogs.close(runId);
    this.finished.get(runId)?.resolve(record);
    this.finished.delete(runId);
    this.signals.publish({ type: 'finished', runId });
    this.metrics.runsTotal.inc({ status: record.status, tenant: record.tenantId });
    if (record.durationSeconds !== null) this.metrics.runDuration.observe({ status: record.status }, record.durationSeconds);
    this.logger.info({ runId, tenantId: record.tenantId, status: record.status, exitCode: record.exitCode, durationSeconds: record.durationSeconds }, 'run finished');
    return record;
  }

  /**
   * A replay's outputs_match, recorded with its end (so no reader sees a finished replay without it): null for a run
   * that is not a replay, or whose original's outputs retention removed meanwhile.
   */
  private async comparedWithOriginal(runId: string, completion: RunCompletion): Promise<boolean | null> {
    const replayOf = await this.runs.replayOf(runId);
    if (!replayOf) return null;
    const original = await this.runs.get(replayOf);
    if (!original || original.purgedAt !== null) return null;
    return outputsMatch(original, completion);
  }

  async get(tenantId: string, runId: string): Promise<RunRecord> {
    const run = await this.runs.getForTenant(tenantId, runId);
    if (!run) throw new SandrunError('not_found', `run ${runId} not found`);
    return run;
  }

  async list(tenantId: string, options: RunListOptions): Promise<{ runs: RunRecord[]; nextCursor: string | null }> {
    const beforeSeq = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const runs = await this.runs.list({ tenantId, projectName: options.projectName, status: options.status, limit: options.limit + 1, beforeSeq });
    const page = runs.slice(0, options.limit);
    const nextCursor = runs.length > options.limit ? encodeCursor(page[page.length - 1]!.seq) : null;
    return { runs: page, nextCursor };
  }

  /** Cancels a pending or running run; 409 when it is already terminal. */
  async cancel(tenantId: string, runId: string): Promise<RunRecord> {
    const run = await this.get(tenantId, runId);
    if (isTerminal(run.status)) throw new SandrunError('conflict', `run ${runId} is already ${run.status}`);
    const here = this.cancelHere(runId);
    if (here) return here;
    if (!this.signals.spansServers) throw new SandrunError('conflict', `run ${runId} is ${run.status} but not handled by this server`);
    // Noted first: should its server be dead (or die before it hears the signal), whoever takes the run over cancels it.
    await this.runs.requestCancel(runId, this.now().toISOString());
    // Its server died or stopped: taken over here and cancelled now, rather than after the takeover's next pass.
    const orphan = await this.ownership.claimIfOrphaned(runId);
    if (orphan) return this.cancelTakenOver(orphan);
    // Another server holds it: that one cancels it, and its end reaches this one's wait.
    this.signals.publish({ type: 'cancel', runId });
    return this.waitForTerminal(runId);
  }

  /** Cancels a run just taken over from a dead or stopped server (a running one is adopted first, to stop its container). */
  cancelTakenOver(run: RunRecord): Promise<RunRecord> {
    if (run.status === 'running') this.adopt(run);
    return this.cancelHere(run.id) ?? this.finish(run.id, cancelledBeforeStart(this.now()));
  }

  /** Cancels the run if this server holds it (queued, preparing or running): its end once recorded; undefined if not. */
  private cancelHere(runId: string): Promise<RunRecord> | undefined {
    if (this.scheduler.remove(runId)) return Promise.resolve(this.finish(runId, cancelledBeforeStart(this.now())));
    const controller = this.preparing.get(runId) ?? this.active.get(runId);
    if (!controller) return undefined;
    controller.abort();
    return this.waitForTerminal(runId);
  }

  /**
   * Takes over a running run whose server is gone (adoption.ts): its container is followed to its end by the sandbox,
   * with live logs, cancel and its timeout (from its real start) as for a run started here. A run whose container is
   * gone ends error (server_restarted), saying so.
   */
  adopt(run: RunRecord): void {
    this.trackCompletion(run.id);
    this.liveLogs.open(run.id);
    const controller = new AbortController();
    this.active.set(run.id, controller);
    const artifacts = this.artifacts.forRun();
    void this.followAdopted(run, controller.signal, artifacts);
  }

  private async followAdopted(run: RunRecord, signal: AbortSignal, artifacts: ReturnType<ArtifactBlobs['forRun']>): Promise<void> {
    let completion: RunCompletion;
    try {
      const result = await this.sandbox.adopt(
        { runId: run.id, sandboxRef: run.sandboxRef, startedAt: new Date(run.startedAt ?? run.createdAt), limits: run.limits, secrets: await this.secretsOf(run.projectId) },
        { signal, onLog: (stream, chunk) => this.liveLogs.push(run.id, stream, chunk), artifacts },
      );
      completion = completionFromSandbox(result, run.limits);
    } catch (error) {
      if (error instanceof SandrunError && error.code === 'not_found') completion = this.lost(error.message);
      else {
        this.logger.warn({ runId: run.id, tenantId: run.tenantId, err: error }, 'an adopted run failed on the platform side');
        completion = completionFromFailure(error, this.now());
      }
    }
    try {
      await this.finish(run.id, completion);
    } finally {
      this.active.delete(run.id);
      artifacts.release();
    }
  }

  /** Marks a run that can no longer be carried out (reconciliation after a restart). */
  async abandon(runId: string, message: string): Promise<void> {
    await this.runs.complete(runId, this.lost(message));
    await this.onFinished((await this.runs.get(runId))!);
    this.signals.publish({ type: 'finished', runId });
  }

  /** The end of a run its server lost (it stopped while the run was running, and no container is left to adopt). */
  private lost(message: string): RunCompletion {
    return { ...completionFromFailure(new SandrunError('internal', message), this.now()), error: { code: 'server_restarted', message } };
  }

  /**
   * Stops starting runs, lets the running ones finish for up to graceMs, then cancels the rest and waits until each
   * is recorded; pending runs stay
   * pending and are queued again at the next start.
   */
  async shutdown(graceMs = 0): Promise<void> {
    this.stopping = true;
    this.scheduler.stop();
    for (const controller of this.preparing.values()) controller.abort();
    const recorded = Promise.all([...this.active.keys()].flatMap((runId) => this.finished.get(runId)?.promise ?? []));
    if (graceMs > 0 && this.active.size > 0) {
      this.logger.info({ running: this.active.size, graceMs }, 'letting running runs finish before stopping');
      await Promise.race([recorded, delay(graceMs)]);
    }
    for (const controller of this.active.values()) controller.abort();
    await recorded;
  }

  /** True while this process is carrying out the run (its container, if any, is in use). */
  isActive(runId: string): boolean {
    return this.active.has(runId);
  }
}

function encodeCursor(seq: number): string {
  return Buffer.from(`seq:${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^seq:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new SandrunError('invalid_request', 'cursor: not a cursor this server returned');
  return Number(match[1]);
}
