// What a launcher with secrets keeps in memory for a server that adopts its run: the exit file read back, and the run's note of it, old notes included.
import { describe, expect, it } from 'vitest';
import { parseKeptExit } from '../../src/sandbox/kept-in-memory.ts';
import { launcherRef, parseDockerRef } from '../../src/sandbox/docker/adoption-ref.ts';

describe('the exit file', () => {
  it('gives the exit code, whether /outputs has anything, and when it was written', () => {
    expect(parseKeptExit(Buffer.from('3 1 1796064094\n'))).toEqual({ exitCode: 3, hasOutputs: true, endedAtSeconds: 1796064094 });
    // An image without `date`: the end time is unknown.
    expect(parseKeptExit(Buffer.from('0 0 \n'))).toEqual({ exitCode: 0, hasOutputs: false, endedAtSeconds: undefined });
  });

  it('is not read until it is whole, nor when it is not in its form', () => {
    for (const partial of ['', '3', '3 1 17960', '3 1 1796064094']) expect(parseKeptExit(Buffer.from(partial)), JSON.stringify(partial)).toBeUndefined();
    for (const wrong of ['x 1 1\n', '3 2 1\n', '1000 0 1\n', '3 1 1\nmore']) expect(parseKeptExit(Buffer.from(wrong)), JSON.stringify(wrong)).toBeUndefined();
  });
});

describe("a run's sandbox note", () => {
  const container = 'a'.repeat(64);
  const nonce = 'b'.repeat(32);

  it('says what the container keeps: its log, its memory, or nothing', () => {
    for (const kept of ['log', 'memory', false] as const) expect(parseDockerRef(launcherRef(container, nonce, kept))?.kept).toBe(kept);
  });

  it('reads a note written before runs with secrets were kept in memory: true was the log, false nothing', () => {
    const old = (kept: boolean) => JSON.stringify({ path: 'launcher', container, nonce, kept });
    expect(parseDockerRef(old(true))?.kept).toBe('log');
    expect(parseDockerRef(old(false))?.kept).toBe(false);
    expect(parseDockerRef(JSON.stringify({ path: 'launcher', container, nonce, kept: 'disk' }))).toBeUndefined();
  });
});
