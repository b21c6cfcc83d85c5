// What a run's service spec sets itself, by the cluster's API version: the rest is the nodes' daemons', checked before the first run.
import { describe, expect, it } from 'vitest';
import type { SandboxSpec } from '../../src/sandbox/backend.ts';
import { parseProbe, serviceFeatures } from '../../src/sandbox/swarm/node-hardening.ts';
import { serviceSpec, taskLogBytes } from '../../src/sandbox/swarm/service-spec.ts';

const run: SandboxSpec = {
  runId: 'r1',
  image: 'sandrun/python:3.11',
  command: ['python', 'x.py'],
  workspaceDir: '/tmp/w',
  parameters: {},
  env: {},
  limits: { timeoutSeconds: 30, memoryMb: 128, cpus: 1, pids: 64 },
};
const settings = { instanceId: 'i', runtime: 'runc' as const, tmpMb: 64, outputsCapBytes: 1024 * 1024, fileSizeMb: 64, openFiles: 1024, logCapBytes: 65536 };

function containerSpec(apiVersion: string): Record<string, unknown> {
  const spec = serviceSpec({ spec: run, imageId: 'sha256:x', configId: 'c', configName: 'n', nonce: 'z', secrets: [] }, settings, serviceFeatures([apiVersion, '1.47']));
  return (spec.TaskTemplate as { ContainerSpec: Record<string, unknown> }).ContainerSpec;
}

describe('the service spec by API version', () => {
  it('sets no-new-privileges and the tmpfs flags per service where the API carries them (1.46)', () => {
    const container = containerSpec('1.46');
    expect(container.Privileges).toEqual({ NoNewPrivileges: true });
    const mounts = container.Mounts as { Target: string; TmpfsOptions: { Options?: string[][] } }[];
    for (const target of ['/tmp', '/outputs']) {
      expect(mounts.find((m) => m.Target === target)?.TmpfsOptions.Options, target).toEqual([['noexec'], ['nosuid'], ['nodev']]);
    }
  });

  it('leaves them to the nodes below the versions that carry them (1.41: checked on each node instead)', () => {
    const container = containerSpec('1.41');
    expect(container.Privileges).toBeUndefined();
    expect((container.Mounts as { TmpfsOptions: { Options?: unknown } }[]).every((m) => m.TmpfsOptions.Options === undefined)).toBe(true);
    expect(serviceFeatures(['1.44', '1.45'])).toEqual({ noNewPrivileges: true, tmpfsOptions: false });
    expect(serviceFeatures(['2.0', '1.43'])).toEqual({ noNewPrivileges: false, tmpfsOptions: false });
  });

  it("reads the probe's no-new-privileges, seccomp and swap", () => {
    expect(parseProbe('Name:\tcat\nNoNewPrivs:\t1\nSeccomp:\t2\nMemTotal: 1 kB\nSwapTotal:        1024 kB\n')).toEqual({ noNewPrivs: true, seccompMode: 2, swapTotalKb: 1024 });
    expect(() => parseProbe('nothing')).toThrow(/lacks NoNewPrivs, Seccomp or SwapTotal/);
  });

  it('keeps a bounded, rotated log of a run without secrets that holds both capped logs and the largest outputs frame', () => {
    const spec = serviceSpec({ spec: run, imageId: 'sha256:x', configId: 'c', configName: 'n', nonce: 'z', secrets: [] }, settings, serviceFeatures(['1.41', '1.47']));
    const driver = (spec.TaskTemplate as { LogDriver: { Name: string; Options: Record<string, string> } }).LogDriver;
    expect(driver.Name).toBe('local');
    const files = Number(driver.Options['max-file']);
    const fileBytes = Number(driver.Options['max-size']);
    // Rotation drops the oldest file: (files - 1) full files are always there.
    expect((files - 1) * fileBytes, JSON.stringify(driver.Options)).toBeGreaterThanOrEqual(taskLogBytes(settings));
    // The frame of a full /outputs: base64 in 76-character lines, each an entry of the local driver (×1.35 on disk, measured).
    expect(taskLogBytes(settings)).toBeGreaterThanOrEqual(2 * settings.logCapBytes + Math.ceil(settings.outputsCapBytes * (4 / 3) * 1.35));
    expect(files * fileBytes, 'what the node may hold at most').toBeLessThan(2 * taskLogBytes(settings));
  });

  it('a run with secrets mounts each as /run/secrets/KEY of the run user, 0400, and keeps no engine log on the node', () => {
    const secrets = [{ key: 'API_TOKEN', secretId: 'sid', secretName: 'sandrun-r1-secret-0' }];
    const withSecrets = { ...run, secrets: { API_TOKEN: 's3cr3t-value-123' } };
    const spec = serviceSpec({ spec: withSecrets, imageId: 'sha256:x', configId: 'c', configName: 'n', nonce: 'z', secrets }, settings, serviceFeatures(['1.41', '1.41']));
    const task = spec.TaskTemplate as { ContainerSpec: Record<string, unknown>; LogDriver: { Name: string } };
    expect(task.ContainerSpec.Secrets).toEqual([{ File: { Name: 'API_TOKEN', UID: '10001', GID: '10001', Mode: 0o400 }, SecretID: 'sid', SecretName: 'sandrun-r1-secret-0' }]);
    expect(task.LogDriver).toEqual({ Name: 'none' });
    expect(JSON.stringify(spec), 'the value is in no part of the spec (Env included): only the secret’s id').not.toContain('s3cr3t');
    const without = serviceSpec({ spec: run, imageId: 'sha256:x', configId: 'c', configName: 'n', nonce: 'z', secrets: [] }, settings, serviceFeatures(['1.41', '1.41']));
    expect((without.TaskTemplate as { ContainerSpec: Record<string, unknown> }).ContainerSpec.Secrets, 'no secrets: no mount').toBeUndefined();
  });

  it('a run with secrets gets small tmpfs mounts, each log the log cap, for the copies its wrapper keeps in memory; a run without none', () => {
    const secrets = [{ key: 'API_TOKEN', secretId: 'sid', secretName: 'sandrun-r1-secret-0' }];
    const mounts = (parts: { secrets: typeof secrets }) => {
      const spec = serviceSpec({ spec: run, imageId: 'sha256:x', configId: 'c', configName: 'n', nonce: 'z', ...parts }, settings, serviceFeatures(['1.41', '1.41']));
      const container = (spec.TaskTemplate as { ContainerSpec: { Mounts: { Type: string; Target: string; TmpfsOptions: { SizeBytes: number } }[] } }).ContainerSpec;
      return Object.fromEntries(container.Mounts.filter((m) => m.Target.startsWith('/run/sandrun-kept')).map((m) => [m.Target, [m.Type, m.TmpfsOptions.SizeBytes]]));
    };
    expect(mounts({ secrets })).toEqual({
      '/run/sandrun-kept': ['tmpfs', 64 * 1024],
      '/run/sandrun-kept/stdout': ['tmpfs', settings.logCapBytes],
      '/run/sandrun-kept/stderr': ['tmpfs', settings.logCapBytes],
    });
    expect(mounts({ secrets: [] })).toEqual({});
  });
});
