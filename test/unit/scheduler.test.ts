// The fair scheduler: global and per-tenant concurrency, bounded queues, round-robin between tenants.
import { describe, expect, it } from 'vitest';
import { SandrunError } from '../../src/errors.ts';
import { FairScheduler } from '../../src/runs/scheduler.ts';

/** Jobs that run until the test finishes them, recording the order in which they started. */
function harness(scheduler: FairScheduler) {
  const started: string[] = [];
  const finishers = new Map<string, () => void>();
  const submit = (tenantId: string, runId: string) => {
    scheduler.assertCapacity(tenantId);
    scheduler.enqueue({
      runId,
      tenantId,
      start: () =>
        new Promise<void>((resolve) => {
          started.push(runId);
          finishers.set(runId, resolve);
        }),
    });
  };
  const finish = async (runId: string) => {
    const done = finishers.get(runId);
    if (!done) throw new Error(`${runId} has not started; started: ${started.join(', ')}`);
    done();
    // The scheduler refills the slot in the job's finally(), a few microtasks later.
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { started, submit, finish };
}

function queueFullError(action: () => void): SandrunError {
  try {
    action();
  } catch (error) {
    if (error instanceof SandrunError) return error;
    throw error;
  }
  throw new Error('expected queue_full, nothing was thrown');
}

describe('FairScheduler', () => {
  it('starts jobs round-robin between tenants, in order within a tenant', async () => {
    const scheduler = new FairScheduler(1, 100);
    const { started, submit, finish } = harness(scheduler);
    submit('a', 'a1');
    submit('a', 'a2');
    submit('a', 'a3');
    submit('b', 'b1');
    submit('b', 'b2');
    submit('c', 'c1');
    for (const runId of ['a1', 'a2', 'b1', 'c1', 'a3', 'b2']) await finish(runId);
    // a1 started at once; then the turns go a, b, c, a, b.
    expect(started).toEqual(['a1', 'a2', 'b1', 'c1', 'a3', 'b2']);
  });

  it('never runs more than the global limit at once', async () => {
    const scheduler = new FairScheduler(2, 100);
    const { started, submit, finish } = harness(scheduler);
    for (let i = 1; i <= 5; i += 1) submit(`t${i}`, `r${i}`);
    expect(started).toEqual(['r1', 'r2']);
    expect(scheduler.runningCount).toBe(2);
    expect(scheduler.queuedCount).toBe(3);
    await finish('r1');
    expect(started).toEqual(['r1', 'r2', 'r3']);
    expect(scheduler.runningCount).toBe(2);
  });

  it('a tenant at its concurrent limit does not block another tenant queued behind it', async () => {
    const scheduler = new FairScheduler(4, 100, { maxConcurrent: 2, maxQueued: 100 });
    const { started, submit, finish } = harness(scheduler);
    for (let i = 1; i <= 5; i += 1) submit('greedy', `g${i}`);
    expect(started, 'greedy holds only its 2 slots, 2 stay free').toEqual(['g1', 'g2']);
    expect(scheduler.tenantCounts('greedy')).toEqual({ queued: 3, running: 2 });
    submit('polite', 'p1');
    submit('polite', 'p2');
    expect(started, 'polite starts at once in the free slots').toEqual(['g1', 'g2', 'p1', 'p2']);
    await finish('g1');
    expect(started.at(-1)).toBe('g3');
    await finish('p1');
    expect(started, 'a free slot is not given to greedy, which is at its limit').toEqual(['g1', 'g2', 'p1', 'p2', 'g3']);
    expect(scheduler.runningCount).toBe(3);
  });

  it("past a tenant's queued limit, that tenant gets queue_full while others still queue", () => {
    const scheduler = new FairScheduler(1, 100, { maxConcurrent: 1, maxQueued: 2 });
    const { started, submit } = harness(scheduler);
    submit('a', 'a1'); // runs
    submit('a', 'a2'); // waits
    submit('a', 'a3'); // waits
    const error = queueFullError(() => submit('a', 'a4'));
    expect(error.code).toBe('queue_full');
    expect(error.status).toBe(429);
    expect(error.message).toMatch(/2 runs waiting.*limit per tenant is 2/);
    submit('b', 'b1');
    expect(scheduler.tenantCounts('b')).toEqual({ queued: 1, running: 0 });
    expect(started).toEqual(['a1']);
  });

  it('past the global queued limit every tenant gets queue_full, except one whose run can start at once', () => {
    const scheduler = new FairScheduler(2, 2, { maxConcurrent: 1, maxQueued: 10 });
    const { submit } = harness(scheduler);
    submit('a', 'a1'); // runs
    submit('a', 'a2'); // waits
    submit('a', 'a3'); // waits: the global queue is full now
    expect(queueFullError(() => submit('a', 'a4')).message).toMatch(/run queue is full \(2 runs waiting\)/);
    submit('b', 'b1'); // a free slot, and b is under its limit: it never waits
    expect(scheduler.runningCount).toBe(2);
    expect(queueFullError(() => submit('b', 'b2')).code).toBe('queue_full');
    expect(queueFullError(() => submit('c', 'c1')).code).toBe('queue_full');
  });

  it('a removed job never starts and frees its queue place', async () => {
    const scheduler = new FairScheduler(1, 100, { maxConcurrent: 1, maxQueued: 1 });
    const { started, submit, finish } = harness(scheduler);
    submit('a', 'a1');
    submit('a', 'a2');
    expect(scheduler.remove('a2')).toBe(true);
    expect(scheduler.remove('a2')).toBe(false);
    submit('a', 'a3');
    await finish('a1');
    expect(started).toEqual(['a1', 'a3']);
    expect(scheduler.queuedCount).toBe(0);
  });
});
