// Builds a real Docker sandbox backend on temp directories for integration tests.
import Dockerode from 'dockerode';
import { chmod, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { RunLimits } from '../../src/run-limits.ts';
import type { SandboxSpec } from '../../src/sandbox/backend.ts';
import { DockerBackend, type DockerBackendSettings } from '../../src/sandbox/docker/docker-backend.ts';

export const PYTHON_IMAGE = 'sandrun/python:3.11';

export const DEFAULT_TEST_LIMITS: RunLimits = { timeoutSeconds: 30, memoryMb: 256, cpus: 1, pids: 128 };

/** What every test sandbox gets unless a test says otherwise, whichever its backend (backends.ts). */
/** On the host's tmpfs, as in production: each test sandbox keeps its runs' secrets under its own instance id there. */
export const TEST_SECRETS_DIR = '/dev/shm/sandrun-test-secrets';

export const TEST_SANDBOX_SETTINGS: Omit<DockerBackendSettings, 'runsDir' | 'secretsDir' | 'instanceId' | 'pool' | 'outputsHelperImage'> = {
  runtime: 'runc',
  tmpMb: 64,
  outputsCapBytes: 10 * 1024 * 1024,
  outputsMaxEntries: 1000,
  fileSizeMb: 256,
  openFiles: 1024,
  logCapBytes: 1024 * 1024,
  engineCallTimeoutMs: 30_000,
};

/** A directory of files the run user can read, as checkouts are; `index` keeps several apart under one root. */
export async function writeWorkspace(root: string, index: number, files: Record<string, string>): Promise<string> {
  const dir = join(root, `workspace-${index}`);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true, mode: 0o755 });
    await writeFile(join(dir, path), content, { mode: 0o644 });
  }
  return dir;
}

/** A run spec with the test defaults (python image, DEFAULT_TEST_LIMITS, no parameters). */
export function testSpec(workspaceDir: string, overrides: Partial<SandboxSpec> & { command: string[] }): SandboxSpec {
  return {
    runId: randomUUID(),
    image: PYTHON_IMAGE,
    workspaceDir,
    parameters: {},
    env: {},
    limits: DEFAULT_TEST_LIMITS,
    labels: { 'sandrun.test': 'true' },
    ...overrides,
  };
}

export interface TestSandbox {
  backend: DockerBackend;
  docker: Dockerode;
  /** The backend's server identity (label sandrun.instance). */
  instanceId: string;
  /** A workspace directory holding the given files (world-readable, as checkouts are). */
  workspace(files: Record<string, string>): Promise<string>;
  spec(overrides: Partial<SandboxSpec> & { command: string[] }): SandboxSpec;
  cleanup(): Promise<void>;
}

/** `docker`: the engine client the backend uses (one through a test's proxy, say); the local engine by default. */
export async function createTestSandbox(settings: Partial<DockerBackendSettings> = {}, docker = new Dockerode()): Promise<TestSandbox> {
  const root = await mkdtemp(join(tmpdir(), 'sandrun-test-'));
  await chmod(root, 0o755);
  const instanceId = `test-${randomUUID()}`;
  const backend = new DockerBackend(docker, {
    runsDir: join(root, 'runs'),
    secretsDir: TEST_SECRETS_DIR,
    instanceId,
    ...TEST_SANDBOX_SETTINGS,
    ...settings,
  });
  let workspaces = 0;
  return {
    backend,
    docker,
    instanceId: settings.instanceId ?? instanceId,
    workspace: (files) => writeWorkspace(root, (workspaces += 1), files),
    spec: (overrides) => testSpec(root, overrides),
    async cleanup() {
      await backend.close();
      await rm(root, { recursive: true, force: true });
      await rm(join(settings.secretsDir ?? TEST_SECRETS_DIR, settings.instanceId ?? instanceId), { recursive: true, force: true });
    },
  };
}

/** Whether the engine has this OCI runtime registered (gVisor's runsc is optional). */
export async function runtimeAvailable(name: string): Promise<boolean> {
  const info = (await new Dockerode().info()) as { Runtimes?: Record<string, unknown> };
  return name in (info.Runtimes ?? {});
}
