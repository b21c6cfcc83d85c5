// A Server-Sent Events response whose unsent backlog is bounded: a client that does not read is dropped, never buffered for.
import type { Response } from 'express';

/** How often a stream with nothing to say sends a comment, so proxies and clients do not take it for dead. */
export const HEARTBEAT_MS = 15_000;

/** After the last event, how long a client may take to read what is left before its connection is cut. */
const FLUSH_DEADLINE_MS = 60_000;

export interface EventStreamOptions {
  /** Bytes of live events that may wait unsent for a client; past it, the client is dropped. */
  maxBacklogBytes: number;
  /** Told once when the client is dropped, with what was waiting for it. */
  onDrop: (backlogBytes: number) => void;
}

export class EventStream {
  /** Until the stream goes live, what is written is bounded by its caller (a capped log); from then on, by the bound. */
  private limit = Number.POSITIVE_INFINITY;
  private done = false;

  constructor(
    private readonly response: Response,
    private readonly options: EventStreamOptions,
  ) {
    response.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    response.flushHeaders();
    response.once('close', () => (this.done = true));
  }

  /** Whether the client is gone (disconnected, dropped) or the stream ended. */
  get closed(): boolean {
    return this.done || this.response.destroyed;
  }

  /**
   * From here on, at most maxBacklogBytes more than what is unsent now may wait for the client. What is unsent now
   * (the output captured before the client came, itself capped) is allowed on top, so a reader is not dropped for
   * being handed the run's history at once.
   */
  goLive(): void {
    this.limit = this.options.maxBacklogBytes + this.response.writableLength;
  }

  send(event: string, data: unknown): void {
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  comment(text: string): void {
    this.write(`: ${text}\n\n`);
  }

  /** Ends the response; a client that has not read the rest within FLUSH_DEADLINE_MS is cut off. */
  end(): void {
    if (this.closed) return;
    this.done = true;
    this.response.end();
    if (this.response.writableFinished) return;
    const deadline = setTimeout(() => this.response.destroy(), FLUSH_DEADLINE_MS).unref();
    this.response.once('close', () => clearTimeout(deadline));
  }

  private write(text: string): void {
    if (this.closed) return;
    // Checked before the write: what the client has not taken yet is what it would be buffered for.
    const backlog = this.response.writableLength;
    if (backlog > this.limit) {
      this.done = true;
      this.response.destroy();
      this.options.onDrop(backlog);
      return;
    }
    this.response.write(text);
  }
}
