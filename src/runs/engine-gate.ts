// Whether the engine answers: runs wait here (staying pending) while it is down, and sync requests fail fast.
import { errorMessage } from '../errors.ts';
import { delay } from '../delay.ts';

export interface EngineGateOptions {
  ping: () => Promise<void>;
  onChange?: (available: boolean, reason?: string) => void;
  /** Back-off between pings while the engine is down. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

export class EngineGate {
  private down: Promise<void> | undefined;
  private release: (() => void) | undefined;
  private closed = false;
  private lastError = '';

  constructor(private readonly options: EngineGateOptions) {}

  get available(): boolean {
    return this.down === undefined;
  }

  get reason(): string {
    return this.lastError;
  }

  /** Resolves at once when the engine answers, or when it answers again; rejects if the signal aborts first. */
  async whenAvailable(signal?: AbortSignal): Promise<void> {
    if (!this.down) return;
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      void this.down!.then(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** Records that the engine stopped answering and pings it with back-off until it answers again. */
  markDown(error: unknown): void {
    this.lastError = errorMessage(error);
    if (this.down || this.closed) return;
    this.down = new Promise((resolve) => (this.release = resolve));
    this.options.onChange?.(false, this.lastError);
    void this.probe(this.options.minDelayMs ?? 500);
  }

  private async probe(delayMs: number): Promise<void> {
    await delay(delayMs);
    if (this.closed) return;
    try {
      await this.options.ping();
    } catch (error) {
      this.lastError = errorMessage(error);
      return this.probe(Math.min(delayMs * 2, this.options.maxDelayMs ?? 5000));
    }
    const release = this.release;
    this.down = undefined;
    this.release = undefined;
    this.options.onChange?.(true);
    release?.();
  }

  close(): void {
    this.closed = true;
    this.release?.();
  }
}
