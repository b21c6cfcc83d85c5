// Output of runs that are not finished yet, for followers (SSE): a bounded snapshot plus every new chunk.
import { EventEmitter } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import type { LogStream } from '../sandbox/backend.ts';
import { LogCapture } from '../sandbox/log-capture.ts';

export type LiveLogEvent = { type: 'log'; stream: LogStream; text: string } | { type: 'end' };

interface LiveRun {
  stdout: LogCapture;
  stderr: LogCapture;
  events: EventEmitter;
  /** Per stream, while someone follows: a character split across two chunks is sent whole, with the second. */
  decoders: Partial<Record<LogStream, StringDecoder>>;
}

export class LiveLogs {
  private readonly runs = new Map<string, LiveRun>();

  constructor(private readonly capBytes: number) {}

  open(runId: string): void {
    const events = new EventEmitter();
    events.setMaxListeners(0);
    this.runs.set(runId, { stdout: new LogCapture(this.capBytes), stderr: new LogCapture(this.capBytes), events, decoders: {} });
  }

  push(runId: string, stream: LogStream, chunk: Buffer): void {
    const run = this.runs.get(runId);
    if (!run) return;
    run[stream].append(chunk);
    if (run.events.listenerCount('event') === 0) return;
    const text = (run.decoders[stream] ??= new StringDecoder('utf8')).write(chunk);
    if (text) run.events.emit('event', { type: 'log', stream, text } satisfies LiveLogEvent);
  }

  close(runId: string): void {
    const run = this.runs.get(runId);
    if (!run) return;
    this.runs.delete(runId);
    run.events.emit('event', { type: 'end' } satisfies LiveLogEvent);
    run.events.removeAllListeners();
  }

  /**
   * Follows a live run: the listener first gets what was captured so far, then every chunk, then `end`.
   * Returns undefined when the run is not live (finished, or unknown to this process).
   */
  follow(runId: string, listener: (event: LiveLogEvent) => void): (() => void) | undefined {
    const run = this.runs.get(runId);
    if (!run) return undefined;
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = run[stream].result().text;
      if (text) listener({ type: 'log', stream, text });
    }
    run.events.on('event', listener);
    return () => run.events.off('event', listener);
  }
}
