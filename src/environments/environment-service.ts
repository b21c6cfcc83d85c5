// Project environments (SPEC §9): which image a run of a commit uses, one build per distinct environment however many
// runs wait for it, its state for the project view, and the removal of images no run has used for a while.
import type { Logger } from 'pino';
import type { BuildSettings } from '../config.ts';
import { SandrunError, errorMessage } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { EnvironmentDeclaration } from '../projects/manifest.ts';
import type { EnvironmentView } from '../projects/project-view.ts';
import type { EnvironmentInputs } from '../projects/environment-files.ts';
import type { BaseImage, EnvironmentImages } from '../sandbox/environment-images.ts';
import type { EnvironmentRecord, EnvironmentStore } from '../store/environment-store.ts';
import { FAILURE_LOG_TAIL_BYTES } from '../sandbox/environment-build.ts';
import { BuildLogs } from './build-logs.ts';
import { CommitEnvironments } from './commit-environments.ts';
import { pipOf, resolveEnvironment, type ResolvedEnvironment as Resolved } from './environment-recipe.ts';
import { WaitingSlots } from './waiting-slots.ts';
import { WheelDirectory } from './wheel-listing.ts';

export type { EnvironmentView } from '../projects/project-view.ts';

/** What a run or a project view asks about: a project's declared environment at one commit on one base image. */
export interface EnvironmentTarget {
  tenantId: string;
  projectId: string;
  projectName: string;
  commitSha: string;
  baseImage: string;
  declaration: EnvironmentDeclaration;
}

export interface EnvironmentServiceDeps {
  store: EnvironmentStore;
  images: EnvironmentImages;
  /** The declared files at the commit, checked (projects/environment-files.ts). */
  readInputs: (target: EnvironmentTarget) => Promise<EnvironmentInputs>;
  settings: BuildSettings;
  /** CAs the package sources are checked against (SANDRUN_BUILD_CA_FILE); undefined: Debian's, installed in the build. */
  caFile: string | undefined;
  metrics: Metrics;
  audit: AuditLog;
  logger: Logger;
  now?: () => Date;
}

/** A failed build is the answer for runs of the same environment for this long (a burst of runs does not rebuild it each time). */
export const FAILED_BUILD_REUSE_MS = 60_000;
/** Commits whose environment's inputs and key are kept (docs/decisions.md, "The environment key of a commit seen before"). */
const COMMITS_KEPT = { maxEntries: 512, maxBytes: 64 * 1024 * 1024 };
const BASE_ID_TTL_MS = 5_000;
const PRESENT_TTL_MS = 5_000;
const TOUCH_INTERVAL_MS = 60_000;


export class EnvironmentService {
  private readonly inFlight = new Map<string, Promise<string>>();
  private readonly commits = new CommitEnvironments(COMMITS_KEPT);
  /** The operator's wheel directory, listed at most once per few seconds; undefined without one. */
  private readonly wheels: WheelDirectory | undefined;
  /** A base image's ID, briefly: a runner image rebuilt by `npm run images` is seen within seconds. */
  private readonly bases = new Map<string, { at: number; base: Promise<BaseImage> }>();
  private readonly slots: WaitingSlots;
  readonly logs = new BuildLogs();
  private readonly now: () => Date;
  private readonly closing = new AbortController();
  private readonly seenPresent = new Map<string, number>();
  private readonly touched = new Map<string, number>();

  constructor(private readonly deps: EnvironmentServiceDeps) {
    this.slots = new WaitingSlots(deps.settings.maxConcurrent);
    this.now = deps.now ?? (() => new Date());
    this.wheels = deps.settings.pipFindLinks === undefined ? undefined : new WheelDirectory(deps.settings.pipFindLinks, () => this.now().getTime());
  }

  /** Builds a previous process left unfinished have no outcome: forgotten, so the next run builds again. */
  async recover(): Promise<void> {
    for (const record of await this.deps.store.building()) await this.deps.store.remove(record.key);
  }

  /**
   * The image a run of `target` uses, built first when it is not (`onBuilding` is told then, with what is built).
   * environment_failed when the declared files break a rule or the build fails; the signal only stops this wait, not a
   * build other runs may share.
   */
  async imageFor(target: EnvironmentTarget, options: { signal?: AbortSignal; onBuilding?: (message: string) => void } = {}): Promise<string> {
    const resolved = await this.resolve(target);
    const record = await this.deps.store.get(resolved.key);
    if (await this.ready(resolved, record, 'run')) {
      this.touch(resolved.key);
      this.deps.metrics.environmentCacheHits.inc();
      return resolved.tag;
    }
    if (record?.status === 'failed' && !this.inFlight.has(resolved.key) && this.recentlyFailed(record)) throw failedBuild(record);
    options.onBuilding?.(`waiting for the project's environment to be built (${resolved.summary}); the run starts when it is ready`);
    return abortable(this.buildOnce(target, resolved, 'run'), options.signal);
  }

  /**
   * The environment of `target` as the project view shows it: `none` when nothing is declared (key null) or when it is
   * declared but has no image (key set: never built, or removed when idle; the next run or build request builds it).
   */
  async view(target: Omit<EnvironmentTarget, 'declaration'> & { declaration: EnvironmentDeclaration | undefined }): Promise<EnvironmentView> {
    if (!target.declaration) return { status: 'none', log: '', built_at: null, key: null, error: null };
    let resolved: Resolved;
    try {
      resolved = await this.resolve({ ...target, declaration: target.declaration });
    } catch (error) {
      if (error instanceof SandrunError && error.code === 'environment_failed') return { status: 'failed', log: '', built_at: null, key: null, error: error.message };
      throw error;
    }
    if (!(await this.deps.store.get(resolved.key)) && !this.inFlight.has(resolved.key)) return { status: 'none', log: '', built_at: null, key: resolved.key, error: null };
    return this.viewOf(resolved.key);
  }

  /** The view of `key` once the build of it under way, if any, has ended (its followers' last word). */
  async settled(key: string): Promise<EnvironmentView> {
    await this.inFlight.get(key)?.catch(() => undefined);
    return this.viewOf(key);
  }

  /** Builds `target`'s environment now (again, even when it failed a moment ago); resolves once it is under way. */
  async build(target: EnvironmentTarget): Promise<EnvironmentView> {
    const resolved = await this.resolve(target);
    if (!(await this.ready(resolved, await this.deps.store.get(resolved.key), 'request'))) this.buildOnce(target, resolved, 'request').catch(() => undefined);
    return this.viewOf(resolved.key);
  }

  async viewOf(key: string): Promise<EnvironmentView> {
    const record = await this.deps.store.get(key);
    if (!record) return { status: 'building', log: '', built_at: null, key, error: null };
    const building = record.status === 'building' || this.inFlight.has(key);
    return {
      status: building ? 'building' : record.status,
      log: building ? this.logs.tail(key) : record.log,
      built_at: record.status === 'ready' ? record.finishedAt : null,
      key,
      error: record.status === 'failed' && !building ? record.errorMessage : null,
    };
  }

  /** Stops the builds under way and waits for them to settle: they leave no record, as if never started. */
  async close(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Removes environment images no run has used for the idle time; returns how many. */
  async sweep(): Promise<number> {
    const before = new Date(this.now().getTime() - this.deps.settings.idleMs).toISOString();
    let removed = 0;
    for (const record of await this.deps.store.idleSince(before)) {
      if (this.inFlight.has(record.key)) continue;
      await this.removeEnvironment(record, 'idle');
      removed += 1;
    }
    return removed;
  }

  /** A tenant keeps at most SANDRUN_TENANT_MAX_ENVIRONMENTS: a new one replaces its least recently used. */
  private async makeRoom(tenantId: string, key: string): Promise<void> {
    const others = (await this.deps.store.ofTenant(tenantId)).filter((record) => record.key !== key && !this.inFlight.has(record.key));
    const excess = others.length - (this.deps.settings.tenantMaxEnvironments - 1);
    for (const record of others.slice(0, Math.max(0, excess))) await this.removeEnvironment(record, 'the tenant reached its most environments');
  }

  private async removeEnvironment(record: EnvironmentRecord, why: string): Promise<void> {
    this.seenPresent.delete(record.tag);
    this.touched.delete(record.key);
    await this.deps.images.remove(record.tag);
    await this.deps.store.remove(record.key);
    this.deps.logger.info({ environment: record.key, tenantId: record.tenantId, tag: record.tag, lastUsedAt: record.lastUsedAt, why }, 'removed an environment image');
  }

  private baseOf(image: string): Promise<BaseImage> {
    const cached = this.bases.get(image);
    if (cached && performance.now() - cached.at < BASE_ID_TTL_MS) return cached.base;
    const base = this.deps.images.base(image);
    base.catch(() => this.bases.delete(image));
    this.bases.set(image, { at: performance.now(), base });
    return base;
  }

  /**
   * Whether `resolved` is built and its image is on the engine (an image removed from the engine is built again), for
   * a run and a build request alike. A run believes a yes for a few seconds (its hot path asks no engine then); a build
   * request, rare and meant to make sure, asks the engine, and what it hears serves the runs after it.
   */
  private async ready(resolved: Resolved, record: EnvironmentRecord | undefined, asker: 'run' | 'request'): Promise<boolean> {
    return record?.status === 'ready' && !this.inFlight.has(resolved.key) && (await this.present(resolved.tag, asker === 'run'));
  }

  private async present(tag: string, believeRecentYes: boolean): Promise<boolean> {
    const seen = this.seenPresent.get(tag);
    if (believeRecentYes && seen !== undefined && performance.now() - seen < PRESENT_TTL_MS) return true;
    const present = await this.deps.images.has(tag);
    if (present) this.seenPresent.set(tag, performance.now());
    else this.seenPresent.delete(tag);
    return present;
  }

  /** Its last use, written at most once a minute per environment: enough for an idle time counted in days. */
  private touch(key: string): void {
    const now = this.now();
    const last = this.touched.get(key);
    if (last !== undefined && now.getTime() - last < TOUCH_INTERVAL_MS) return;
    this.touched.set(key, now.getTime());
    // Not awaited: the run need not wait for a bookkeeping write; a failed one is logged, and the next use writes again.
    this.deps.store.touch(key, now.toISOString()).catch((error: unknown) => {
      this.touched.delete(key);
      this.deps.logger.warn({ err: error, environment: key }, "recording an environment's last use failed");
    });
  }

  private recentlyFailed(record: EnvironmentRecord): boolean {
    return record.finishedAt !== null && this.now().getTime() - Date.parse(record.finishedAt) < FAILED_BUILD_REUSE_MS;
  }

  /** One build per key at a time: later callers wait for the one under way. */
  private buildOnce(target: EnvironmentTarget, resolved: Resolved, cause: 'run' | 'request'): Promise<string> {
    let build = this.inFlight.get(resolved.key);
    if (!build) {
      build = this.runBuild(target, resolved, cause).finally(() => this.inFlight.delete(resolved.key));
      this.inFlight.set(resolved.key, build);
    }
    return build;
  }

  private async runBuild(target: EnvironmentTarget, resolved: Resolved, cause: 'run' | 'request'): Promise<string> {
    const { store, images, settings, metrics, logger } = this.deps;
    this.closing.signal.throwIfAborted();
    await this.makeRoom(target.tenantId, resolved.key);
    await store.start(resolved.key, target.tenantId, resolved.tag, target.baseImage, this.now().toISOString());
    this.logs.open(resolved.key);
    const started = performance.now();
    logger.info({ environment: resolved.key, project: target.projectName, tenantId: target.tenantId, cause }, 'environment build started');
    try {
      const built = await this.slots.run(target.tenantId, () =>
        images.build(resolved.build, { timeoutMs: settings.timeoutMs, memoryMb: settings.memoryMb, maxImageBytes: settings.maxImageBytes, network: settings.network }, {
          signal: this.closing.signal,
          onLog: (text) => this.logs.push(resolved.key, text),
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      await store.finish(resolved.key, { status: 'ready', log: this.logs.tail(resolved.key), errorMessage: null, imageId: built.imageId, sizeBytes: built.sizeBytes, buildSeconds: seconds }, this.now().toISOString());
      metrics.environmentBuilds.inc({ result: 'ready' });
      metrics.environmentBuildSeconds.observe({ result: 'ready' }, seconds);
      await this.audit(target, 'ok', null);
      logger.info({ environment: resolved.key, project: target.projectName, seconds, sizeBytes: built.sizeBytes }, 'environment built');
      return resolved.tag;
    } catch (error) {
      if (this.closing.signal.aborted) {
        await store.remove(resolved.key);
        throw error;
      }
      const seconds = (performance.now() - started) / 1000;
      const failure = asBuildFailure(error, this.logs.tail(resolved.key));
      await store.finish(resolved.key, { status: 'failed', log: this.logs.tail(resolved.key), errorMessage: failure.message, imageId: null, sizeBytes: null, buildSeconds: seconds }, this.now().toISOString());
      metrics.environmentBuilds.inc({ result: 'failed' });
      metrics.environmentBuildSeconds.observe({ result: 'failed' }, seconds);
      await this.audit(target, 'failed', failure.code);
      logger.warn({ environment: resolved.key, project: target.projectName, err: failure.message }, 'environment build failed');
      throw failure;
    } finally {
      this.logs.close(resolved.key);
    }
  }

  /** An audit entry the build's outcome does not depend on: a failure to write it is logged. */
  private async audit(target: EnvironmentTarget, outcome: 'ok' | 'failed', errorCode: string | null): Promise<void> {
    await this.deps.audit
      .record({
        tenantId: target.tenantId,
        credentialId: null,
        action: 'environment.build',
        target: target.projectName,
        status: outcome === 'ok' ? 200 : 422,
        outcome,
        errorCode,
        sourceAddress: null,
        requestId: null,
      })
      .catch((error: unknown) => this.deps.logger.error({ err: error, environment: target.projectName }, 'could not append the build to the audit log'));
  }

  /**
   * The environment's key and build (environment-recipe.ts), from the base image's ID, the checked inputs and the wheel
   * listing; kept per commit, so a run of a commit seen before reads and hashes no declared file again. The other
   * package sources are the server's settings, the same for its whole life.
   */
  private async resolve(target: EnvironmentTarget): Promise<Resolved> {
    const commit = this.commits.get(`${target.projectId}@${target.commitSha}:${JSON.stringify(target.declaration)}`, () => this.deps.readInputs(target));
    const [base, inputs] = await Promise.all([this.baseOf(target.baseImage), commit.inputs]);
    const wheels = pipOf(inputs) && this.wheels ? await this.wheels.listing() : null;
    const sources = JSON.stringify([target.tenantId, base.id, wheels?.digest ?? null]);
    if (commit.resolved?.sources !== sources) {
      const environment = resolveEnvironment({ tenantId: target.tenantId, base, inputs, wheels: wheels?.files ?? null, settings: this.deps.settings, caFile: this.deps.caFile });
      commit.resolved = { sources, environment };
    }
    return commit.resolved.environment;
  }

}


function failedBuild(record: EnvironmentRecord): SandrunError {
  return new SandrunError('environment_failed', record.errorMessage ?? 'the environment build failed', { log: record.log.slice(-FAILURE_LOG_TAIL_BYTES) });
}

/** Every failure of a build reaches the run as environment_failed with the log's tail, except the engine going away. */
function asBuildFailure(error: unknown, log: string): SandrunError {
  if (error instanceof SandrunError && (error.code === 'environment_failed' || error.code === 'engine_unavailable')) return error;
  return new SandrunError('environment_failed', `the environment build failed: ${errorMessage(error)}`, { log: log.slice(-FAILURE_LOG_TAIL_BYTES) }, { cause: error });
}

/** Waits for `promise` unless the signal fires first (the work itself goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
