// When a run's result waits for its containers' removal — one rule for every engine — and what close() must still wait for.
import type { SandboxResult } from './backend.ts';

export class Removals {
  private readonly pending = new Set<Promise<void>>();

  /**
   * Tracks the removal of a run's containers. A finished run's result does not wait for it (100+ ms under load), but a
   * stopped run (timeout, cancel) or a failed one (no result) is reported only once its containers are gone.
   */
  async afterRun(removal: Promise<void>, result: SandboxResult | undefined): Promise<void> {
    this.pending.add(removal);
    const forget = () => void this.pending.delete(removal);
    removal.then(forget, forget);
    if (!result || result.outcome.kind === 'timed_out' || result.outcome.kind === 'cancelled') await removal;
  }

  /** Every removal still going (for close()). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}
