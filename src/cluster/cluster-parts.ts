// What makes servers one service beyond their database, chosen once from the configuration: in-process parts, or PostgreSQL-backed ones.
import type { Logger } from 'pino';
import type { ClusterParts } from './parts.ts';
import type { Config } from '../config.ts';
import { LogStreamSlots } from '../api/log-stream-slots.ts';
import { RateLimiter } from '../api/rate-limit.ts';
import { LocalRunSignals } from './run-signals.ts';

/**
 * With SANDRUN_DATABASE_URL: run signals by LISTEN/NOTIFY, request budgets and stream slots in shared tables. Without:
 * this process is the whole service, and all of it stays in memory (SQLite's single server, unchanged).
 */
export async function clusterParts(config: Pick<Config, 'databaseUrl' | 'rateLimitPerMinute' | 'tenantMaxLogStreams'>, logger: Logger): Promise<ClusterParts> {
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
  // Loaded only here: pg and its pools cost a SQLite server's every start ~80 ms of module loading otherwise.
  const { pgClusterParts } = await import('./pg-cluster-parts.ts');
  return pgClusterParts(config.databaseUrl, config, logger);
}
