// The per-tenant request budget in PostgreSQL, shared by every server of the service (SPEC §13: limits are global), taken ahead in small batches by a busy server.
//
// Each take is a round trip that locks the tenant's bucket row; on a busy service that was one of a GET's few round
// trips, and every server queued on the same row. So a server takes, with a request, as many more as the tenant sent
// it in the last window (at most MAX_AHEAD), serves the next ones from those, and gives back what it did not use at
// the window's end. Nothing is ever granted beyond the shared bucket; a tenant at its limit may meet a 429 on one
// server while another still holds a few of its requests, for a window at most (docs/decisions.md).
import type { Logger } from 'pino';
import type { SharedTenantLimits } from '../store/shared-tenant-limits.ts';
import { secondsUntil, type RequestBudget } from './rate-limit.ts';

/** How long requests taken ahead are kept: what is not used by then goes back to the shared bucket. */
export const AHEAD_WINDOW_MS = 250;
/** At most this many requests are taken ahead of one. */
export const MAX_AHEAD = 20;

interface Ahead {
  /** Requests taken from the shared bucket and not used yet. */
  held: number;
  /** Requests of the tenant this server served in this window. */
  served: number;
  /** ... in the window before: how many to take ahead now. */
  pace: number;
  /** A take from the shared bucket on its way: requests that find nothing held wait for it, rather than take too. */
  taking: Promise<unknown> | undefined;
}

export class SharedRateLimiter implements RequestBudget {
  private readonly refillPerMs: number;
  private readonly ahead = new Map<string, Ahead>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly capacity: number,
    private readonly limits: SharedTenantLimits,
    private readonly logger?: Logger,
    windowMs = AHEAD_WINDOW_MS,
  ) {
    this.refillPerMs = capacity / 60_000;
    this.timer = setInterval(() => void this.settle(), windowMs).unref();
  }

  take(key: string, count = 1): number | Promise<number> {
    const ahead = this.ahead.get(key);
    if (ahead && ahead.held >= count) {
      ahead.held -= count;
      ahead.served += count;
      return 0;
    }
    if (ahead?.taking) return ahead.taking.then(() => this.take(key, count));
    const entry = ahead ?? { held: 0, served: 0, pace: 0, taking: undefined };
    this.ahead.set(key, entry);
    const taking = this.takeShared(key, count, entry).finally(() => (entry.taking = undefined));
    entry.taking = taking;
    return taking;
  }

  /** At each window's end (and on stop): what was held and not used goes back, and this window's pace is the next's. */
  async settle(): Promise<void> {
    const back: Array<[string, number]> = [];
    for (const [key, ahead] of this.ahead) {
      if (ahead.taking) continue;
      if (ahead.held > 0) back.push([key, ahead.held]);
      ahead.held = 0;
      ahead.pace = ahead.served;
      ahead.served = 0;
      if (ahead.pace === 0) this.ahead.delete(key);
    }
    for (const [key, count] of back) {
      // Lost, at worst: the tenant's bucket refills by itself.
      await this.limits.giveBack(key, count, this.capacity).catch((error: unknown) => this.logger?.warn({ err: error, tenant: key }, 'could not give back requests taken ahead'));
    }
  }

  /** A stop: nothing more is taken ahead, and what is held goes back. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const ahead of this.ahead.values()) ahead.served = 0;
    await this.settle();
  }

  private async takeShared(key: string, count: number, ahead: Ahead): Promise<number> {
    // As many as came in the window before, besides this one; none for a tenant that sent one or none.
    const extra = Math.min(MAX_AHEAD, Math.max(0, ahead.pace - 1), this.capacity - count);
    if (extra > 0 && (await this.limits.take(key, count + extra, this.capacity, this.refillPerMs)).granted) {
      ahead.held += extra;
      ahead.served += count;
      return 0;
    }
    const { granted, tokens } = await this.limits.take(key, count, this.capacity, this.refillPerMs);
    if (!granted) return secondsUntil(count - tokens, this.refillPerMs);
    ahead.served += count;
    return 0;
  }
}
