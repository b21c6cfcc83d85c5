// The scheduler of one server among several: a job starts only with a slot the service grants; refusals wait for a run's end anywhere.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { LocalRunSignals } from '../../src/cluster/run-signals.ts';
import type { SlotAnswer, SlotLimits } from '../../src/store/run-slots.ts';
import { ServiceScheduler, type RunSlots } from '../../src/runs/service-scheduler.ts';

const logger = pino({ level: 'silent' });

/** The service's slots as another server would see them: held by run, per tenant, under the limits asked. */
class SharedSlots implements RunSlots {
  readonly held = new Map<string, string>();
  claim(runId: string, tenantId: string, limits: SlotLimits): Promise<SlotAnswer> {
    if (this.held.has(runId)) return Promise.resolve('granted');
    if (this.held.size >= limits.maxConcurrent) return Promise.resolve('service_full');
    if ([...this.held.values()].filter((tenant) => tenant === tenantId).length >= limits.tenantMaxConcurrent) return Promise.resolve('tenant_full');
    this.held.set(runId, tenantId);
    return Promise.resolve('granted');
  }
}

function harness(options: { maxConcurrent: number; tenantMaxConcurrent: number }) {
  const slots = new SharedSlots();
  const signals = new LocalRunSignals(logger);
  const scheduler = new ServiceScheduler({
    maxConcurrent: options.maxConcurrent,
    maxQueued: 100,
    tenantLimits: { maxConcurrent: options.tenantMaxConcurrent, maxQueued: 100 },
    slots,
    signals,
    logger,
    retryMs: 60_000,
  });
  const started: string[] = [];
  const finishers = new Map<string, () => void>();
  const submit = (tenantId: string, runId: string) =>
    scheduler.enqueue({
      runId,
      tenantId,
      start: () =>
        new Promise<void>((resolve) => {
          started.push(runId);
          finishers.set(runId, resolve);
        }),
    });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
  /** A run of this server ends: its slot goes with its end (as the store's does), then its job. */
  const finish = async (runId: string) => {
    slots.held.delete(runId);
    finishers.get(runId)!();
    await settle();
  };
  return { slots, signals, scheduler, started, submit, settle, finish };
}

describe('ServiceScheduler', () => {
  it('passes over a tenant at its service-wide limit (it keeps its place) and starts the next tenant’s job', async () => {
    const { slots, scheduler, started, submit, settle, finish } = harness({ maxConcurrent: 4, tenantMaxConcurrent: 1 });
    // Another server runs one of tenant a's runs.
    slots.held.set('elsewhere', 'a');
    submit('a', 'a1');
    submit('b', 'b1');
    await settle();
    expect(started, 'a1 waits for a slot of tenant a; b1 starts').toEqual(['b1']);
    await finish('b1');
    expect(started).toEqual(['b1']);
    scheduler.stop();
  });

  it('starts a waiting job when any server signals a run’s end', async () => {
    const { slots, signals, scheduler, started, submit, settle } = harness({ maxConcurrent: 2, tenantMaxConcurrent: 2 });
    slots.held.set('x1', 'other');
    slots.held.set('x2', 'other');
    submit('a', 'a1');
    await settle();
    expect(started, 'the service is full').toEqual([]);
    slots.held.delete('x1');
    signals.publish({ type: 'finished', runId: 'x1' });
    await settle();
    expect(started).toEqual(['a1']);
    scheduler.stop();
  });

  it('does not start a job cancelled while its slot was being claimed', async () => {
    const { scheduler, started, submit, settle } = harness({ maxConcurrent: 2, tenantMaxConcurrent: 2 });
    submit('a', 'a1');
    // The claim is under way (a promise): the job is still queued, so a cancel finds it.
    expect(scheduler.remove('a1')).toBe(true);
    await settle();
    expect(started).toEqual([]);
    scheduler.stop();
  });
});
