// Starts queued runs under a global concurrency limit, in order within a tenant and round-robin between tenants.
import { SandrunError } from '../errors.ts';

export interface QueuedJob {
  runId: string;
  tenantId: string;
  start: () => Promise<void>;
}

export class FairScheduler {
  private readonly queues = new Map<string, QueuedJob[]>();
  /** Tenants with queued jobs, in the order they get their next turn. */
  private readonly turns: string[] = [];
  private queued = 0;
  private running = 0;

  constructor(
    private readonly maxConcurrent: number,
    private readonly maxQueued: number,
  ) {}

  get queuedCount(): number {
    return this.queued;
  }

  get runningCount(): number {
    return this.running;
  }

  /** Throws queue_full when one more job would not fit; call before recording a new run. */
  assertCapacity(): void {
    if (this.queued >= this.maxQueued) {
      throw new SandrunError('queue_full', `the run queue is full (${this.maxQueued} runs waiting); try again later`);
    }
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

  private next(): QueuedJob | undefined {
    const tenantId = this.turns.shift();
    if (tenantId === undefined) return undefined;
    const queue = this.queues.get(tenantId)!;
    const job = queue.shift()!;
    if (queue.length === 0) this.queues.delete(tenantId);
    else this.turns.push(tenantId);
    this.queued -= 1;
    return job;
  }

  private pump(): void {
    while (this.running < this.maxConcurrent) {
      const job = this.next();
      if (!job) return;
      this.running += 1;
      // start() records every failure as the run's own outcome; it never rejects.
      void job.start().finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }
}
