// The connection to the engine dropping after a run's command exited, before or while the launcher's stream carries
// its outputs: they are still read (the launcher lingers, and an exec reads /outputs), or the run says the platform
// lost them; never that the run's outputs were invalid.
import Dockerode from 'dockerode';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineProxy } from '../helpers/engine-proxy.ts';
import { createTestSandbox, type TestSandbox } from '../helpers/sandbox.ts';

/** The launcher's stdout trailer of a command that exited 0 and left outputs. */
const TRAILER_WITH_OUTPUTS = new RegExp(String.raw`\x1e[0-9a-f]{32} 0 1\x1e\n`);
const WRITES_AN_OUTPUT = ['sh', '-c', 'echo \'{"answer": 42}\' > /outputs/result.json; echo done'];

const engine = new Dockerode();
let dir: string;
let proxy: EngineProxy;
let sandbox: TestSandbox;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sandrun-engine-link-'));
  proxy = new EngineProxy(join(dir, 'engine.sock'));
  await proxy.up();
  sandbox = await createTestSandbox({}, new Dockerode({ socketPath: proxy.path }));
});
afterAll(async () => {
  await sandbox?.cleanup();
  await proxy?.down();
  await rm(dir, { recursive: true, force: true });
});

const containersOf = (testCase: string) => engine.listContainers({ all: true, filters: { label: [`sandrun.case=${testCase}`] } });

/** The backend removes a run's container after answering; this waits for it, up to 5 s. */
async function expectRemoved(testCase: string): Promise<void> {
  for (let i = 0; i < 50 && (await containersOf(testCase)).length > 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
  expect(await containersOf(testCase)).toEqual([]);
}

describe('a connection to the engine dropped after the command exited', () => {
  it('still yields the run’s exit code, output and outputs', async () => {
    const testCase = randomUUID();
    const dropped = proxy.dropAfterReply(TRAILER_WITH_OUTPUTS);
    const result = await sandbox.backend.run(sandbox.spec({ command: WRITES_AN_OUTPUT, labels: { 'sandrun.test': 'true', 'sandrun.case': testCase } }));
    await dropped;
    expect(result.stderr.text).toBe('');
    expect(result).toMatchObject({ outcome: { kind: 'exited' }, exitCode: 0, outputs: { result: { answer: 42 } } });
    expect(result.stdout.text).toBe('done\n');
    await expectRemoved(testCase);
  });

  it('still yields the run’s outputs when the drop cuts the outputs frame in the middle', async () => {
    const testCase = randomUUID();
    // The tar header of result.json, whose megabyte of content follows in later chunks.
    const dropped = proxy.dropAfterReply(new RegExp(String.raw`\./result\.json\x00`));
    const command = ['python3', '-c', 'import json\njson.dump({"answer": 42, "pad": "x" * 1000000}, open("/outputs/result.json", "w"))\nprint("done")'];
    const result = await sandbox.backend.run(sandbox.spec({ command, labels: { 'sandrun.test': 'true', 'sandrun.case': testCase } }));
    await dropped;
    expect(result).toMatchObject({ outcome: { kind: 'exited' }, exitCode: 0, outputs: { result: { answer: 42 } } });
    expect(result.stdout.text).toBe('done\n');
    await expectRemoved(testCase);
  });

  it('ends as engine_unavailable, not as invalid outputs, when the container was stopped before they were read', async () => {
    const testCase = randomUUID();
    const dropped = proxy.dropAfterReply(TRAILER_WITH_OUTPUTS, async () => {
      const [info] = await containersOf(testCase);
      const container = engine.getContainer(info!.Id);
      await container.kill();
      await container.wait();
    });
    const run = sandbox.backend.run(sandbox.spec({ command: WRITES_AN_OUTPUT, labels: { 'sandrun.test': 'true', 'sandrun.case': testCase } }));
    await expect(run).rejects.toMatchObject({ code: 'engine_unavailable', message: expect.stringMatching(/stopped before its outputs could be read/) });
    await dropped;
    await expectRemoved(testCase);
  });
});
