// A run names the image it runs by the engine's ID (its data_snapshot_ref does): on Docker its container is made from
// that ID, and a container parked ahead from an earlier build of the same tag never serves it.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSpec } from '../../src/sandbox/backend.ts';
import { removeImage } from '../helpers/no-shell-image.ts';
import { until } from '../helpers/until.ts';
import { createTestSandbox, type TestSandbox } from '../helpers/sandbox.ts';

const TAG = `sandrun-test/image-id:${process.pid}`;
let sandbox: TestSandbox;
let workspace: string;

/** Builds the Python image with /marker holding `text`, under TAG; returns the engine's ID of the build. */
async function buildMarked(text: string): Promise<string> {
  const dockerfile = ['FROM sandrun/python:3.11', 'USER root', `RUN ["python3", "-c", "open('/marker', 'w').write('${text}')"]`, 'USER 10001:10001'].join('\n');
  execFileSync('docker', ['build', '-q', '--force-rm', '-t', TAG, '-'], { input: dockerfile, env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['pipe', 'ignore', 'inherit'] });
  return (await new Dockerode().getImage(TAG).inspect()).Id;
}

beforeAll(async () => {
  sandbox = await createTestSandbox({ pool: { maxTotal: 2, maxPerTenant: 2, maxPerTemplate: 1, maxIdleMs: 60_000 } });
  workspace = await sandbox.workspace({ 'marker.py': 'print(open("/marker").read())\n' });
});
afterAll(async () => {
  await sandbox.cleanup();
  removeImage(TAG);
});

const spec = (imageId: string): SandboxSpec =>
  sandbox.spec({ runId: randomUUID(), image: TAG, imageId, command: ['python3', 'marker.py'], workspaceDir: workspace, labels: { 'sandrun.tenant': 'image-id' } });

describe('a run named by its image ID', () => {
  it('runs on that image even when the tag moved, warm only on a container made from it', async () => {
    const first = await buildMarked('one');
    expect((await sandbox.backend.run(spec(first))).stdout.text).toBe('one\n');
    // The run parked one ahead, made from the first build.
    for (let i = 0; sandbox.backend.poolStats.parked < 1; i += 1) {
      if (i > 200) throw new Error('nothing was parked');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const second = await buildMarked('two');
    expect(second, 'the tag now names another image').not.toBe(first);
    const hits = sandbox.backend.poolStats.hits;
    expect((await sandbox.backend.run(spec(second))).stdout.text, 'a run of the new build').toBe('two\n');
    expect(sandbox.backend.poolStats.hits, 'the container parked from the old build did not serve it').toBe(hits);

    expect((await sandbox.backend.run(spec(first))).stdout.text, 'a run that names the first build, though the tag moved').toBe('one\n');
    expect(sandbox.backend.poolStats.hits, 'served by the container parked from the first build').toBe(hits + 1);
  });

  it('is asked again once the tag moves or the image goes: a run names what the tag names now', async () => {
    const third = await buildMarked('three');
    expect(await sandbox.backend.imageId(TAG)).toBe(third);
    expect(await sandbox.backend.imageId(TAG), 'asked twice, unchanged').toBe(third);
    const fourth = await buildMarked('four');
    // The engine's event of the new tag reaches the server a moment after the build.
    await until('the new build’s ID', async () => ((await sandbox.backend.imageId(TAG)) === fourth ? true : undefined), 10_000, 20);
    removeImage(TAG);
    await until('the removal seen', () => sandbox.backend.imageId(TAG).then(() => undefined, (error: unknown) => error), 10_000, 20);
    await expect(sandbox.backend.imageId(TAG)).rejects.toMatchObject({ code: 'image_unavailable' });
  });
});
