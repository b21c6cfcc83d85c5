// What makes servers one service beyond their database, chosen once from the configuration: in-process parts, or PostgreSQL-backed ones.
import type { Logger } from 'pino';
import pg from 'pg';
import type { Config } from '../config.ts';
import { LogStreamSlots, SharedLogStreamSlots, type StreamSlots } from '../api/log-stream-slots.ts';
import { RateLimiter, SharedRateLimiter, type RequestBudget } from '../api/rate-limit.ts';
import { SharedTenantLimits } from '../store/shared-tenant-limits.ts';
import { PgRunSignals } from './pg-run-signals.ts';
import { LocalRunSignals, type RunSignals } from './run-signals.ts';

export interface ClusterParts {
  signals: RunSignals;
  rateLimiter: RequestBudget;
  logStreamSlots: StreamSlots;
  /** Connects and starts listening (before the server serves). */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * With SANDRUN_DATABASE_URL: run signals by LISTEN/NOTIFY, request budgets and stream slots in shared tables. Without:
 * this process is the whole service, and all of it stays in memory (SQLite's single server, unchanged).
 */
export function clusterParts(config: Pick<Config, 'databaseUrl' | 'rateLimitPerMinute' | 'tenantMaxLogStreams'>, logger: Logger): ClusterParts {
  if (config.databaseUrl === undefined) {
    const signals = new LocalRunSignals(logger);
    return {
      signals,
      rateLimiter: new RateLimiter(config.rateLimitPerMinute),
      logStreamSlots: new LogStreamSlots(config.tenantMaxLogStreams),
      start: () => signals.start(),
      close: () => signals.close(),
    };
  }
  const signals = new PgRunSignals({ url: config.databaseUrl, logger });
  // Budgets and slot leases are written on every request: their commits need not wait for the disk (a crash loses at
  // most the last moments of a bucket's refill, never a run), which takes the WAL flush off each request's path.
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 4, keepAlive: true, options: '-c synchronous_commit=off' });
  pool.on('error', (error) => logger.warn({ err: error }, 'an idle connection of the shared-limits pool dropped; a new one is made when needed'));
  const limits = new SharedTenantLimits(pool);
  const slots = new SharedLogStreamSlots(config.tenantMaxLogStreams, limits, logger);
  return {
    signals,
    rateLimiter: new SharedRateLimiter(config.rateLimitPerMinute, limits),
    logStreamSlots: slots,
    async start() {
      await signals.start();
      slots.start();
    },
    async close() {
      slots.stop();
      await signals.close();
      await pool.end();
    },
  };
}
