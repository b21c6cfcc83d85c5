// What servers of one service tell each other about runs (a run ended, cancel it, its live output) and a revoked API token: the contract, and its in-process implementation.
import type { Logger } from 'pino';
import { z } from 'zod';

const runId = z.string().min(1).max(128);
const followerId = z.string().min(1).max(64);

/**
 * One message about one run. `finished` is published once the run's end is recorded (readers may re-read it);
 * `cancel` asks whichever server holds the run to cancel it; `follow`/`unfollow` ask the server executing it to relay
 * its live output to one follower (`followerId`), which it does as `relay` pieces ending with `relay_end`.
 * `relay_live` marks the end of the snapshot (what was captured before the follower came).
 */
export const runSignalSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('finished'), runId }),
  z.object({ type: z.literal('cancel'), runId }),
  z.object({ type: z.literal('follow'), runId, followerId }),
  z.object({ type: z.literal('unfollow'), runId, followerId }),
  z.object({ type: z.literal('relay'), runId, followerId, stream: z.enum(['stdout', 'stderr']), text: z.string() }),
  z.object({ type: z.literal('relay_live'), runId, followerId }),
  z.object({ type: z.literal('relay_end'), runId, followerId }),
  // Not about a run: an API token was revoked, and servers that trust it for a while (verified-tokens.ts) forget it.
  z.object({ type: z.literal('token_revoked'), tokenId: z.string().min(1).max(64) }),
]);
export type RunSignal = z.infer<typeof runSignalSchema>;

/**
 * Told to every listener after the link between servers was down: signals may have been missed meanwhile, so
 * whoever waits re-reads what it waits for from where it is stored.
 */
export interface ResyncSignal {
  type: 'resync';
}

/** Called in order; must not throw (a throw is logged and the signal still reaches the other listeners). */
export type RunSignalListener = (signal: RunSignal | ResyncSignal) => void;

export interface RunSignals {
  /** Whether signals reach other servers (PostgreSQL); false: this process is the whole service. */
  readonly spansServers: boolean;
  /** Delivered to this process's listeners at once, in order, then (spansServers) to the other servers'. */
  publish(signal: RunSignal): void;
  /** Signals about one run; the function returned stops them. */
  subscribe(runId: string, listener: RunSignalListener): () => void;
  /** Signals about every run (a server answering cancels and follows of the runs it holds). */
  subscribeAll(listener: RunSignalListener): () => void;
  /** Starts listening (connects, for PostgreSQL). */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** The listeners of one process, by run: what every implementation delivers to, at once. */
export class LocalRunSignals implements RunSignals {
  readonly spansServers: boolean = false;
  private readonly byRun = new Map<string, Set<RunSignalListener>>();
  private readonly everyRun = new Set<RunSignalListener>();

  constructor(protected readonly logger: Logger) {}

  publish(signal: RunSignal): void {
    this.deliver(signal);
  }

  subscribe(runId: string, listener: RunSignalListener): () => void {
    let listeners = this.byRun.get(runId);
    if (!listeners) this.byRun.set(runId, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.byRun.get(runId) === listeners) this.byRun.delete(runId);
    };
  }

  subscribeAll(listener: RunSignalListener): () => void {
    this.everyRun.add(listener);
    return () => this.everyRun.delete(listener);
  }

  async start(): Promise<void> {}

  close(): Promise<void> {
    this.byRun.clear();
    this.everyRun.clear();
    return Promise.resolve();
  }

  /** How many runs have listeners (a bound tests check: finished waits leave none behind). */
  get subscribedRuns(): number {
    return this.byRun.size;
  }

  /**
   * To this process's listeners: those of the run (of every run, for a resync; of none, for a signal about no run),
   * then those of every run. Copies, so a listener may unsubscribe.
   */
  protected deliver(signal: RunSignal | ResyncSignal, runId?: string): void {
    const id = runId ?? ('runId' in signal ? signal.runId : undefined);
    const ofRuns = signal.type === 'resync' ? [...this.byRun.values()].flatMap((set) => [...set]) : id === undefined ? [] : [...(this.byRun.get(id) ?? [])];
    for (const listener of [...ofRuns, ...this.everyRun]) {
      try {
        listener(signal);
      } catch (error) {
        this.logger.error({ err: error, signal: signal.type, runId: id }, 'a run signal listener failed');
      }
    }
  }
}
