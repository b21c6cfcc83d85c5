// The retention job: past a tenant's retention, finished runs lose their logs, outputs and artifacts (not their rows), unused checkouts and artifacts' bytes go, and the database file shrinks.
import { setImmediate as yieldToRequests } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { CheckoutCache } from '../projects/checkouts.ts';
import type { ArtifactBlobs } from '../artifacts/artifact-blobs.ts';
import type { RetentionStore } from '../store/retention-store.ts';
import type { IdempotencyKeys } from '../store/idempotency-keys.ts';
import { IDEMPOTENCY_WINDOW_MS } from './idempotency.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Small batches, each its own short transaction, with the event loop free in between: requests never wait long. */
const PURGE_BATCH = 100;
const VACUUM_PAGES_PER_STEP = 512;

export interface RetentionReport {
  runsPurged: number;
  checkoutsRemoved: number;
  keysExpired: number;
  /** Stored artifact files no run references any more. */
  artifactFilesRemoved: number;
}

export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RetentionReport> | undefined;

  constructor(
    private readonly store: RetentionStore,
    private readonly idempotencyKeys: IdempotencyKeys,
    private readonly checkouts: CheckoutCache,
    private readonly artifacts: ArtifactBlobs,
    private readonly defaultDays: number,
    private readonly logger: Logger,
    /** Called before a project's unused checkout is removed (the sandbox drops warm containers that mount it). */
    private readonly beforeCheckoutRemoved?: (projectId: string) => Promise<void>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Runs a pass every `intervalMs` (unref'd: it never keeps the process alive). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.runOnce().catch((error: unknown) => this.logger.warn({ err: error }, 'retention pass failed'));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a pass in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass; a pass already under way is joined rather than doubled. */
  runOnce(): Promise<RetentionReport> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<RetentionReport> {
    const at = this.now();
    const report: RetentionReport = { runsPurged: 0, checkoutsRemoved: 0, keysExpired: 0, artifactFilesRemoved: 0 };
    for (const tenant of await this.store.tenants()) {
      const before = new Date(at.getTime() - (tenant.retentionDays ?? this.defaultDays) * DAY_MS).toISOString();
      for (;;) {
        const purged = await this.store.purgeBatch(tenant.tenantId, before, at.toISOString(), PURGE_BATCH);
        report.runsPurged += purged;
        await yieldToRequests();
        if (purged < PURGE_BATCH) break;
      }
    }
    report.keysExpired = await this.idempotencyKeys.expire(new Date(at.getTime() - IDEMPOTENCY_WINDOW_MS).toISOString());
    report.artifactFilesRemoved = await this.artifacts.sweep((sha256) => this.store.isArtifactReferenced(sha256));
    report.checkoutsRemoved = await this.checkouts.prune((projectId, commitSha) => this.store.isCheckoutReferenced(projectId, commitSha), this.beforeCheckoutRemoved);
    if (report.runsPurged > 0 || report.keysExpired > 0) {
      while ((await this.store.vacuumStep(VACUUM_PAGES_PER_STEP)) > 0) await yieldToRequests();
      await this.store.checkpoint();
    }
    if (report.runsPurged || report.checkoutsRemoved || report.artifactFilesRemoved) this.logger.info(report, 'retention pass');
    return report;
  }
}
