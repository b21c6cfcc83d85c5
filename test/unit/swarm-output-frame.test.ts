// The swarm backend's stdout splitter: the run's own output passes through intact, the wrapper's outputs frame is taken out.
import { describe, expect, it } from 'vitest';
import { StdoutFrameSplitter } from '../../src/sandbox/swarm/output-frame.ts';

const NONCE = 'sandrun-frame-test';

function split(chunks: string[], max = 1 << 20) {
  const seen: string[] = [];
  const splitter = new StdoutFrameSplitter(NONCE, (chunk) => seen.push(chunk.toString('latin1')), max, () => {});
  for (const chunk of chunks) splitter.push(Buffer.from(chunk, 'latin1'));
  const frame = splitter.finish();
  return { output: seen.join(''), frame };
}

describe('the outputs frame on a swarm task stdout', () => {
  it('keeps the output as printed, even without a final newline, and reads the frame', () => {
    const { output, frame } = split(['hel', 'lo\nno newline', `\n${NONCE} begin\nQUJD\nREVG\n${NONCE} end 3 0\n`]);
    expect(output).toBe('hello\nno newline');
    expect(frame).toEqual({ base64: 'QUJDREVG', exitCode: 3, tarStatus: 0, tooLarge: false });
  });

  it('drops the wrapper\'s start line and says whether the stream began with it (a kept log not cut at its head)', () => {
    const whole = new StdoutFrameSplitter(NONCE, () => {}, 1 << 20, () => {});
    const seen: string[] = [];
    const fromStart = new StdoutFrameSplitter(NONCE, (chunk) => seen.push(chunk.toString('latin1')), 1 << 20, () => {});
    fromStart.push(Buffer.from(`${NONCE} st`));
    fromStart.push(Buffer.from(`art\nhello\n\n${NONCE} begin\n${NONCE} end 0 0\n`));
    fromStart.finish();
    expect(seen.join('')).toBe('hello\n');
    expect(fromStart.sawStart).toBe(true);
    whole.push(Buffer.from(`lo (the head rotated away)\n${NONCE} start\n`));
    expect(whole.sawStart, 'a start line after other output is not the head').toBe(false);
  });

  it('finds the begin line run into the output’s last line, as the engine’s `local` log gives it after a line of 16 KiB or more', () => {
    for (const length of [20_000, 100_000]) {
      const long = 'y'.repeat(length);
      // The wrapper's LF before the begin line is lost; the chunks cut the begin line too.
      const { output, frame } = split([long.slice(0, 70_000), `${long.slice(70_000)}${NONCE} be`, `gin\nQUJD\n${NONCE} end 3 0\n`]);
      expect(output.length, `a last line of ${length}`).toBe(length);
      expect(output).toBe(long);
      expect(frame).toEqual({ base64: 'QUJD', exitCode: 3, tarStatus: 0, tooLarge: false });
    }
  });

  it('keeps a final newline of the output', () => {
    const { output } = split([`a\n\n${NONCE} begin\n${NONCE} end 0 0\n`]);
    expect(output).toBe('a\n');
  });

  it('lets the last frame win: one printed by the run itself is dropped', () => {
    const forged = `${NONCE} begin\nZm9yZ2Vk\n${NONCE} end 0 0\n`;
    const { frame } = split([forged, `\n${NONCE} begin\ncmVhbA==\n${NONCE} end 1 0\n`]);
    expect(frame?.base64).toBe('cmVhbA==');
    expect(frame?.exitCode).toBe(1);
  });

  it('has no frame when the wrapper never finished one, and marks an oversized frame', () => {
    expect(split(['just output\n']).frame).toBeUndefined();
    expect(split([`\n${NONCE} begin\nQUJD\n`]).frame).toBeUndefined();
    expect(split([`\n${NONCE} begin\nQUJDREVG\n${NONCE} end 0 0\n`], 4).frame?.tooLarge).toBe(true);
  });

  it('passes output that merely mentions a frame marker of another nonce', () => {
    const { output, frame } = split(['sandrun-frame-other begin\n']);
    expect(output).toBe('sandrun-frame-other begin\n');
    expect(frame).toBeUndefined();
  });

  it('passes a long line on before it ends, so output without newlines never piles up', () => {
    const seen: number[] = [];
    const splitter = new StdoutFrameSplitter(NONCE, (chunk) => seen.push(chunk.length), 1 << 20, () => {});
    for (let i = 0; i < 100; i++) splitter.push(Buffer.alloc(10_000, 'y'));
    expect(seen.reduce((sum, length) => sum + length, 0)).toBeGreaterThan(900_000);
    splitter.push(Buffer.from(`\n${NONCE} begin\nQUJD\n${NONCE} end 0 0\n`));
    const frame = splitter.finish();
    expect(seen.reduce((sum, length) => sum + length, 0)).toBe(1_000_000);
    expect(frame).toEqual({ base64: 'QUJD', exitCode: 0, tarStatus: 0, tooLarge: false });
  });
});
