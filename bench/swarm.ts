// Latency of one trivial run on the swarm backend (a throw-away 3-node swarm) against the Docker backend: medians and their ratio.
// Usage: node --import tsx bench/swarm.ts [RUNS]   (root; builds and tears down its own cluster)
import Dockerode from 'dockerode';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSwarmCluster } from '../scripts/swarm/cluster.ts';
import { ensureClusterPrerequisites } from '../scripts/swarm/prerequisites.ts';
import type { SandboxBackend, SandboxSpec } from '../src/sandbox/backend.ts';
import { DockerBackend } from '../src/sandbox/docker/docker-backend.ts';
import { SwarmBackend } from '../src/sandbox/swarm/swarm-backend.ts';
import { printRow, round, summarize } from './stats.ts';

const IMAGE = 'sandrun/python:3.11';
const runs = Number(process.argv[2] ?? '12');
const hardening = { runtime: 'runc' as const, tmpMb: 64, outputsCapBytes: 10 << 20, outputsMaxEntries: 1000, fileSizeMb: 64, openFiles: 1024, logCapBytes: 1 << 20, engineCallTimeoutMs: 30_000 };

async function measure(backend: SandboxBackend, workspaceDir: string): Promise<number[]> {
  const spec = (): SandboxSpec => ({
    runId: randomUUID(),
    image: IMAGE,
    command: ['python3', '-c', 'print(1)'],
    workspaceDir,
    parameters: { n: 1 },
    env: {},
    limits: { timeoutSeconds: 30, memoryMb: 256, cpus: 1, pids: 128 },
  });
  await backend.run(spec()); // warm-up: the swarm builds the workspace image once per commit
  const times: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    const result = await backend.run(spec());
    times.push(performance.now() - started);
    if (result.exitCode !== 0) throw new Error(`bench run failed: ${result.stderr.text}`);
  }
  return times;
}

const cannot = ensureClusterPrerequisites();
if (cannot) {
  console.log(`swarm bench skipped: ${cannot}`);
  process.exit(0);
}
const root = await mkdtemp(join(tmpdir(), 'sandrun-bench-swarm-'));
await chmod(root, 0o755);
const workspace = join(root, 'workspace');
await mkdir(workspace, { mode: 0o755 });
await writeFile(join(workspace, 'main.py'), 'print(1)\n');
const setupStarted = performance.now();
const cluster = await startSwarmCluster({ images: [IMAGE] });
const setupMs = performance.now() - setupStarted;
const docker = new DockerBackend(new Dockerode(), { ...hardening, instanceId: `bench-${randomUUID()}`, runsDir: join(root, 'runs') });
const hosts = cluster.sockets.map((socket) => `unix://${socket}`);
const swarm = new SwarmBackend({ ...hardening, instanceId: `bench-${randomUUID()}`, managerHosts: hosts, nodeHosts: hosts, workDir: join(root, 'images') });
try {
  console.log(`cluster setup ${round(setupMs / 1000, 2)} s: ${JSON.stringify(cluster.timings)}`);
  const dockerSummary = summarize(await measure(docker, workspace));
  const swarmSummary = summarize(await measure(swarm, workspace));
  printRow('docker backend, python print(1) (no pool)', dockerSummary);
  printRow('swarm backend, 3 managers, same run', swarmSummary);
  console.log(`  swarm / docker median latency ratio: ${round(swarmSummary.medianMs / dockerSummary.medianMs, 2)}`);
} finally {
  await docker.close();
  await swarm.close();
  await cluster.teardown();
  await rm(root, { recursive: true, force: true });
}
