// What makes servers one service beyond their database, as the composition root uses it (in-process or PostgreSQL-backed: cluster-parts.ts).
import type { StreamSlots } from '../api/log-stream-slots.ts';
import type { RequestBudget } from '../api/rate-limit.ts';
import type { RunSignals } from './run-signals.ts';

export interface ClusterParts {
  signals: RunSignals;
  rateLimiter: RequestBudget;
  logStreamSlots: StreamSlots;
  /** Connects and starts listening (before the server serves). */
  start(): Promise<void>;
  close(): Promise<void>;
}
