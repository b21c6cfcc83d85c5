// POST /v1/runs/{id}/replay (SPEC §12): the same inputs run again, answered as an async run request is (202 and its receipt).
import { Router } from 'express';
import type { RunService } from '../../runs/run-service.ts';
import { asyncRunView } from '../../runs/run-view.ts';
import { principalOf, requireScope } from '../authenticate.ts';

export function runReplayRoutes(runService: RunService): Router {
  const router = Router();
  router.post('/v1/runs/:runId/replay', requireScope('runs:write'), async (request, response) => {
    const idempotencyKey = request.get('Idempotency-Key');
    const result = await runService.replayRun(principalOf(request).tenantId, request.params.runId as string, { idempotencyKey });
    request.audit = { ...request.audit, target: `run:${result.run.id}` };
    if (result.replayed) response.setHeader('Idempotent-Replayed', 'true');
    response.status(202).json(asyncRunView(result.run));
  });
  return router;
}
