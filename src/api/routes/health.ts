// Liveness, readiness (database and engine) and Prometheus metrics; no credentials needed (an admin one shows tenants in metrics).
import { Router } from 'express';
import type { Logger } from 'pino';
import type { Authenticator } from '../../auth/authenticator.ts';
import type { Metrics } from '../../metrics.ts';

export interface ReadinessChecks {
  database: () => Promise<unknown>;
  engine: () => Promise<void>;
}

export interface HealthDependencies {
  checks: ReadinessChecks;
  metrics: Metrics;
  authenticator: Authenticator;
  logger: Logger;
}

export function healthRoutes(deps: HealthDependencies): Router {
  const router = Router();

  router.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });

  // Anyone may ask, so the answer says only ok or unavailable: the engine's and the database's own error text
  // (socket paths, addresses, versions) goes to the server log.
  router.get('/readyz', async (request, response) => {
    const results: Record<string, 'ok' | 'unavailable'> = {};
    try {
      await deps.checks.database();
      results.database = 'ok';
    } catch (error) {
      (request.log ?? deps.logger).warn({ err: error }, 'readiness: the database does not answer');
      results.database = 'unavailable';
    }
    try {
      await deps.checks.engine();
      results.engine = 'ok';
    } catch (error) {
      (request.log ?? deps.logger).warn({ err: error }, 'readiness: the engine does not answer');
      results.engine = 'unavailable';
    }
    const ready = Object.values(results).every((value) => value === 'ok');
    response.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: results });
  });

  // No credential: every metric, tenants summed away. A credential must be valid (401 otherwise); with the admin scope, per-tenant series.
  router.get('/metrics', async (request, response) => {
    const authorization = request.headers.authorization;
    const principal = authorization === undefined ? undefined : await deps.authenticator.authenticate(authorization);
    const withTenants = principal?.scopes.has('admin') ?? false;
    response
      .set({ 'Content-Type': deps.metrics.contentType, 'Cache-Control': 'no-store', Vary: 'Authorization' })
      .send(await deps.metrics.exposition(withTenants));
  });

  return router;
}
