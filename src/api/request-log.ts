// Per-request structured logging and HTTP metrics: a child logger carrying the request id, tenant and run id; never headers or bodies.
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import './express-types.ts';

const RUN_PATH = /^\/v1\/runs\/([^/]+)/;

/** Sets request.log (request id, and run id when the path names one); logs one line per finished request. */
export function requestLog(logger: Logger, metrics: Metrics | undefined): RequestHandler {
  return (request, response, next) => {
    const started = performance.now();
    const runId = RUN_PATH.exec(request.path)?.[1];
    request.log = logger.child({ requestId: request.id, ...(runId ? { runId } : {}) });
    response.on('finish', () => {
      const route = request.route ? `${request.baseUrl}${String((request.route as { path: unknown }).path)}` : request.path.startsWith('/v1') || request.path === '/mcp' ? 'unmatched' : 'static';
      const seconds = (performance.now() - started) / 1000;
      metrics?.httpRequests.inc({ method: request.method, route, status: String(response.statusCode) });
      metrics?.httpDuration.observe({ method: request.method, route }, seconds);
      const line = { method: request.method, route, status: response.statusCode, durationMs: Math.round(seconds * 1000) };
      // Health checks and scrapes would drown everything else.
      if (request.path === '/healthz' || request.path === '/readyz' || request.path === '/metrics') request.log?.debug(line, 'request');
      else request.log?.info(line, 'request');
    });
    next();
  };
}

/** After authentication: every later line of this request names the tenant. */
export const logTenant: RequestHandler = (request, _response, next) => {
  if (request.principal && request.log) request.log = request.log.child({ tenantId: request.principal.tenantId });
  next();
};
