// The warm pool: containers started ahead serve exactly one run each, carry nothing between runs, and are bounded.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSpec } from '../../src/sandbox/backend.ts';
import { createTestSandbox, DEFAULT_TEST_LIMITS, type TestSandbox } from '../helpers/sandbox.ts';

const poolLabel = randomUUID();
let sandbox: TestSandbox;
let workspace: string;

beforeAll(async () => {
  sandbox = await createTestSandbox({ pool: { maxTotal: 2, maxPerTenant: 2, maxPerTemplate: 1, maxIdleMs: 60_000 } });
  workspace = await sandbox.workspace({
    'probe.py': [
      'import json, os, socket',
      'seen = {"host": socket.gethostname(), "run": os.environ["SANDRUN_RUN_ID"], "params": json.load(open("/inputs/parameters.json")),',
      '        "tmp": sorted(os.listdir("/tmp")), "outputs": sorted(os.listdir("/outputs"))}',
      'open("/tmp/left-behind", "w").write("secret of " + seen["run"])',
      'open("/outputs/left.json", "w").write(json.dumps(seen["run"]))',
      'print(json.dumps(seen))',
    ].join('\n'),
  });
});
afterAll(async () => sandbox.cleanup());

const labels = { 'sandrun.test': 'true', 'sandrun.pool_test': poolLabel, 'sandrun.tenant': 't1' };
const probe = (parameters: Record<string, unknown>, overrides: Partial<SandboxSpec> = {}): SandboxSpec => {
  const runId = randomUUID();
  return sandbox.spec({ runId, command: ['python3', 'probe.py'], workspaceDir: workspace, parameters, env: { SANDRUN_RUN_ID: runId }, labels, ...overrides });
};
/** Waits up to 5 s for the condition; fails the test if it never holds. */
const until = async (condition: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 100; i += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`condition not met within 5 s: ${condition.toString()}`);
};

describe('the warm pool', () => {
  it('serves each run from a different container, with only that run’s parameters and identity, and nothing left by the last', async () => {
    const seen = [];
    for (let i = 0; i < 3; i += 1) {
      const spec = probe({ attempt: i });
      const result = await sandbox.backend.run(spec);
      expect(result.exitCode, result.stderr.text).toBe(0);
      const run = JSON.parse(result.stdout.text);
      expect(run).toMatchObject({ run: spec.runId, params: { attempt: i }, tmp: [], outputs: [] });
      expect(result.outputs).toEqual({ left: spec.runId });
      seen.push(run.host);
      await until(() => sandbox.backend.poolStats.parked === 1);
    }
    expect(new Set(seen).size, `containers used: ${seen.join(', ')}`).toBe(3);
    expect(sandbox.backend.poolStats.hits).toBeGreaterThanOrEqual(2);
  });

  it('counts the timeout from the command’s start, not from when the container was parked', async () => {
    const spec = probe({}, { command: ['sleep', '1'], limits: { ...DEFAULT_TEST_LIMITS, timeoutSeconds: 2 } });
    await sandbox.backend.run({ ...spec, runId: randomUUID() }); // parks one for this template
    await until(() => sandbox.backend.poolStats.parked >= 1);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const hitsBefore = sandbox.backend.poolStats.hits;
    const result = await sandbox.backend.run({ ...spec, runId: randomUUID() });
    expect(sandbox.backend.poolStats.hits).toBe(hitsBefore + 1);
    expect(result.outcome).toEqual({ kind: 'exited' });
    expect(result.exitCode).toBe(0);
  });

  it('drops a parked container killed while it waited (an engine restart) at once; the next run starts fresh and runs once', async () => {
    const spec = probe({ attempt: 'before' }, { command: ['echo', 'once'] });
    await sandbox.backend.run(spec); // parks one for this template
    await until(() => sandbox.backend.poolStats.parked >= 1);
    const parked = await sandbox.docker.listContainers({ filters: { label: [`sandrun.pool_test=${poolLabel}`], name: ['sandrun-pool-'] } });
    expect(parked.length).toBeGreaterThanOrEqual(1);
    // What an engine stopping does to a container: SIGTERM to its init (exit 143).
    await Promise.all(parked.map((container) => sandbox.docker.getContainer(container.Id).kill({ signal: 'SIGTERM' })));
    // No run has to find it dead: its ended connection takes it out of the pool, and off the engine.
    const killed = new Set(parked.map((container) => container.Id));
    await until(async () => sandbox.backend.poolStats.parked === 0 && (await sandbox.docker.listContainers({ all: true })).every((container) => !killed.has(container.Id)));
    const result = await sandbox.backend.run({ ...spec, runId: randomUUID() });
    expect(result.outcome).toEqual({ kind: 'exited' });
    expect(result.exitCode, result.stderr.text).toBe(0);
    expect(result.stdout.text).toBe('once\n');
  });

  it('stays within its bound and is emptied on close', async () => {
    for (const memoryMb of [128, 160, 192]) {
      await sandbox.backend.run(probe({}, { limits: { ...DEFAULT_TEST_LIMITS, memoryMb } }));
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const parked = await sandbox.docker.listContainers({ all: true, filters: { label: [`sandrun.pool_test=${poolLabel}`] } });
    expect(parked.length).toBeLessThanOrEqual(2);
    expect(sandbox.backend.poolStats.parked).toBeLessThanOrEqual(2);
    await sandbox.backend.releaseWarm({ 'sandrun.pool_test': poolLabel });
    expect(await sandbox.docker.listContainers({ all: true, filters: { label: [`sandrun.pool_test=${poolLabel}`] } })).toEqual([]);
  });
});
