// Live output across servers: the server executing a run relays it to followers on other servers, on their request.
import { randomUUID } from 'node:crypto';
import type { LiveLogEvent, LiveLogs } from '../runs/live-logs.ts';
import type { RunSignal, RunSignals } from './run-signals.ts';
import { FINISH_BACKSTOP_MS } from './finish-wait.ts';

/** What a finished run holds of its output (RunRecord's fields). */
export interface StoredOutput {
  stdout: string | null;
  stderr: string | null;
}

export interface LiveLogRelayDeps {
  signals: RunSignals;
  liveLogs: LiveLogs;
  /** The run once it is terminal (undefined while it is not): read from the store, shared by every server. */
  reload: (runId: string) => Promise<StoredOutput | undefined>;
  /** How long a follow without `follow=1` waits for the executing server's snapshot before answering without it. */
  snapshotWaitMs?: number;
}

/**
 * Followers of a run's output, wherever it runs. Here: LiveLogs itself (nothing goes through the database). On
 * another server (signals spanning servers): a `follow` asks every server, and the one holding the run live relays
 * to this follower alone what it captured so far, then each chunk, then `relay_end`; `unfollow` when the client goes.
 * Each follower costs its executing server one LiveLogs listener and its share of NOTIFY traffic; the per-tenant
 * stream slots bound how many there are.
 */
export class LiveLogRelay {
  /** Relays this server runs for followers elsewhere, by follower. */
  private readonly relays = new Map<string, () => void>();
  private readonly unsubscribe: () => void;
  private readonly signals: RunSignals;
  private readonly liveLogs: LiveLogs;
  private readonly reload: LiveLogRelayDeps['reload'];
  private readonly snapshotWaitMs: number;

  constructor(deps: LiveLogRelayDeps) {
    ({ signals: this.signals, liveLogs: this.liveLogs, reload: this.reload } = deps);
    this.snapshotWaitMs = deps.snapshotWaitMs ?? 2_000;
    this.unsubscribe = this.signals.spansServers ? this.signals.subscribeAll((signal) => 'followerId' in signal && this.serve(signal)) : () => {};
  }

  /**
   * Follows a run: what was captured so far, each new chunk, then `end`. Undefined when it is not live here and
   * signals do not span servers (this process is the whole service: the run has finished).
   */
  follow(runId: string, listener: (event: LiveLogEvent) => void): (() => void) | undefined {
    const here = this.liveLogs.follow(runId, listener);
    if (here || !this.signals.spansServers) return here;
    return this.followElsewhere(runId, listener);
  }

  /**
   * What was captured so far, without following: from LiveLogs here, else from the executing server (waiting at most
   * snapshotWaitMs for it). Undefined when the run is not live anywhere that answered.
   */
  async snapshot(runId: string): Promise<LiveLogEvent[] | undefined> {
    const events: LiveLogEvent[] = [];
    const here = this.liveLogs.follow(runId, (event) => events.push(event));
    if (here) {
      here();
      return events;
    }
    if (!this.signals.spansServers) return undefined;
    return new Promise((resolve) => {
      let stop: () => void = () => {};
      const answer = (value: LiveLogEvent[] | undefined) => {
        clearTimeout(deadline);
        stop();
        resolve(value);
      };
      const deadline = setTimeout(() => answer(undefined), this.snapshotWaitMs).unref();
      stop = this.followElsewhere(runId, (event) => (event.type === 'end' ? answer(undefined) : events.push(event)), () => answer(events));
    });
  }

  close(): void {
    this.unsubscribe();
    for (const stop of this.relays.values()) stop();
    this.relays.clear();
  }

  /** The executing server's side: relays the run's output to one follower elsewhere, or stops doing so. */
  private serve(signal: RunSignal): void {
    if (signal.type === 'unfollow') {
      this.relays.get(signal.followerId)?.();
      this.relays.delete(signal.followerId);
      return;
    }
    if (signal.type !== 'follow' || this.relays.has(signal.followerId)) return;
    const { runId, followerId } = signal;
    const stop = this.liveLogs.follow(runId, (event) => {
      if (event.type === 'log') return this.signals.publish({ type: 'relay', runId, followerId, stream: event.stream, text: event.text });
      this.relays.delete(followerId);
      this.signals.publish({ type: 'relay_end', runId, followerId });
    });
    if (!stop) return; // not live here: another server has it, or it has ended
    this.relays.set(followerId, stop);
    this.signals.publish({ type: 'relay_live', runId, followerId });
  }

  /**
   * The follower's side. Ends on `relay_end`, or, when no relay came, once the run is read as terminal (then with the
   * output it stored): right after subscribing, on its `finished`, after a reconnect, and at the backstop. A relay
   * interrupted by a reconnect ends at the next read that finds the run terminal; what was sent meanwhile is missed.
   */
  private followElsewhere(runId: string, listener: (event: LiveLogEvent) => void, onLive?: () => void): () => void {
    const followerId = randomUUID();
    let relayed = false;
    let done = false;
    const finish = (stored?: StoredOutput) => {
      if (done) return;
      stop();
      for (const stream of ['stdout', 'stderr'] as const) {
        const text = stored?.[stream];
        if (text) listener({ type: 'log', stream, text });
      }
      listener({ type: 'end' });
    };
    /** `settled`: no relay piece can still be on its way (after `finished` or a reconnect). */
    const check = (settled: boolean) => {
      if (done) return;
      void this.reload(runId).then(
        (run) => {
          if (!run || done) return;
          if (!relayed) finish(run);
          else if (settled) finish();
        },
        () => undefined, // read again at the next signal or backstop
      );
    };
    const unsubscribe = this.signals.subscribe(runId, (signal) => {
      if (done) return;
      if (signal.type === 'finished' || signal.type === 'resync') return check(true);
      if (!('followerId' in signal) || signal.followerId !== followerId) return;
      if (signal.type === 'relay') {
        relayed = true;
        listener({ type: 'log', stream: signal.stream, text: signal.text });
      } else if (signal.type === 'relay_live') {
        relayed = true;
        onLive?.();
      } else if (signal.type === 'relay_end') {
        finish();
      }
    });
    const backstop = setInterval(() => check(false), FINISH_BACKSTOP_MS).unref();
    const stop = () => {
      if (done) return;
      done = true;
      unsubscribe();
      clearInterval(backstop);
      this.signals.publish({ type: 'unfollow', runId, followerId });
    };
    this.signals.publish({ type: 'follow', runId, followerId });
    check(false);
    return stop;
  }
}
