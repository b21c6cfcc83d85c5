// The swarm backend (a throw-away 3-node swarm on this machine) against the Docker backend on one engine: the latency of one
// trivial run (medians and their ratio), and the time for 100 runs at 8 at a time. Raw JSON in bench/results/.
// Usage: node --import tsx bench/swarm.ts [RUNS]   (root; builds and tears down its own cluster)
import Dockerode from 'dockerode';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSwarmCluster } from '../scripts/swarm/cluster.ts';
import { ensureClusterPrerequisites } from '../scripts/swarm/prerequisites.ts';
import type { SandboxBackend, SandboxSpec } from '../src/sandbox/backend.ts';
import { DockerBackend } from '../src/sandbox/docker/docker-backend.ts';
import { SwarmBackend } from '../src/sandbox/swarm/swarm-backend.ts';
import { printRow, round, summarize } from './stats.ts';

const IMAGE = 'sandrun/python:3.11';
const runs = Number(process.argv[2] ?? '12');
const hardening = { runtime: 'runc' as const, tmpMb: 64, outputsCapBytes: 10 << 20, outputsMaxEntries: 1000, fileSizeMb: 64, openFiles: 1024, logCapBytes: 1 << 20, engineCallTimeoutMs: 30_000 };

const spec = (workspaceDir: string): SandboxSpec => ({
  runId: randomUUID(),
  image: IMAGE,
  command: ['python3', '-c', 'print(1)'],
  workspaceDir,
  parameters: { n: 1 },
  env: {},
  limits: { timeoutSeconds: 30, memoryMb: 256, cpus: 1, pids: 128 },
});

async function measure(backend: SandboxBackend, workspaceDir: string): Promise<number[]> {
  await backend.run(spec(workspaceDir)); // warm-up: the swarm builds the workspace image once per commit
  const times: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    const result = await backend.run(spec(workspaceDir));
    times.push(performance.now() - started);
    if (result.exitCode !== 0) throw new Error(`bench run failed: ${result.stderr.text}`);
  }
  return times;
}

/** Wall time of `count` runs, `concurrency` at a time. */
async function throughput(backend: SandboxBackend, workspaceDir: string, count = 100, concurrency = 8): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      next += 1;
      const result = await backend.run(spec(workspaceDir));
      if (result.exitCode !== 0) throw new Error(`bench run failed: ${result.stderr.text}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now() - started;
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
const docker = new DockerBackend(new Dockerode(), { ...hardening, instanceId: `bench-${randomUUID()}`, runsDir: join(root, 'runs'), secretsDir: join(root, 'secrets') });
const hosts = cluster.sockets.map((socket) => `unix://${socket}`);
const swarm = new SwarmBackend({ ...hardening, instanceId: `bench-${randomUUID()}`, managerHosts: hosts, nodeHosts: hosts, workDir: join(root, 'images') });
try {
  console.log(`cluster setup ${round(setupMs / 1000, 2)} s: ${JSON.stringify(cluster.timings)}`);
  const dockerSummary = summarize(await measure(docker, workspace));
  const swarmSummary = summarize(await measure(swarm, workspace));
  printRow('docker backend, python print(1) (no pool)', dockerSummary);
  printRow('swarm backend, 3 managers, same run', swarmSummary);
  console.log(`  swarm / docker median latency ratio: ${round(swarmSummary.medianMs / dockerSummary.medianMs, 2)}`);
  const dockerBatchMs = await throughput(docker, workspace);
  const swarmBatchMs = await throughput(swarm, workspace);
  console.log(`  100 runs, 8 at a time: docker backend ${round(dockerBatchMs)} ms, swarm ${round(swarmBatchMs)} ms, ratio ${round(swarmBatchMs / dockerBatchMs, 2)}`);
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', `swarm-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  const summary = { date: new Date().toISOString(), clusterSetupMs: round(setupMs), timings: cluster.timings, latency: { docker: dockerSummary, swarm: swarmSummary, ratio: round(swarmSummary.medianMs / dockerSummary.medianMs, 2) }, hundredRunsAt8: { dockerMs: round(dockerBatchMs), swarmMs: round(swarmBatchMs), ratio: round(swarmBatchMs / dockerBatchMs, 2) } };
  writeFileSync(out, JSON.stringify(summary, null, 2));
  console.log(`summary written to ${out}`);
} finally {
  await docker.close();
  await swarm.close();
  await cluster.teardown();
  await rm(root, { recursive: true, force: true });
}
