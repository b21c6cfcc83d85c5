// Bounded capture of one output stream: keeps the head and the tail, never blocks the writer.
import type { CapturedLog } from './backend.ts';

/**
 * The head is kept as copies of the first chunks; the tail in one ring buffer of fixed size, allocated when the
 * output first outgrows the head. A flooding command (a gigabyte of output) therefore costs no allocation per
 * chunk and never more than the cap. Chunks are copied, so a caller may pass views of larger buffers.
 */
export class LogCapture {
  private readonly headLimit: number;
  private readonly tailLimit: number;
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private ring: Buffer | undefined;
  /** Where the next tail byte goes in the ring. */
  private ringEnd = 0;
  private ringFilled = 0;
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
    if (rest.length > 0 && this.tailLimit > 0) this.appendTail(rest);
  }

  private appendTail(bytes: Buffer): void {
    const ring = (this.ring ??= Buffer.allocUnsafe(this.tailLimit));
    const kept = bytes.length > ring.length ? bytes.subarray(bytes.length - ring.length) : bytes;
    const first = Math.min(kept.length, ring.length - this.ringEnd);
    kept.copy(ring, this.ringEnd, 0, first);
    kept.copy(ring, 0, first);
    this.ringEnd = (this.ringEnd + kept.length) % ring.length;
    this.ringFilled = Math.min(ring.length, this.ringFilled + kept.length);
  }

  get totalBytes(): number {
    return this.total;
  }

  private tail(): Buffer {
    if (!this.ring) return Buffer.alloc(0);
    if (this.ringFilled < this.ring.length) return this.ring.subarray(0, this.ringFilled);
    return Buffer.concat([this.ring.subarray(this.ringEnd), this.ring.subarray(0, this.ringEnd)]);
  }

  result(): CapturedLog {
    const head = Buffer.concat(this.head);
    const tail = this.tail();
    const dropped = this.total - head.length - tail.length;
    if (dropped <= 0) {
      return { text: Buffer.concat([head, tail]).toString('utf8'), truncated: false, totalBytes: this.total };
    }
    const marker = `\n[sandrun: ${dropped} bytes truncated; ${this.total} bytes in all, the first ${head.length} and last ${tail.length} kept]\n`;
    return { text: head.toString('utf8') + marker + tail.toString('utf8'), truncated: true, totalBytes: this.total };
  }
}
