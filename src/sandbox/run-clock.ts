// A run's stop conditions, whatever the engine: the caller's cancel and its wall-clock timeout, counted from the command's start.
export type StopReason = 'timed_out' | 'cancelled';

export class RunClock {
  private readonly stopped = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly onCancel = () => this.stop('cancelled');

  constructor(
    private readonly cancel: AbortSignal | undefined,
    private readonly timeoutSeconds: number,
  ) {
    if (cancel?.aborted) this.stop('cancelled');
    else cancel?.addEventListener('abort', this.onCancel, { once: true });
  }

  /** Aborts, with the StopReason as its reason, when the run must stop. */
  get signal(): AbortSignal {
    return this.stopped.signal;
  }

  /** Why the run was stopped; undefined while it may go on. */
  get reason(): StopReason | undefined {
    return this.stopped.signal.aborted ? (this.stopped.signal.reason as StopReason) : undefined;
  }

  /** The command started: from now on its timeout counts (once). */
  start(): void {
    if (this.timer === undefined && !this.stopped.signal.aborted) this.timer = setTimeout(() => this.stop('timed_out'), this.timeoutSeconds * 1000);
  }

  /** Calls `action` once when the run must stop, at once if it already must. */
  onStop(action: (reason: StopReason) => void): void {
    if (this.reason) action(this.reason);
    else this.stopped.signal.addEventListener('abort', () => action(this.reason!), { once: true });
  }

  /** The first reason wins. */
  stop(reason: StopReason): void {
    if (!this.stopped.signal.aborted) this.stopped.abort(reason);
  }

  /** Lets go of the timer and of the caller's signal: call when the run is over, whatever happened. */
  dispose(): void {
    clearTimeout(this.timer);
    this.cancel?.removeEventListener('abort', this.onCancel);
  }
}
