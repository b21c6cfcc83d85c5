// The scheduler of one server among several (PostgreSQL): the queue and concurrency limits held for the whole service, fairness between tenants as in one process.
import type { Logger } from 'pino';
import type { RunSignals } from '../cluster/run-signals.ts';
import type { Admission, QueueCounts, SlotAnswer, SlotLimits } from '../store/run-slots.ts';
import { FairScheduler, serviceQueueFull, tenantQueueFull, type TenantLimits } from './scheduler.ts';

/** How often a server whose queued runs wait for a slot asks again although no run's end was signalled (a lost signal). */
export const SLOT_RETRY_MS = 2_000;

/** The service's run slots (src/store/run-slots.ts). */
export interface RunSlots {
  claim(runId: string, tenantId: string, limits: SlotLimits, at: string): Promise<SlotAnswer>;
}

export interface ServiceSchedulerDeps {
  maxConcurrent: number;
  maxQueued: number;
  tenantLimits: TenantLimits;
  slots: RunSlots;
  signals: RunSignals;
  logger: Logger;
  retryMs?: number;
}

/**
 * Admission: a run is recorded only if the service's unfinished runs leave room for it, counted in its insert's
 * transaction under the queue lock: at most tenantMaxConcurrent + tenantMaxQueued unfinished runs per tenant and
 * maxConcurrent + maxQueued in all, however many servers take submissions at once.
 *
 * Start: this server picks its next job as one process does (round-robin between tenants, in order within one),
 * then claims a run slot for it in the database; a tenant refused for its own limit keeps its place while the next
 * tenant is tried, and a full service stops the round. It tries again when any server signals a run's end, when a
 * job here ends, when a job is queued, and every retryMs while something waits.
 */
export class ServiceScheduler extends FairScheduler {
  override readonly admission: Admission;
  private readonly slots: RunSlots;
  private readonly logger: Logger;
  private readonly retryMs: number;
  private readonly limits: SlotLimits;
  private readonly unsubscribe: () => void;
  /** A round of claims is under way; `again`: something changed meanwhile, so another round follows. */
  private claiming = false;
  private again = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(deps: ServiceSchedulerDeps) {
    super(deps.maxConcurrent, deps.maxQueued, deps.tenantLimits);
    ({ slots: this.slots, logger: this.logger } = deps);
    this.retryMs = deps.retryMs ?? SLOT_RETRY_MS;
    this.limits = { maxConcurrent: deps.maxConcurrent, tenantMaxConcurrent: this.tenantLimits.maxConcurrent };
    this.admission = (counts) => this.admit(counts);
    this.unsubscribe = deps.signals.subscribeAll((signal) => {
      if (signal.type === 'finished' || signal.type === 'resync') this.pump();
    });
  }

  /** The service's counts decide, in the insert (admission); this process's own queue says nothing about them. */
  override assertCapacity(): void {}

  private admit(counts: QueueCounts): void {
    const tenantRoom = this.tenantLimits.maxConcurrent + this.tenantLimits.maxQueued;
    if (counts.tenantUnfinished >= tenantRoom) {
      const waiting = counts.tenantUnfinished - Math.min(counts.tenantUnfinished, this.tenantLimits.maxConcurrent);
      throw tenantQueueFull(waiting, this.tenantLimits.maxQueued, {
        tenant_unfinished: counts.tenantUnfinished,
        tenant_max_concurrent: this.tenantLimits.maxConcurrent,
        tenant_max_queued: this.tenantLimits.maxQueued,
      });
    }
    if (counts.unfinished >= this.maxConcurrent + this.maxQueued) {
      throw serviceQueueFull(this.maxQueued, { unfinished: counts.unfinished, max_concurrent: this.maxConcurrent, max_queued: this.maxQueued });
    }
  }

  override stop(): void {
    super.stop();
    this.unsubscribe();
    clearTimeout(this.retry);
    this.retry = undefined;
  }

  protected override pump(): void {
    if (this.claiming) {
      this.again = true;
      return;
    }
    this.claiming = true;
    void this.claimRound().finally(() => {
      this.claiming = false;
      if (this.again) {
        this.again = false;
        this.pump();
      } else if (this.hasQueuedJobs && this.canStartMore && this.retry === undefined) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.pump();
        }, this.retryMs).unref();
      }
    });
  }

  /** Claims slots for queued jobs in their fair order until one is refused for the service's limit or none is left. */
  private async claimRound(): Promise<void> {
    // Tenants refused for their own limit in this round: their jobs keep their place, the next tenant's are tried.
    const refused = new Set<string>();
    while (this.canStartMore) {
      const job = this.peek(refused);
      if (!job) return;
      let answer: SlotAnswer;
      try {
        answer = await this.slots.claim(job.runId, job.tenantId, this.limits, new Date().toISOString());
      } catch (error) {
        this.logger.warn({ err: error, runId: job.runId }, 'could not claim a run slot in the database; queued runs wait and it is tried again');
        return;
      }
      if (answer === 'service_full') return;
      if (answer === 'tenant_full') {
        refused.add(job.tenantId);
        continue;
      }
      // Stopped meanwhile: the run stays pending with its slot, granted again to it at the next start.
      if (!this.canStartMore) return;
      // Not queued any more: cancelled while its slot was claimed; its end (recorded by the cancel) frees the slot.
      if (this.take(job)) this.startJob(job);
    }
  }
}
