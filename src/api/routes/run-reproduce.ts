// GET /v1/runs/{id}/request: the run request that reproduces a run (its commit pinned, its parameters), for the console and scripts.
import { Router } from 'express';
import type { RunService } from '../../runs/run-service.ts';
import type { RunRequest } from '../../runs/run-request.ts';
import { principalOf, requireScope } from '../authenticate.ts';

export function runReproduceRoutes(runService: RunService): Router {
  const router = Router();
  router.get('/v1/runs/:runId/request', requireScope('runs:read'), async (request, response) => {
    const run = await runService.get(principalOf(request).tenantId, request.params.runId as string);
    const body: RunRequest = {
      scope: run.scope,
      mode: 'sync',
      project_name: run.projectName,
      model_name: run.modelName,
      branch: run.branch,
      commit_sha: run.commitSha,
      parameters: run.parameters,
    };
    // Parameters may hold secrets: the owner may read them back, but no cache may keep them.
    response.set('Cache-Control', 'no-store').json(body);
  });
  return router;
}
