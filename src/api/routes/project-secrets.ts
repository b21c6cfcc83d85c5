// PUT/GET/DELETE /v1/projects/{name}/secrets[/{KEY}]: a project's secrets, set and removed by name, listed without values (SPEC §10).
import { Router } from 'express';
import type { ProjectSecrets } from '../../projects/project-secrets.ts';
import { principalOf, requireScope } from '../authenticate.ts';

export function projectSecretRoutes(secrets: ProjectSecrets): Router {
  const router = Router();

  /** 201 when the key is new, 200 when it replaced a value; either way the name and when it was set, never the value. */
  router.put('/v1/projects/:name/secrets/:key', requireScope('projects:write'), async (request, response) => {
    const { secret, created } = await secrets.set(principalOf(request).tenantId, request.params.name as string, request.params.key as string, request.body);
    response.status(created ? 201 : 200).json(secret);
  });

  router.get('/v1/projects/:name/secrets', requireScope('projects:read'), async (request, response) => {
    response.json({ secrets: await secrets.list(principalOf(request).tenantId, request.params.name as string) });
  });

  router.delete('/v1/projects/:name/secrets/:key', requireScope('projects:write'), async (request, response) => {
    await secrets.remove(principalOf(request).tenantId, request.params.name as string, request.params.key as string);
    response.status(204).end();
  });

  return router;
}
