// Rows the store tests build on: a tenant with a project, and a new run of it.
import { randomUUID } from 'node:crypto';
import type { Stores } from '../../src/sandrun.ts';
import type { NewRun, RunCompletion } from '../../src/store/run-store.ts';

export const AT = '2026-12-01T10:00:00.000Z';

export async function tenantWithProject(stores: Stores, tenantId: string, name = 'demo'): Promise<{ tenantId: string; projectId: string; name: string }> {
  await stores.tenants.ensure(tenantId, AT);
  const project = await stores.projects.insert({ id: randomUUID(), tenantId, name, repoUrl: '/repo', defaultBranch: 'main', createdAt: AT, credential: null });
  return { tenantId, projectId: project.id, name };
}

export function newRun(project: { tenantId: string; projectId: string; name: string }, parameters: Record<string, unknown> = {}): NewRun {
  return {
    id: randomUUID(),
    tenantId: project.tenantId,
    projectId: project.projectId,
    projectName: project.name,
    scope: 'model',
    modelName: 'revenue',
    branch: null,
    commitSha: 'a'.repeat(40),
    parameters,
    image: 'sandrun/python:3.11',
    command: ['python', 'models/revenue.py'],
    limits: { timeoutSeconds: 60, memoryMb: 256, cpus: 1, pids: 64 },
    warning: null,
  };
}

export function completion(overrides: Partial<RunCompletion> = {}): RunCompletion {
  return {
    status: 'success',
    exitCode: 0,
    stdout: 'out\n',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    outputs: { total: 1 },
    error: null,
    durationSeconds: 1.5,
    startedAt: AT,
    finishedAt: '2026-12-01T10:00:02.000Z',
    usage: { cpuSeconds: 0.25, peakMemoryBytes: 5_000_000_000, outputBytes: 12 },
    egress: [],
    artifacts: [],
    ...overrides,
  };
}
