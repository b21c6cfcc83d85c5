// Starts queued runs under a global concurrency limit and per-tenant limits, in order within a tenant and round-robin between tenants.
import { SandrunError } from '../errors.ts';
import { TenantCounter } from '../tenant-counter.ts';

export interface QueuedJob {
  runId: string;
  tenantId: string;
  start: () => Promise<void>;
}

export interface TenantLimits {
  /** Runs of one tenant at once; a tenant at this limit waits while other tenants' runs start. */
  maxConcurrent: number;
  /** Runs of one tenant waiting; past it, queue_full. */
  maxQueued: number;
}

export class FairScheduler {
  private readonly queues = new Map<string, QueuedJob[]>();
  /** Tenants with queued jobs, in the order they get their next turn. */
  private readonly turns: string[] = [];
  private readonly runningByTenant = new Map<string, number>();
  private queued = 0;
  /** Runs that will be queued once ready (their environment being built): they count as waiting. */
  private readonly reserved = new TenantCounter();
  private running = 0;
  private stopped = false;
  private readonly tenantLimits: TenantLimits;

  constructor(
    private readonly maxConcurrent: number,
    private readonly maxQueued: number,
    tenantLimits: Partial<TenantLimits> = {},
  ) {
    this.tenantLimits = { maxConcurrent: tenantLimits.maxConcurrent ?? maxConcurrent, maxQueued: tenantLimits.maxQueued ?? maxQueued };
  }

  get queuedCount(): number {
    return this.queued;
  }

  get runningCount(): number {
    return this.running;
  }

  /** Jobs of one tenant that are queued (or reserved) and running. */
  tenantCounts(tenantId: string): { queued: number; running: number } {
    return { queued: this.waitingOf(tenantId), running: this.runningByTenant.get(tenantId) ?? 0 };
  }

  /** Throws queue_full when one more job of the tenant would not fit; call before recording a new run. */
  assertCapacity(tenantId: string): void {
    const waiting = this.waitingOf(tenantId);
    // A job that can start at once never waits, so it does not count against the queue limits.
    if (this.running < this.maxConcurrent && (this.runningByTenant.get(tenantId) ?? 0) < this.tenantLimits.maxConcurrent) return;
    if (waiting >= this.tenantLimits.maxQueued) {
      throw new SandrunError(
        'queue_full',
        `this tenant already has ${waiting} runs waiting (the limit per tenant is ${this.tenantLimits.maxQueued}); wait for some to finish or cancel them`,
        { tenant_queued: waiting, tenant_max_queued: this.tenantLimits.maxQueued },
      );
    }
    if (this.queued >= this.maxQueued) {
      throw new SandrunError('queue_full', `the run queue is full (${this.maxQueued} runs waiting); try again later`, { queued: this.queued, max_queued: this.maxQueued });
    }
  }

  private waitingOf(tenantId: string): number {
    return (this.queues.get(tenantId)?.length ?? 0) + this.reserved.of(tenantId);
  }

  /**
   * Holds a place for a run that is not ready to queue yet: it counts as waiting (for the queue limits) until the
   * returned release is called, which the caller does just before it enqueues the run or gives it up.
   */
  reserve(tenantId: string): () => void {
    this.reserved.add(tenantId);
    this.queued += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved.remove(tenantId);
      this.queued -= 1;
    };
  }

  enqueue(job: QueuedJob): void {
    const queue = this.queues.get(job.tenantId);
    if (queue) queue.push(job);
    else {
      this.queues.set(job.tenantId, [job]);
      this.turns.push(job.tenantId);
    }
    this.queued += 1;
    this.pump();
  }

  /** Removes a job that has not started; false when it is not queued (started or unknown). */
  remove(runId: string): boolean {
    for (const [tenantId, queue] of this.queues) {
      const index = queue.findIndex((job) => job.runId === runId);
      if (index === -1) continue;
      queue.splice(index, 1);
      this.queued -= 1;
      if (queue.length === 0) this.dropTenant(tenantId);
      return true;
    }
    return false;
  }

  private dropTenant(tenantId: string): void {
    this.queues.delete(tenantId);
    const turn = this.turns.indexOf(tenantId);
    if (turn !== -1) this.turns.splice(turn, 1);
  }

  /** The next job of the first tenant in turn that is under its concurrency limit; tenants at it keep their place. */
  private next(): QueuedJob | undefined {
    const turn = this.turns.findIndex((tenantId) => (this.runningByTenant.get(tenantId) ?? 0) < this.tenantLimits.maxConcurrent);
    if (turn === -1) return undefined;
    const [tenantId] = this.turns.splice(turn, 1) as [string];
    const queue = this.queues.get(tenantId)!;
    const job = queue.shift()!;
    if (queue.length === 0) this.queues.delete(tenantId);
    else this.turns.push(tenantId);
    this.queued -= 1;
    return job;
  }

  /** Starts nothing more; queued jobs stay queued (their runs stay pending for the next start). */
  stop(): void {
    this.stopped = true;
  }

  private pump(): void {
    while (!this.stopped && this.running < this.maxConcurrent) {
      const job = this.next();
      if (!job) return;
      this.running += 1;
      this.runningByTenant.set(job.tenantId, (this.runningByTenant.get(job.tenantId) ?? 0) + 1);
      // start() records every failure as the run's own outcome; it never rejects.
      void job.start().finally(() => {
        this.running -= 1;
        const left = (this.runningByTenant.get(job.tenantId) ?? 1) - 1;
        if (left === 0) this.runningByTenant.delete(job.tenantId);
        else this.runningByTenant.set(job.tenantId, left);
        this.pump();
      });
    }
  }
}
