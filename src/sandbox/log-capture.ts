// Bounded capture of one output stream: keeps the head and the tail, never blocks the writer.
import type { CapturedLog } from './backend.ts';

export class LogCapture {
  private readonly headLimit: number;
  private readonly tailLimit: number;
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  constructor(readonly capBytes: number) {
    this.headLimit = Math.ceil(capBytes / 2);
    this.tailLimit = capBytes - this.headLimit;
  }

  append(chunk: Buffer): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.headLimit) {
      const take = Math.min(this.headLimit - this.headBytes, rest.length);
      this.head.push(Buffer.from(rest.subarray(0, take)));
      this.headBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0 || this.tailLimit === 0) return;
    // Copy: the caller's buffer may be a slice of a much larger one that we must not pin in memory.
    this.tail.push(Buffer.from(rest.subarray(Math.max(0, rest.length - this.tailLimit))));
    this.tailBytes += Math.min(rest.length, this.tailLimit);
    while (this.tailBytes - (this.tail[0]?.length ?? 0) >= this.tailLimit && this.tail.length > 1) {
      this.tailBytes -= this.tail.shift()!.length;
    }
  }

  get totalBytes(): number {
    return this.total;
  }

  result(): CapturedLog {
    const head = Buffer.concat(this.head);
    let tail = Buffer.concat(this.tail);
    if (tail.length > this.tailLimit) tail = tail.subarray(tail.length - this.tailLimit);
    const dropped = this.total - head.length - tail.length;
    if (dropped <= 0) {
      return { text: Buffer.concat([head, tail]).toString('utf8'), truncated: false, totalBytes: this.total };
    }
    const marker = `\n[sandrun: ${dropped} bytes truncated; ${this.total} bytes in all, the first ${head.length} and last ${tail.length} kept]\n`;
    return { text: head.toString('utf8') + marker + tail.toString('utf8'), truncated: true, totalBytes: this.total };
  }
}
