// REST routes of projects (SPEC §5): register, list, show with models, refresh, unregister.
import { Router } from 'express';
import type { ProjectService } from '../../projects/project-service.ts';
import { principalOf, requireScope } from '../authenticate.ts';

export function projectRoutes(projects: ProjectService): Router {
  const router = Router();

  router.post('/v1/projects', requireScope('projects:write'), async (request, response) => {
    const project = await projects.add(principalOf(request).tenantId, request.body);
    response.status(201).json(await projects.detail(project.tenantId, project.name));
  });

  router.get('/v1/projects', requireScope('projects:read'), (request, response) => {
    response.json({ projects: projects.list(principalOf(request).tenantId).map((project) => projects.view(project)) });
  });

  router.get('/v1/projects/:name', requireScope('projects:read'), async (request, response) => {
    response.json(await projects.detail(principalOf(request).tenantId, request.params.name as string));
  });

  router.post('/v1/projects/:name/refresh', requireScope('projects:write'), async (request, response) => {
    const project = await projects.refresh(principalOf(request).tenantId, request.params.name as string);
    response.json(await projects.detail(project.tenantId, project.name));
  });

  router.delete('/v1/projects/:name', requireScope('projects:write'), async (request, response) => {
    await projects.remove(principalOf(request).tenantId, request.params.name as string);
    response.status(204).end();
  });

  return router;
}
