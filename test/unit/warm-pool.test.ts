// The warm pool's bookkeeping: one container per run, bounds per template, per tenant and in all, eviction, close.
import { describe, expect, it } from 'vitest';
import type { ContainerTemplate } from '../../src/sandbox/docker/hardening.ts';
import type { ParkedContainer } from '../../src/sandbox/docker/parked-container.ts';
import { WarmPool } from '../../src/sandbox/docker/warm-pool.ts';

function fakePool(limits: Partial<ConstructorParameters<typeof WarmPool>[0]> = {}) {
  const started: string[] = [];
  const discarded: string[] = [];
  /** Ends the stdio connection of a parked container, by id. */
  const endConnection = new Map<string, () => void>();
  const pool = new WarmPool(
    { maxTotal: 4, maxPerTenant: 2, maxPerTemplate: 1, maxIdleMs: 60_000, ...limits },
    (template) => {
      const id = `c${started.length + 1}`;
      started.push(`${id}:${template.workspaceDir}`);
      const ended = new Promise<void>((resolve) => endConnection.set(id, resolve));
      return Promise.resolve({ id, dir: `/tmp/${id}`, container: { id }, session: { ended } } as unknown as ParkedContainer);
    },
    (parked) => {
      discarded.push(parked.id);
      return Promise.resolve();
    },
    (error) => {
      throw error;
    },
  );
  return { pool, started, discarded, endConnection };
}

const template = (workspaceDir: string, tenant = 't1'): ContainerTemplate => ({
  image: 'sandrun/python:3.11',
  workspaceDir,
  limits: { timeoutSeconds: 10, memoryMb: 128, cpus: 1, pids: 64 },
  labels: { 'sandrun.tenant': tenant },
});
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('WarmPool', () => {
  it('misses first, then hands out the parked container once and only once', async () => {
    const { pool } = fakePool();
    expect(pool.take(template('/a'))).toBeUndefined();
    pool.replenish(template('/a'));
    await settle();
    const parked = pool.take(template('/a'));
    expect(parked?.id).toBe('c1');
    expect(pool.take(template('/a'))).toBeUndefined();
    expect(pool.stats).toEqual({ hits: 1, misses: 2, parked: 0 });
  });

  it('starts a later replacement once, when told or after its longest delay, whichever comes first', async () => {
    const { pool, started } = fakePool({ maxPerTemplate: 2 });
    const told = pool.replenishLater(template('/a'), 60_000);
    await settle();
    expect(started, 'nothing before it is told').toEqual([]);
    told();
    told();
    await settle();
    expect(started, 'once').toEqual(['c1:/a']);
    pool.replenishLater(template('/b'), 20);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(started, 'after the delay, untold').toEqual(['c1:/a', 'c2:/b']);
  });

  it('a container evicted while it is still starting is removed once it is up, never parked or handed out', async () => {
    const { pool, discarded } = fakePool();
    pool.replenish(template('/a')); // its start resolves on a later tick
    await pool.evict((member) => member.image === 'sandrun/python:3.11');
    await settle();
    expect(discarded).toEqual(['c1']);
    expect(pool.stats.parked).toBe(0);
    expect(pool.take(template('/a'))).toBeUndefined();
  });

  it('keeps at most maxPerTemplate per template and maxPerTenant per tenant', async () => {
    const { pool, started } = fakePool({ maxPerTemplate: 1, maxPerTenant: 2 });
    for (const dir of ['/a', '/a', '/b', '/c']) pool.replenish(template(dir));
    await settle();
    expect(started).toEqual(['c1:/a', 'c2:/b']);
    pool.replenish(template('/d', 't2'));
    await settle();
    expect(started).toEqual(['c1:/a', 'c2:/b', 'c3:/d']);
  });

  it('at its total bound, evicts the oldest of another template to make room', async () => {
    const { pool, started, discarded } = fakePool({ maxTotal: 2, maxPerTenant: 5 });
    pool.replenish(template('/a'));
    pool.replenish(template('/b'));
    await settle();
    pool.replenish(template('/c'));
    await settle();
    expect(discarded).toEqual(['c1']);
    expect(started.at(-1)).toBe('c3:/c');
    expect(pool.stats.parked).toBe(2);
  });

  it('removes matching containers on eviction and everything on close, also those still starting', async () => {
    const { pool, discarded } = fakePool();
    pool.replenish({ ...template('/a'), labels: { 'sandrun.tenant': 't1', 'sandrun.project_id': 'p1' } });
    pool.replenish({ ...template('/b'), labels: { 'sandrun.tenant': 't1', 'sandrun.project_id': 'p2' } });
    await settle();
    await pool.evict((entry) => entry.labels['sandrun.project_id'] === 'p1');
    expect(discarded).toEqual(['c1']);
    pool.replenish(template('/c', 't2'));
    await pool.close();
    expect(discarded.sort()).toEqual(['c1', 'c2', 'c3']);
    pool.replenish(template('/d'));
    await settle();
    expect(pool.stats.parked).toBe(0);
  });

  it('drops a parked container whose connection ended (an engine restart), so no run is sent to it', async () => {
    const { pool, discarded, endConnection } = fakePool();
    pool.replenish(template('/a'));
    await settle();
    expect(pool.stats.parked).toBe(1);
    endConnection.get('c1')!();
    await settle();
    expect(pool.stats.parked).toBe(0);
    expect(discarded).toEqual(['c1']);
    expect(pool.take(template('/a'))).toBeUndefined();
  });
});
