// The backends every contract suite runs against, side by side: the local Docker engine and the shared 3-node swarm.
// A suite wraps its cases in eachBackend(); each backend gets a describe named after it ('docker', 'swarm'),
// which scripts/test-summary.js counts by.
import Dockerode from 'dockerode';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, inject } from 'vitest';
import type { SandboxBackend, SandboxSpec } from '../../src/sandbox/backend.ts';
import { RUN_ID_LABEL } from '../../src/sandbox/labels.ts';
import { SwarmBackend } from '../../src/sandbox/swarm/swarm-backend.ts';
import { TEST_SANDBOX_SETTINGS, createTestSandbox, testSpec, writeWorkspace } from './sandbox.ts';
import { sharedSwarmCluster, type SharedCluster } from './swarm-cluster.ts';

export type BackendKind = 'docker' | 'swarm';

/** SANDRUN_TEST_BACKENDS=docker (say) narrows a local run; the test command runs both. */
export const BACKENDS: BackendKind[] = (process.env.SANDRUN_TEST_BACKENDS ?? 'docker,swarm')
  .split(',')
  .map((name) => name.trim())
  .filter((name): name is BackendKind => name === 'docker' || name === 'swarm');

export type SandboxSettings = Partial<typeof TEST_SANDBOX_SETTINGS>;

export interface BackendSandbox {
  kind: BackendKind;
  backend: SandboxBackend;
  workspace(files: Record<string, string>): Promise<string>;
  spec(overrides: Partial<SandboxSpec> & { command: string[] }): SandboxSpec;
  /** What is left of a run on the engine(s): containers (and on the swarm, services, secrets and configs), by the run's label. */
  leftovers(runId: string): Promise<string[]>;
  cleanup(): Promise<void>;
}

/** The shared cluster; undefined with the reason when this machine cannot make one. */
export async function swarmCluster(): Promise<SharedCluster | { unavailable: string }> {
  return sharedSwarmCluster(inject('swarmClusterUrl'));
}

async function clusterOrThrow(): Promise<SharedCluster> {
  const cluster = await swarmCluster();
  if ('unavailable' in cluster) throw new Error(`no swarm cluster: ${cluster.unavailable}`);
  return cluster;
}

/** Why `kind` cannot run on this machine, or undefined. */
export async function backendUnavailable(kind: BackendKind): Promise<string | undefined> {
  if (kind === 'docker') return undefined;
  const cluster = await swarmCluster();
  return 'unavailable' in cluster ? cluster.unavailable : undefined;
}

/**
 * Declares `cases` once per backend, inside a describe named after it; a backend this machine cannot run is
 * skipped with a warning saying why. Call with top-level await.
 */
export async function eachBackend(suite: string, cases: (kind: BackendKind) => void, kinds: readonly BackendKind[] = BACKENDS): Promise<void> {
  for (const kind of kinds.filter((k) => BACKENDS.includes(k))) {
    const unavailable = await backendUnavailable(kind);
    if (unavailable) console.warn(`[${suite}] ${kind} cases skipped: ${unavailable}`);
    describe.skipIf(Boolean(unavailable))(kind, () => cases(kind));
  }
}

const byRun = (runId: string) => ({ all: true, filters: { label: [`${RUN_ID_LABEL}=${runId}`] } });

/** What is left of a run on the local engine or on the shared swarm (its service, secrets, config and its task's containers). */
export async function runLeftovers(kind: BackendKind, runId: string): Promise<string[]> {
  if (kind === 'docker') return (await new Dockerode().listContainers(byRun(runId))).map((c) => `container ${c.Id}`);
  const engines = (await clusterOrThrow()).sockets.map((socketPath) => new Dockerode({ socketPath }));
  const labelled = { filters: { label: [`${RUN_ID_LABEL}=${runId}`] } };
  const services = await engines[0]!.listServices(labelled);
  const secrets = (await engines[0]!.listSecrets(labelled)) as { ID: string }[];
  const configs = (await engines[0]!.listConfigs(labelled)) as { ID: string }[];
  const containers = (await Promise.all(engines.map((engine) => engine.listContainers(byRun(runId))))).flat();
  return [
    ...services.map((s) => `service ${s.ID}`),
    ...secrets.map((s) => `secret ${s.ID}`),
    ...configs.map((c) => `config ${c.ID}`),
    ...containers.map((c) => `container ${c.Id}`),
  ];
}

/** A sandbox backend of `kind` on temp directories, with the test settings (sandbox.ts) unless overridden; on the swarm, every node a manager in the cluster's order unless given. */
export async function createBackendSandbox(kind: BackendKind, settings: SandboxSettings = {}, swarm: { managerHosts?: string[] } = {}): Promise<BackendSandbox> {
  if (kind === 'docker') {
    const docker = await createTestSandbox(settings);
    return {
      kind,
      backend: docker.backend,
      workspace: (files) => docker.workspace(files),
      spec: (overrides) => docker.spec(overrides),
      leftovers: (runId) => runLeftovers(kind, runId),
      cleanup: () => docker.cleanup(),
    };
  }
  const cluster = await clusterOrThrow();
  const root = await mkdtemp(join(tmpdir(), 'sandrun-swarm-test-'));
  await chmod(root, 0o755);
  const hosts = cluster.sockets.map((socket) => `unix://${socket}`);
  const backend = new SwarmBackend({
    managerHosts: swarm.managerHosts ?? hosts,
    nodeHosts: hosts,
    workDir: join(root, 'images'),
    instanceId: `test-${randomUUID()}`,
    ...TEST_SANDBOX_SETTINGS,
    ...settings,
  });
  let workspaces = 0;
  return {
    kind,
    backend,
    workspace: (files) => writeWorkspace(root, (workspaces += 1), files),
    spec: (overrides) => testSpec(root, overrides),
    leftovers: (runId) => runLeftovers(kind, runId),
    async cleanup() {
      await backend.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The SANDRUN_* settings that put a test server (server.ts) on `kind`. */
export async function backendServerEnv(kind: BackendKind): Promise<Record<string, string>> {
  if (kind === 'docker') return {};
  const hosts = (await clusterOrThrow()).sockets.map((socket) => `unix://${socket}`);
  return { SANDRUN_BACKEND: 'swarm', SANDRUN_SWARM_HOST: hosts.join(','), SANDRUN_SWARM_NODE_HOSTS: hosts.join(',') };
}
