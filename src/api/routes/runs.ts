// REST routes of runs (SPEC §5): submit, get, list, cancel.
import { Router } from 'express';
import { z } from 'zod';
import { invalidRequest } from '../../errors.ts';
import { RUN_STATUSES } from '../../run-status.ts';
import type { RunService } from '../../runs/run-service.ts';
import { asyncRunView, runResultView } from '../../runs/run-view.ts';
import { principalOf, requireScope } from '../authenticate.ts';


export const listQuerySchema = z.strictObject(
  {
    project_name: z.string().min(1).optional(),
    status: z.enum(RUN_STATUSES, { error: `status must be one of ${RUN_STATUSES.join(', ')}` }).optional(),
    limit: z.coerce.number({ error: 'limit must be a number' }).int({ error: 'limit must be an integer' }).min(1, { error: 'limit must be at least 1' }).max(200, { error: 'limit must be at most 200' }).default(50),
    cursor: z.string().min(1).optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown query parameter(s) ${issue.keys.join(', ')}` : undefined) },
);

export function runRoutes(runService: RunService): Router {
  const router = Router();

  router.post('/v1/runs', requireScope('runs:write'), async (request, response) => {
    const idempotencyKey = request.get('Idempotency-Key');
    const result = await runService.submit(principalOf(request).tenantId, request.body, { idempotencyKey });
    request.audit = { ...request.audit, target: `run:${result.run.id}` };
    if (result.replayed) response.setHeader('Idempotent-Replayed', 'true');
    if (result.mode === 'async') response.status(202).json(asyncRunView(result.run));
    else response.status(200).json(runResultView(result.run));
  });

  router.get('/v1/runs', requireScope('runs:read'), async (request, response) => {
    const parsed = listQuerySchema.safeParse(request.query);
    if (!parsed.success) throw invalidRequest(parsed.error.issues);
    const { project_name: projectName, status, limit, cursor } = parsed.data;
    const page = await runService.list(principalOf(request).tenantId, { projectName, status, limit, cursor });
    response.json({ runs: page.runs.map(runResultView), next_cursor: page.nextCursor });
  });

  router.get('/v1/runs/:runId', requireScope('runs:read'), async (request, response) => {
    response.json(runResultView(await runService.get(principalOf(request).tenantId, request.params.runId as string)));
  });

  router.post('/v1/runs/:runId/cancel', requireScope('runs:write'), async (request, response) => {
    const run = await runService.cancel(principalOf(request).tenantId, request.params.runId as string);
    response.json(runResultView(run));
  });

  return router;
}
