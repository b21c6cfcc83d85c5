// An engine that never answers a container's removal (as runsc left one in `Created` that `docker rm -f` could not
// remove): runs still end, the reaper and shutdown still return, and the leftover goes once the engine answers again.
import Dockerode from 'dockerode';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineProxy } from '../helpers/engine-proxy.ts';
import { DEFAULT_TEST_LIMITS, createTestSandbox, type TestSandbox } from '../helpers/sandbox.ts';

const DEADLINE_MS = 2_000;
/** What a wedged call may add on top of the deadline, on a machine 2-3x slower than this one. */
const MARGIN_MS = 15_000;
const REMOVALS = /^DELETE \/containers\//;

const engine = new Dockerode();
const testCase = randomUUID();
let dir: string;
let proxy: EngineProxy;
let sandbox: TestSandbox;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sandrun-engine-deadline-'));
  proxy = new EngineProxy(join(dir, 'engine.sock'));
  await proxy.up();
  sandbox = await createTestSandbox({ engineCallTimeoutMs: DEADLINE_MS }, new Dockerode({ socketPath: proxy.path }));
});
afterAll(async () => {
  proxy?.stopHolding();
  await sandbox?.cleanup();
  await proxy?.down();
  await rm(dir, { recursive: true, force: true });
  for (const info of await containersOfCase()) await engine.getContainer(info.Id).remove({ force: true, v: true });
});

const containersOfCase = () => engine.listContainers({ all: true, filters: { label: [`sandrun.case=${testCase}`] } });

/** Settles as `work` does, or rejects naming what hung once `ms` have passed, so a hang fails with its reason. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<{ value: T; elapsedMs: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not return within ${ms} ms`)), ms)));
  try {
    return { value: await Promise.race([work, hung]), elapsedMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

describe('an engine that never answers a container removal', () => {
  it('does not keep a run from ending: a timed-out run, whose result waits for its removal, ends within the deadline', async () => {
    proxy.holdRequests(REMOVALS);
    const spec = sandbox.spec({
      command: ['sleep', '60'],
      limits: { ...DEFAULT_TEST_LIMITS, timeoutSeconds: 1 },
      labels: { 'sandrun.test': 'true', 'sandrun.case': testCase },
    });
    const { value: result, elapsedMs } = await within(1_000 + DEADLINE_MS + MARGIN_MS, 'the run', sandbox.backend.run(spec));
    expect(result.outcome.kind).toBe('timed_out');
    expect(proxy.heldCount, 'the removal of its container was held').toBeGreaterThanOrEqual(1);
    expect(elapsedMs, 'the run ended within its timeout, the deadline and a margin').toBeLessThan(1_000 + DEADLINE_MS + MARGIN_MS);
    expect((await containersOfCase()).length, 'its container is left for the reaper').toBe(1);
  });

  it('does not keep the reaper or a shutdown from returning', async () => {
    const held = proxy.heldCount;
    const reaped = await within(DEADLINE_MS + MARGIN_MS, 'the reaper', sandbox.backend.reap(() => false));
    expect(reaped.value, 'no container was removed').toBe(0);
    await within(DEADLINE_MS + MARGIN_MS, 'removing every container (shutdown)', sandbox.backend.removeAll());
    expect(proxy.heldCount - held, 'the reaper and the shutdown both tried to remove it').toBeGreaterThanOrEqual(2);
    expect((await containersOfCase()).length).toBe(1);
  });

  it('fails the call as engine_unavailable, naming the request and the deadline', async () => {
    const [leftover] = await containersOfCase();
    // The backend's own client: it was given this one and put its deadline on it.
    const removal = sandbox.docker.getContainer(leftover!.Id).remove({ force: true });
    await expect(removal).rejects.toMatchObject({
      code: 'engine_unavailable',
      message: `the engine did not answer DELETE /containers/${leftover!.Id} within ${DEADLINE_MS / 1000} s`,
    });
  });

  it('leaves nothing behind once the engine answers again: the next sweep removes the leftover container', async () => {
    proxy.stopHolding();
    const reaped = await within(DEADLINE_MS + MARGIN_MS, 'the reaper', sandbox.backend.reap(() => false));
    expect(reaped.value, 'the leftover container was removed').toBe(1);
    expect(await containersOfCase()).toEqual([]);
  });
});
