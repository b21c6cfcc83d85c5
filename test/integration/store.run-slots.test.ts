// The service's run slots and queue places in the database, on SQLite and PostgreSQL: concurrent claims and admissions from two store instances never pass a limit.
import { expect, it } from 'vitest';
import { SandrunError } from '../../src/errors.ts';
import type { Admission } from '../../src/store/run-slots.ts';
import { eachDialect } from '../helpers/dialects.ts';
import { AT, completion, newRun, tenantWithProject } from '../helpers/store-fixtures.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** What the service scheduler's admission does, with small limits. */
const admitUpTo =
  (tenantRoom: number, serviceRoom: number): Admission =>
  (counts) => {
    if (counts.tenantUnfinished >= tenantRoom) throw new SandrunError('queue_full', `tenant has ${counts.tenantUnfinished}`);
    if (counts.unfinished >= serviceRoom) throw new SandrunError('queue_full', `service has ${counts.unfinished}`);
  };

eachDialect((dialect) => {
  it('30 concurrent claims from two instances grant at most the service limit and the tenant limit, and an end frees its slot', async () => {
    const one = await dialect.open();
    const two = await dialect.open();
    const a = await tenantWithProject(one, 'slots-a');
    const b = await tenantWithProject(one, 'slots-b');
    const runs = await Promise.all(range(30).map((i) => one.runs.insert(newRun(i % 3 === 0 ? b : a), AT)));
    const limits = { maxConcurrent: 5, tenantMaxConcurrent: 3 };
    const answers = await Promise.all(runs.map((run, i) => (i % 2 ? one : two).runs.slots.claim(run.id, run.tenantId, limits, AT)));
    const granted = runs.filter((_, i) => answers[i] === 'granted');
    const byTenant = (tenantId: string) => granted.filter((run) => run.tenantId === tenantId).length;
    expect(granted.length, `slots granted on ${dialect.kind}`).toBe(5);
    expect(byTenant('slots-a'), 'slots of tenant a').toBe(3);
    expect(byTenant('slots-b'), 'slots of tenant b').toBe(2);
    expect(await one.runs.slots.held('slots-a')).toEqual({ held: 5, tenantHeld: 3 });
    // A run holding a slot is granted it again (its server restarted before it started), without counting.
    expect(await two.runs.slots.claim(granted[0]!.id, granted[0]!.tenantId, limits, AT)).toBe('granted');
    const waitingA = runs.find((run, i) => run.tenantId === 'slots-a' && answers[i] !== 'granted')!;
    expect(await one.runs.slots.claim(waitingA.id, 'slots-a', { maxConcurrent: 10, tenantMaxConcurrent: 3 }, AT), 'tenant a at its limit').toBe('tenant_full');
    expect(await one.runs.slots.claim(waitingA.id, 'slots-a', limits, AT), 'the service at its limit').toBe('service_full');
    // Ending one of tenant a's runs frees its slot: the next claim of tenant a is granted.
    const ending = granted.find((run) => run.tenantId === 'slots-a')!;
    await one.runs.markRunning(ending.id, AT, { imageId: 'sha256:x', dataSnapshotRef: 'ref' });
    await one.runs.complete(ending.id, completion());
    expect(await two.runs.slots.claim(waitingA.id, 'slots-a', limits, AT)).toBe('granted');
    expect(await one.runs.slots.held('slots-a')).toEqual({ held: 5, tenantHeld: 3 });
  });

  it('40 concurrent inserts from two instances, each admitted on the counts in its own transaction, stop at the limits, numbers gapless', async () => {
    const one = await dialect.open();
    const two = await dialect.open();
    const a = await tenantWithProject(one, 'queue-a');
    const b = await tenantWithProject(one, 'queue-b');
    // Other tests' runs in this database are unfinished too: the service's room is 8 beyond them.
    const admit = admitUpTo(5, (await one.runs.unfinished()).length + 8);
    const results = await Promise.allSettled(range(40).map((i) => (i % 2 ? one : two).runs.insert(newRun(i % 4 === 0 ? b : a), AT, admit)));
    const inserted = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const refused = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as Error] : []));
    for (const error of refused) expect((error as SandrunError).code, error.message).toBe('queue_full');
    const ofA = inserted.filter((run) => run.tenantId === 'queue-a');
    const ofB = inserted.filter((run) => run.tenantId === 'queue-b');
    expect(inserted.length, `runs admitted in all on ${dialect.kind}`).toBe(8);
    expect(Math.max(ofA.length, ofB.length), 'most runs admitted for one tenant').toBe(5);
    expect(ofA.map((run) => run.runNumber).sort((x, y) => x - y), 'numbers of the admitted runs, no gap').toEqual(range(ofA.length).map((i) => i + 1));
    // An insert with a key goes through the same admission.
    await expect(one.runs.insertOnce(newRun(b), AT, { tenantId: 'queue-b', key: 'k', requestHash: 'h' }, '2026-01-01T00:00:00.000Z', admit)).rejects.toMatchObject({
      code: 'queue_full',
    });
  });
});
