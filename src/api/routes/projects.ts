// REST routes of projects (SPEC §5): register, list, show with models and environment, refresh, unregister.
import { Router } from 'express';
import type { ProjectService } from '../../projects/project-service.ts';
import type { ProjectEnvironments } from '../../runs/project-environments.ts';
import { principalOf, requireScope } from '../authenticate.ts';

/** A project is shown (after registering and refreshing too) by `details`: with its default branch's environment. */
export function projectRoutes(projects: ProjectService, details: ProjectEnvironments): Router {
  const router = Router();

  router.post('/v1/projects', requireScope('projects:write'), async (request, response) => {
    const project = await projects.add(principalOf(request).tenantId, request.body);
    response.status(201).json(await details.detail(project.tenantId, project.name));
  });

  router.get('/v1/projects', requireScope('projects:read'), async (request, response) => {
    const records = await projects.list(principalOf(request).tenantId);
    response.json({ projects: await Promise.all(records.map((project) => projects.view(project))) });
  });

  router.get('/v1/projects/:name', requireScope('projects:read'), async (request, response) => {
    response.json(await details.detail(principalOf(request).tenantId, request.params.name as string));
  });

  router.post('/v1/projects/:name/refresh', requireScope('projects:write'), async (request, response) => {
    const project = await projects.refresh(principalOf(request).tenantId, request.params.name as string);
    response.json(await details.detail(project.tenantId, project.name));
  });

  router.delete('/v1/projects/:name', requireScope('projects:write'), async (request, response) => {
    await projects.remove(principalOf(request).tenantId, request.params.name as string);
    response.status(204).end();
  });

  return router;
}
