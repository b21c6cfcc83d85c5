// Every engine client a backend uses has the deadline (engine-deadline.ts); only requests answered late are left to their callers.
import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerBackend } from '../../src/sandbox/docker/docker-backend.ts';
import { answersLate, engineDeadlineOf, withEngineDeadline } from '../../src/sandbox/engine-deadline.ts';
import { engineFor } from '../../src/sandbox/swarm/engine-client.ts';

const settings = {
  runsDir: '/nonexistent',
  secretsDir: '/nonexistent',
  instanceId: 'unit',
  runtime: 'runc' as const,
  tmpMb: 64,
  outputsCapBytes: 1024,
  outputsMaxEntries: 10,
  fileSizeMb: 64,
  openFiles: 1024,
  logCapBytes: 1024,
  engineCallTimeoutMs: 1_234,
};

describe('the engine deadline', () => {
  it('is put on the client the Docker backend is given, so that no call of the backend can go without it', () => {
    const docker = new Dockerode({ socketPath: '/nonexistent.sock' });
    new DockerBackend(docker, settings);
    expect(engineDeadlineOf(docker)).toBe(1_234);
  });

  it('is put on every swarm engine client', () => {
    expect(engineDeadlineOf(engineFor('unix:///nonexistent.sock', undefined, 4_321))).toBe(4_321);
    expect(engineDeadlineOf(engineFor('tcp://127.0.0.1:2375', undefined, 4_321))).toBe(4_321);
  });

  it('is set again, not stacked, when a client is wrapped twice', () => {
    const docker = withEngineDeadline(new Dockerode({ socketPath: '/nonexistent.sock' }), 1_000);
    const modem = docker.modem as { dial: unknown };
    const dial = modem.dial;
    withEngineDeadline(docker, 2_000);
    expect(engineDeadlineOf(docker)).toBe(2_000);
    expect(modem.dial).toBe(dial);
  });

  it('leaves out only a container wait (answered at the exit) and uploads (answered after their body)', () => {
    expect(answersLate({ path: '/containers/abc/wait?' })).toBe(true);
    expect(answersLate({ path: '/images/load?', file: {} })).toBe(true);
    for (const path of ['/containers/abc?', '/containers/abc/json?', '/containers/abc/attach?', '/containers/abc/start?', '/exec/abc/start', '/events?', '/containers/wait/json?']) {
      expect(answersLate({ path }), path).toBe(false);
    }
  });
});
