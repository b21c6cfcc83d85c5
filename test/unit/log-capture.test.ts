// The bounded log capture keeps everything under the cap, and the head and tail with a marker over it.
import { describe, expect, it } from 'vitest';
import { LogCapture } from '../../src/sandbox/log-capture.ts';

describe('LogCapture', () => {
  it('keeps a stream under the cap whole, untruncated', () => {
    const capture = new LogCapture(100);
    capture.append(Buffer.from('hello '));
    capture.append(Buffer.from('world\n'));
    expect(capture.result()).toEqual({ text: 'hello world\n', truncated: false, totalBytes: 12 });
  });

  it('keeps exactly the cap without a marker', () => {
    const capture = new LogCapture(10);
    capture.append(Buffer.from('0123456789'));
    expect(capture.result()).toEqual({ text: '0123456789', truncated: false, totalBytes: 10 });
  });

  it('over the cap keeps the first and last halves with a marker line between', () => {
    const capture = new LogCapture(10);
    for (const piece of ['AAAA', 'ABBB', 'BBBB', 'CCCC', 'CZZZ', 'ZZ']) capture.append(Buffer.from(piece));
    const result = capture.result();
    expect(result.truncated).toBe(true);
    expect(result.totalBytes).toBe(22);
    const [head, marker, tail] = result.text.split('\n');
    expect(head).toBe('AAAAA');
    expect(marker).toBe('[sandrun: 12 bytes truncated; 22 bytes in all, the first 5 and last 5 kept]');
    expect(tail).toBe('ZZZZZ');
  });

  it('stays bounded whatever is appended', () => {
    const capture = new LogCapture(1000);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 200; i += 1) capture.append(chunk);
    const result = capture.result();
    expect(result.totalBytes).toBe(200 * 64 * 1024);
    expect(result.text.replace(/\n\[sandrun:[^\]]*\]\n/, '')).toHaveLength(1000);
  });
});

describe('LogCapture tail', () => {
  it('keeps the last bytes in order however the chunks wrap around', () => {
    const text = Array.from({ length: 500 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    for (const size of [1, 3, 7, 64, 499]) {
      const capture = new LogCapture(100);
      for (let offset = 0; offset < text.length; offset += size) capture.append(Buffer.from(text.slice(offset, offset + size)));
      const result = capture.result();
      expect(result.text.startsWith(text.slice(0, 50))).toBe(true);
      expect(result.text.endsWith(`kept]\n${text.slice(-50)}`)).toBe(true);
    }
  });
});
