// The engine's multiplexed exec stream, split into stdout and stderr however the bytes arrive.
import { describe, expect, it } from 'vitest';
import { StreamDemux } from '../../src/sandbox/stream-demux.ts';

function frame(type: 1 | 2, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

function demux(chunks: Buffer[]) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const splitter = new StreamDemux((chunk) => out.push(Buffer.from(chunk)), (chunk) => err.push(Buffer.from(chunk)));
  for (const chunk of chunks) splitter.push(chunk);
  return { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** Every way of cutting `bytes` into two or three pieces. */
function cuts(bytes: Buffer): Buffer[][] {
  const ways: Buffer[][] = [];
  for (let a = 0; a <= bytes.length; a++) {
    for (let b = a; b <= bytes.length; b += 3) ways.push([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]);
  }
  return ways;
}

describe('splitting the engine exec stream', () => {
  const stream = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err one\n'), frame(1, ''), frame(1, 'out two\n'), frame(2, 'err two')]);

  it('routes each frame to its stream, wherever the chunks are cut (headers and payloads split)', () => {
    for (const chunks of cuts(stream)) {
      expect(demux(chunks)).toEqual({ stdout: 'out one\nout two\n', stderr: 'err one\nerr two' });
    }
  });

  it('handles one byte at a time and one chunk holding every frame', () => {
    expect(demux([...stream].map((byte) => Buffer.from([byte])))).toEqual({ stdout: 'out one\nout two\n', stderr: 'err one\nerr two' });
    expect(demux([stream])).toEqual({ stdout: 'out one\nout two\n', stderr: 'err one\nerr two' });
  });

  it('passes a large payload on as views of the chunks, without gathering it first', () => {
    const payload = 'x'.repeat(200_000);
    const bytes = frame(1, payload);
    const seen: number[] = [];
    const splitter = new StreamDemux((chunk) => seen.push(chunk.length), () => {});
    for (let offset = 0; offset < bytes.length; offset += 65_536) splitter.push(bytes.subarray(offset, offset + 65_536));
    expect(seen.reduce((sum, length) => sum + length, 0)).toBe(200_000);
    expect(Math.max(...seen)).toBeLessThanOrEqual(65_536);
  });

  it('treats a stream that is not multiplexed as plain stdout from then on', () => {
    expect(demux([frame(1, 'framed\n'), Buffer.from('plain text, no header\n')])).toEqual({ stdout: 'framed\nplain text, no header\n', stderr: '' });
  });
});
