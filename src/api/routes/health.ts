// Liveness, readiness (database and engine) and Prometheus metrics; no credentials needed.
import { Router } from 'express';
import type { Registry } from 'prom-client';
import { errorMessage } from '../../errors.ts';

export interface ReadinessChecks {
  database: () => void;
  engine: () => Promise<void>;
}

export function healthRoutes(checks: ReadinessChecks, metrics: Registry): Router {
  const router = Router();

  router.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });

  router.get('/readyz', async (_request, response) => {
    const results: Record<string, string> = {};
    try {
      checks.database();
      results.database = 'ok';
    } catch (error) {
      results.database = errorMessage(error);
    }
    try {
      await checks.engine();
      results.engine = 'ok';
    } catch (error) {
      results.engine = errorMessage(error);
    }
    const ready = Object.values(results).every((value) => value === 'ok');
    response.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: results });
  });

  router.get('/metrics', async (_request, response) => {
    response.set('Content-Type', metrics.contentType).send(await metrics.metrics());
  });

  return router;
}
