// Starts queued runs under a global concurrency limit and per-tenant limits, in order within a tenant and round-robin between tenants.
import { SandrunError } from '../errors.ts';
import { TenantCounter } from '../tenant-counter.ts';
import type { Admission } from '../store/run-slots.ts';

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

/** queue_full for a tenant whose runs fill its share of the queue: `waiting` runs now, `limit` allowed. */
export function tenantQueueFull(waiting: number, limit: number, details: Record<string, unknown>): SandrunError {
  return new SandrunError(
    'queue_full',
    `this tenant already has ${waiting} runs waiting (the limit per tenant is ${limit}); wait for some to finish or cancel them`,
    details,
  );
}

/** queue_full for the whole queue. */
export function serviceQueueFull(limit: number, details: Record<string, unknown>): SandrunError {
  return new SandrunError('queue_full', `the run queue is full (${limit} runs waiting); try again later`, details);
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
  protected readonly tenantLimits: TenantLimits;
  /**
   * The queue limits decided in the run's insert, on the database's counts (several servers); undefined: this
   * process is the whole service and assertCapacity decides, in memory.
   */
  readonly admission: Admission | undefined = undefined;

  constructor(
    protected readonly maxConcurrent: number,
    protected readonly maxQueued: number,
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
      throw tenantQueueFull(waiting, this.tenantLimits.maxQueued, { tenant_queued: waiting, tenant_max_queued: this.tenantLimits.maxQueued });
    }
    if (this.queued >= this.maxQueued) throw serviceQueueFull(this.maxQueued, { queued: this.queued, max_queued: this.maxQueued });
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

  /**
   * The next job of the first tenant in turn that is under its concurrency limit (and not in `skip`), left queued;
   * tenants at their limit keep their place.
   */
  protected peek(skip?: ReadonlySet<string>): QueuedJob | undefined {
    const tenantId = this.turns.find((tenant) => !skip?.has(tenant) && (this.runningByTenant.get(tenant) ?? 0) < this.tenantLimits.maxConcurrent);
    return tenantId === undefined ? undefined : this.queues.get(tenantId)![0];
  }

  /** Takes a tenant's head job out of the queue, the tenant to the end of the turns; false when it is no longer queued. */
  protected take(job: QueuedJob): boolean {
    const queue = this.queues.get(job.tenantId);
    if (queue?.[0] !== job) return false;
    this.turns.splice(this.turns.indexOf(job.tenantId), 1);
    queue.shift();
    if (queue.length === 0) this.queues.delete(job.tenantId);
    else this.turns.push(job.tenantId);
    this.queued -= 1;
    return true;
  }

  /** Starts nothing more; queued jobs stay queued (their runs stay pending for the next start). */
  stop(): void {
    this.stopped = true;
  }

  /** Whether another job may start in this process now. */
  protected get canStartMore(): boolean {
    return !this.stopped && this.running < this.maxConcurrent;
  }

  /** Whether any job is queued (reserved places aside). */
  protected get hasQueuedJobs(): boolean {
    return this.turns.length > 0;
  }

  protected pump(): void {
    while (this.canStartMore) {
      const job = this.peek();
      if (!job) return;
      this.take(job);
      this.startJob(job);
    }
  }

  /** Runs a job taken from the queue; when it ends, its slot goes to the next one. */
  protected startJob(job: QueuedJob): void {
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
