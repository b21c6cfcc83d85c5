// The parts that make servers of one PostgreSQL database one service: run signals by LISTEN/NOTIFY, request budgets and live-log slots in shared tables.
import type { Logger } from 'pino';
import pg from 'pg';
import type { Config } from '../config.ts';
import { SharedLogStreamSlots } from '../api/log-stream-slots.ts';
import { SharedRateLimiter } from '../api/shared-rate-limiter.ts';
import { SharedTenantLimits } from '../store/shared-tenant-limits.ts';
import type { ClusterParts } from './parts.ts';
import { PgRunSignals } from './pg-run-signals.ts';

export function pgClusterParts(url: string, config: Pick<Config, 'rateLimitPerMinute' | 'tenantMaxLogStreams'>, logger: Logger): ClusterParts {
  const signals = new PgRunSignals({ url: url, logger });
  // Budgets and slot leases are written on every request: their commits need not wait for the disk (a crash loses at
  // most the last moments of a bucket's refill, never a run), which takes the WAL flush off each request's path.
  const pool = new pg.Pool({ connectionString: url, max: 4, keepAlive: true, options: '-c synchronous_commit=off' });
  pool.on('error', (error) => logger.warn({ err: error }, 'an idle connection of the shared-limits pool dropped; a new one is made when needed'));
  const limits = new SharedTenantLimits(pool);
  const slots = new SharedLogStreamSlots(config.tenantMaxLogStreams, limits, logger);
  const rateLimiter = new SharedRateLimiter(config.rateLimitPerMinute, limits, logger);
  return {
    signals,
    rateLimiter,
    logStreamSlots: slots,
    async start() {
      await signals.start();
      slots.start();
    },
    async close() {
      slots.stop();
      await rateLimiter.close();
      await signals.close();
      await pool.end();
    },
  };
}
