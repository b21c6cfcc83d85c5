// A swarm run's note of where it runs (runs.sandbox_ref): written at its start, read back by the server that adopts it.
import { describe, expect, it } from 'vitest';
import { launcherRef } from '../../src/sandbox/docker/adoption-ref.ts';
import { parseTaskRef, taskRef } from '../../src/sandbox/swarm/task-ref.ts';

const ref = { service: 'kq3x7b2m9p0c1d4e5f6g7h8j9', node: 'n0d3id000000000000000000a', container: 'a'.repeat(64), nonce: `sandrun-frame-${'b'.repeat(32)}`, kept: 'log' as const };

describe('the swarm task note', () => {
  it('reads back what was written', () => {
    expect(parseTaskRef(taskRef(ref))).toEqual({ path: 'swarm', ...ref });
  });

  it('says what the task keeps: its node’s log, its memory (a run with secrets), or nothing', () => {
    for (const kept of ['log', 'memory', false] as const) expect(parseTaskRef(taskRef({ ...ref, kept }))?.kept).toBe(kept);
  });

  it('reads a note written before runs with secrets were kept in memory: true was the log, false nothing', () => {
    const old = (kept: boolean) => JSON.stringify({ path: 'swarm', ...ref, kept });
    expect(parseTaskRef(old(true))?.kept).toBe('log');
    expect(parseTaskRef(old(false))?.kept).toBe(false);
  });

  it('is not read from another backend’s note, a damaged row or none', () => {
    expect(parseTaskRef(launcherRef('c'.repeat(64), 'd'.repeat(32), 'log'))).toBeUndefined();
    expect(parseTaskRef('{"path":"swarm"')).toBeUndefined();
    expect(parseTaskRef(JSON.stringify({ path: 'swarm', ...ref, container: 'short' }))).toBeUndefined();
    expect(parseTaskRef(null)).toBeUndefined();
  });
});
