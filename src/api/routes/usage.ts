// GET /v1/usage (runs:read): the caller's tenant's run usage per UTC day.
import { Router } from 'express';
import type { UsageReport } from '../../runs/usage-report.ts';
import { principalOf, requireScope } from '../authenticate.ts';

export function usageRoutes(usage: UsageReport): Router {
  const router = Router();
  router.get('/v1/usage', requireScope('runs:read'), async (request, response) => {
    response.json(await usage.daily(principalOf(request).tenantId, request.query));
  });
  return router;
}
