// The engine's own floor through the API: create → attach → start → wait → remove of one hardened container.
import type Dockerode from 'dockerode';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { containerOptions } from '../src/sandbox/docker/hardening.ts';
import { TRIVIAL_COMMAND } from './bare-docker.ts';

const inputs = join(tmpdir(), 'sandrun-bench-inputs');

export async function rawDockerodeCycle(docker: Dockerode, image: string, workspaceDir: string): Promise<number> {
  mkdirSync(inputs, { recursive: true });
  writeFileSync(join(inputs, 'parameters.json'), '{}');
  const started = performance.now();
  const id = `bench-${crypto.randomUUID()}`;
  const options = containerOptions(
    { image, workspaceDir, limits: { timeoutSeconds: 30, memoryMb: 256, cpus: 1, pids: 128 }, labels: { 'sandrun.bench': 'true' } },
    id,
    { inputs },
    { instanceId: 'bench', runtime: 'runc', tmpMb: 64, outputsCapBytes: 10 << 20, fileSizeMb: 64, openFiles: 1024, logCapBytes: 1 << 20 },
  );
  const container = await docker.createContainer({ ...options, Cmd: TRIVIAL_COMMAND, OpenStdin: false, StdinOnce: false, AttachStdin: false, AttachStdout: true, AttachStderr: true });
  const stream = await container.attach({ stream: true, stdout: true, stderr: true });
  const sink = new PassThrough();
  docker.modem.demuxStream(stream, sink, sink);
  sink.resume();
  await container.start();
  await container.wait();
  await container.remove({ force: true });
  return performance.now() - started;
}
