// A Docker run's note of where it runs (runs.sandbox_ref): the launcher's and the direct path's, written at the start and read back to adopt the run.
import { describe, expect, it } from 'vitest';
import { containersOf, directRef, launcherRef, parseDockerRef } from '../../src/sandbox/docker/adoption-ref.ts';
import { parseTaskRef, taskRef } from '../../src/sandbox/swarm/task-ref.ts';

const direct = { container: 'a'.repeat(64), holder: 'b'.repeat(64), volume: 'sandrun-0f8e2c1a-1b2c-4d5e-8f90-123456789abc-outputs', kept: true };

describe('the Docker run note', () => {
  it('reads back a direct-path note, naming its container and its outputs holder for the reaper to leave alone', () => {
    const parsed = parseDockerRef(directRef(direct));
    expect(parsed).toEqual({ path: 'direct', ...direct });
    expect(containersOf(parsed!)).toEqual([direct.container, direct.holder]);
  });

  it('still reads a launcher note as written before the direct path had one', () => {
    const old = '{"path":"launcher","container":"' + 'c'.repeat(64) + '","nonce":"' + 'd'.repeat(32) + '","kept":true}';
    expect(parseDockerRef(old), 'kept: true is the engine log').toEqual({ path: 'launcher', container: 'c'.repeat(64), nonce: 'd'.repeat(32), kept: 'log' });
    expect(parseDockerRef(launcherRef('c'.repeat(64), 'd'.repeat(32), 'log'))).toEqual(parseDockerRef(old));
  });

  it('is not read from another backend’s note, a damaged row or none, and the swarm does not read a direct one', () => {
    const swarm = taskRef({ service: 'kq3x7b2m9p0c1d4e5f6g7h8j9', node: 'n0d3id000000000000000000a', container: 'a'.repeat(64), nonce: `sandrun-frame-${'b'.repeat(32)}`, kept: 'log' });
    expect(parseDockerRef(swarm)).toBeUndefined();
    expect(parseTaskRef(directRef(direct))).toBeUndefined();
    expect(parseDockerRef(JSON.stringify({ path: 'direct', ...direct, holder: 'short' }))).toBeUndefined();
    expect(parseDockerRef(JSON.stringify({ path: 'direct', ...direct, volume: '../etc' }))).toBeUndefined();
    expect(parseDockerRef('{"path":"direct"')).toBeUndefined();
    expect(parseDockerRef(null)).toBeUndefined();
  });
});
