// GET /v1/runs/{id} answered without express when everything goes right: the request clients poll, hundreds of times a second.
//
// Express's per-request setup and router walk cost about 0.45 ms of CPU per request here, more than everything
// sandrun itself does for this route (docs/decisions.md). This path is only an optimisation of the success case:
// it uses the same authenticator, scope rule, rate limiter, service call and view as the express route, and the
// moment anything is not plain (no or bad credentials, a missing scope, an unknown run, a rate limit, a query
// string, a conditional request) it declines without side effects and express answers, errors and audit included.
import type { IncomingMessage, ServerResponse } from 'node:http';
import etag from 'etag';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.ts';
import { hasScope, type Principal } from '../auth/principal.ts';
import type { Metrics } from '../metrics.ts';
import type { RunService } from '../runs/run-service.ts';
import { runResultView } from '../runs/run-view.ts';
import { rateLimitKey, type RequestBudget } from './rate-limit.ts';
import { requestIdOf } from './request-id.ts';

const RUN_URL = /^\/v1\/runs\/([A-Za-z0-9-]{1,128})$/;
const ROUTE = '/v1/runs/:runId';

export interface RunPollDependencies {
  authenticator: Authenticator;
  rateLimiter: RequestBudget;
  runService: RunService;
  metrics: Metrics | undefined;
  logger: Logger;
}

/** Resolves true when it answered the request, false when express must. */
export type FastPath = (request: IncomingMessage, response: ServerResponse) => Promise<boolean>;

export function runPollFastPath(deps: RunPollDependencies): FastPath {
  // The label sets are fixed: resolved once, not hashed per request.
  const answered = deps.metrics?.httpRequests.labels({ method: 'GET', route: ROUTE, status: '200' });
  const duration = deps.metrics?.httpDuration.labels({ method: 'GET', route: ROUTE });
  return async (request, response) => {
    const started = performance.now();
    if (request.method !== 'GET' || request.headers['if-none-match'] !== undefined || request.headers.authorization === undefined) return false;
    const runId = RUN_URL.exec(request.url ?? '')?.[1];
    if (!runId) return false;
    let principal: Principal;
    try {
      principal = await deps.authenticator.authenticate(request.headers.authorization);
    } catch {
      return false;
    }
    if (!hasScope(principal, 'runs:read')) return false;
    let body: string;
    try {
      body = JSON.stringify(runResultView(await deps.runService.get(principal.tenantId, runId)));
    } catch {
      return false;
    }
    // Last, as in express (where it comes first): a declined request must not have used up a token.
    if ((await deps.rateLimiter.take(rateLimitKey(principal))) !== 0) return false;
    const requestId = requestIdOf(request.headers['x-request-id']);
    response.writeHead(200, {
      'X-Request-Id': requestId,
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      ETag: etag(body, { weak: true }),
    });
    response.end(body);
    const seconds = (performance.now() - started) / 1000;
    answered?.inc();
    duration?.observe(seconds);
    if (deps.logger.isLevelEnabled('info')) {
      deps.logger.info({ requestId, tenantId: principal.tenantId, runId, method: 'GET', route: ROUTE, status: 200, durationMs: Math.round(seconds * 1000) }, 'request');
    }
    return true;
  };
}
