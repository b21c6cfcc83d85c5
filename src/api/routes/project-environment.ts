// POST /v1/projects/{name}/environment/build and GET .../environment/log: the default branch's environment built now, and its build log (SPEC §9).
import { Router } from 'express';
import type { BuildLogEvent } from '../../environments/build-logs.ts';
import type { EnvironmentService } from '../../environments/environment-service.ts';
import type { ProjectEnvironments } from '../../runs/project-environments.ts';
import { principalOf, requireScope } from '../authenticate.ts';
import { openLogStream, tailLive, type LogStreamLimits } from '../sse-tail.ts';

export function projectEnvironmentRoutes(projectEnvironments: ProjectEnvironments, environments: EnvironmentService, limits: LogStreamLimits): Router {
  const router = Router();

  router.post('/v1/projects/:name/environment/build', requireScope('projects:write'), async (request, response) => {
    const environment = await projectEnvironments.build(principalOf(request).tenantId, request.params.name as string);
    response.status(202).json({ environment });
  });

  /**
   * With follow, while a build is under way: its log as events (`log` {text}: the tail so far, then each piece as it
   * comes), then `end` with the environment's final view. Otherwise JSON `{ environment }` as it is now.
   */
  router.get('/v1/projects/:name/environment/log', requireScope('projects:read'), async (request, response) => {
    const tenantId = principalOf(request).tenantId;
    const environment = await projectEnvironments.view(tenantId, request.params.name as string); // 404 for another tenant's project
    const follow = request.query.follow === '1' || request.query.follow === 'true';
    const key = environment.key;
    if (!follow || key === null) return void response.json({ environment });
    // The build may have ended while the view was read: then its stored log and outcome are the answer.
    if (!environments.logs.isOpen(key)) return void response.json({ environment: await environments.settled(key) });

    // Only the slot is awaited (shared slots are in the database); from the tail to tailLive() nothing awaits, so no
    // piece of the log falls between the tail and the first live event.
    const stream = await openLogStream(request, response, tenantId, limits, 'build-log');
    const tail = environments.logs.tail(key);
    if (tail) stream.send('log', { text: tail });
    const live = tailLive<BuildLogEvent>(request, response, stream, {
      follow: (listener) => environments.logs.follow(key, listener),
      isEnd: (event) => event.kind === 'end',
      send: (event) => {
        if (event.kind === 'log') stream.send('log', { text: event.text });
      },
      final: () => environments.settled(key),
      unfinished: { message: 'a build-log stream ended without the final view', context: { environment: key } },
    });
    if (!live) {
      // The build ended while the slot was taken: its view holds the whole log.
      stream.send('end', await environments.settled(key));
      stream.end();
    }
  });

  return router;
}
