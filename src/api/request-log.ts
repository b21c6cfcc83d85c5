// Per-request structured logging and HTTP metrics: the request id, tenant and run id on every line; never headers or bodies.
import type { Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import { contained } from './contained.ts';
import './express-types.ts';

const RUN_PATH = /^\/v1\/runs\/([^/]+)/;
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** What every line about this request carries. */
function requestBindings(request: Request): Record<string, string> {
  const runId = RUN_PATH.exec(request.path)?.[1];
  return {
    requestId: request.id,
    ...(request.principal ? { tenantId: request.principal.tenantId } : {}),
    ...(runId ? { runId } : {}),
  };
}

/**
 * Logs one line per finished request and records its metrics. The request's own logger (`request.log`) is made
 * only when something asks for it: a child logger per request was a fifth of the allocation of a GET.
 */
export function requestLog(logger: Logger, metrics: Metrics | undefined): RequestHandler {
  return (request, response, next) => {
    const started = performance.now();
    let own: Logger | undefined;
    Object.defineProperty(request, 'log', { configurable: true, get: () => (own ??= logger.child(requestBindings(request))) });
    response.on(
      'finish',
      contained(logger, 'logging a request', () => {
        const route = request.route ? `${request.baseUrl}${String((request.route as { path: unknown }).path)}` : request.path.startsWith('/v1') || request.path === '/mcp' ? 'unmatched' : 'static';
        const seconds = (performance.now() - started) / 1000;
        metrics?.httpRequests.inc({ method: request.method, route, status: String(response.statusCode) });
        metrics?.httpDuration.observe({ method: request.method, route }, seconds);
        // Health checks and scrapes would drown everything else.
        const level = QUIET_PATHS.has(request.path) ? 'debug' : 'info';
        if (!logger.isLevelEnabled(level)) return;
        logger[level]({ ...requestBindings(request), method: request.method, route, status: response.statusCode, durationMs: Math.round(seconds * 1000) }, 'request');
      }),
    );
    next();
  };
}
