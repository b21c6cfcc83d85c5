// A log under way followed as Server-Sent Events, for a run's output and a build's log alike: one of the tenant's
// stream slots, a bounded backlog, a heartbeat while quiet, each piece as it comes, then `end` with the final view.
import type { Request, Response } from 'express';
import { EventStream, HEARTBEAT_MS } from './event-stream.ts';
import type { StreamSlots } from './log-stream-slots.ts';

export interface LogStreamLimits {
  /** Open streams per tenant. */
  slots: StreamSlots;
  /** Live output that may wait unsent for one client before it is dropped. */
  maxBacklogBytes: number;
}

/**
 * Starts the event stream of a log: takes one of the tenant's slots first (429 past its cap, before anything is sent),
 * given back when the client goes. `name` ('live-log', 'build-log') names it in the server's log.
 */
export async function openLogStream(request: Request, response: Response, tenantId: string, limits: LogStreamLimits, name: string): Promise<EventStream> {
  const release = await limits.slots.acquire(tenantId);
  // A shared slot is taken asynchronously: the client may have gone meanwhile, and its 'close' with it.
  if (response.destroyed) release();
  else response.once('close', release);
  return new EventStream(response, {
    maxBacklogBytes: limits.maxBacklogBytes,
    onDrop: (backlogBytes) => request.log?.warn({ backlogBytes }, `dropped a ${name} client that does not read`),
  });
}

export interface LiveLog<Event> {
  /** Subscribes to the log; no function back when it is not live (nothing was sent then). */
  follow: (listener: (event: Event) => void) => (() => void) | false | undefined;
  /** Whether `event` is the one that says the log has ended. */
  isEnd: (event: Event) => boolean;
  /** Sends one piece of the log (any event but the end). */
  send: (event: Event) => void;
  /** The view `end` carries, once the log has ended. */
  final: () => Promise<unknown>;
  /** Why the stream ended without its final view, for the server's log, with what it followed. */
  unfinished: { message: string; context: Record<string, unknown> };
}

/**
 * Follows `log` on `stream` until it ends or the client goes. False when the log was not live: nothing was sent, and
 * the caller answers from what is stored. What `follow` sends at once (a snapshot) may exceed the backlog bound.
 */
export function tailLive<Event>(request: Request, response: Response, stream: EventStream, log: LiveLog<Event>): boolean {
  let ended = false;
  // Set once follow() answers: an end sent from within follow() itself finds none to call yet.
  let stop: (() => void) | undefined = undefined;
  const heartbeat = setInterval(() => stream.comment('keep-alive'), HEARTBEAT_MS);
  const subscribed = log.follow((event) => {
    if (!log.isEnd(event)) return log.send(event);
    ended = true;
    clearInterval(heartbeat);
    stop?.();
    // Caught as a whole: a throw while sending the last event must end this stream, never the process.
    void log
      .final()
      .then((final) => stream.send('end', final))
      .catch((error: unknown) => request.log?.warn({ err: error, ...log.unfinished.context }, log.unfinished.message))
      .finally(() => stream.end());
  });
  if (!subscribed) {
    clearInterval(heartbeat);
    return false;
  }
  stop = subscribed;
  stream.goLive();
  response.once('close', () => {
    if (ended) return;
    clearInterval(heartbeat);
    subscribed();
  });
  return true;
}
