// The tar of /outputs read while it arrives in pieces: parsed under the caps as it comes, never piled up on the host.
import { PassThrough } from 'node:stream';
import { SandrunError } from '../errors.ts';
import { readOutputsTar, tooLarge, type ArtifactCapture, type OutputsLimits, type OutputsReadResult } from './outputs.ts';

/** What the source of the bytes lets the reader do: hold it back while the parser catches up. */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

/** The parser's queue: past this the source is paused, so the host holds the parser's share and no more. */
const QUEUE_BYTES = 64 * 1024;

/**
 * Bytes a tar of outputs within the caps can take beyond their content: per entry a header, a long-name header and
 * its name (up to PATH_MAX), and padding; then the end blocks and the last record. More than that is over the cap
 * whatever the headers say, which ends a stream of junk as soon as one past the cap.
 */
export function tarBudget(limits: OutputsLimits): number {
  return limits.maxBytes + (limits.maxEntries + 2) * 6 * 1024 + 20 * 1024;
}

/**
 * Feeds readOutputsTar with a tar pushed chunk by chunk. The source is paused while the parser's queue is full;
 * once the tar is past the cap (its headers say so, or its bytes pass tarBudget) the result settles as
 * output_too_large at once, `onOverCap` is called (to stop the writer), and every later byte is dropped.
 */
export class OutputsTarStream {
  private readonly tar = new PassThrough({ highWaterMark: QUEUE_BYTES });
  private received = 0;
  private overCap = false;
  private paused = false;
  readonly result: Promise<OutputsReadResult>;

  constructor(
    private readonly limits: OutputsLimits,
    private readonly flow: FlowControl,
    private readonly onOverCap: () => void,
    capture?: ArtifactCapture,
  ) {
    // A write after the parser stopped (it destroys the stream once past the cap) is dropped, not an error event.
    this.tar.on('error', () => undefined);
    this.tar.on('close', () => this.resume());
    this.result = readOutputsTar(this.tar, limits, capture).then(
      (read) => {
        if (this.overCap) return tooLarge(limits);
        if (!read.ok && read.code === 'output_too_large') this.stop();
        return read;
      },
      (error: unknown) => {
        if (this.overCap) return tooLarge(limits);
        // A file the server could not keep is its own failure, not the run's outputs'.
        if (error instanceof SandrunError) throw error;
        return { ok: false as const, code: 'output_invalid' as const, message: `could not read /outputs: ${(error as Error).message}`, outputs: {} };
      },
    );
  }

  /** Bytes the host has taken in so far (the parser's share included). */
  get receivedBytes(): number {
    return this.received;
  }

  push(chunk: Buffer): void {
    if (this.overCap || this.tar.destroyed || this.tar.writableEnded) return;
    this.received += chunk.length;
    if (this.received > tarBudget(this.limits)) return this.stop();
    if (!this.tar.write(Buffer.from(chunk)) && !this.paused) {
      this.paused = true;
      this.flow.pause();
      this.tar.once('drain', () => this.resume());
    }
  }

  /** The tar ended (its frame closed). */
  end(): void {
    if (!this.tar.writableEnded && !this.tar.destroyed) this.tar.end();
  }

  /** Nothing more will come (the stream broke): what was read so far is parsed as it is. */
  abort(): void {
    this.end();
  }

  private stop(): void {
    if (this.overCap) return;
    this.overCap = true;
    if (!this.tar.destroyed) this.tar.end();
    this.resume();
    this.onOverCap();
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.flow.resume();
  }
}
