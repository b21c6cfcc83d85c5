// POST /v1/projects/{name}/environment/build and GET .../environment/log: the default branch's environment built now, and its build log (SPEC §9).
import { Router } from 'express';
import type { EnvironmentService } from '../../environments/environment-service.ts';
import type { ProjectEnvironments } from '../../runs/project-environments.ts';
import { principalOf, requireScope } from '../authenticate.ts';
import { EventStream, HEARTBEAT_MS } from '../event-stream.ts';
import type { LogStreamLimits } from './run-logs.ts';

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

    // From here to follow() nothing awaits, so no piece of the log falls between the tail and the first live event.
    const release = limits.slots.acquire(tenantId); // 429 past the tenant's cap, before any stream starts
    response.once('close', release);
    const stream = new EventStream(response, {
      maxBacklogBytes: limits.maxBacklogBytes,
      onDrop: (backlogBytes) => request.log?.warn({ backlogBytes }, 'dropped a build-log client that does not read'),
    });
    const tail = environments.logs.tail(key);
    if (tail) stream.send('log', { text: tail });
    const heartbeat = setInterval(() => stream.comment('keep-alive'), HEARTBEAT_MS);
    let ended = false;
    const stop = environments.logs.follow(key, (event) => {
      if (event.kind === 'log') return stream.send('log', { text: event.text });
      ended = true;
      clearInterval(heartbeat);
      // Caught as a whole: a throw while sending the last event must end this stream, never the process.
      void environments
        .settled(key)
        .then((final) => stream.send('end', final))
        .catch((error: unknown) => request.log?.warn({ err: error, environment: key }, 'a build-log stream ended without the final view'))
        .finally(() => stream.end());
    });
    if (!stop) {
      // Unreachable while isOpen and follow are called in one turn; kept so a change there cannot leave a stream hanging.
      clearInterval(heartbeat);
      stream.send('end', await environments.settled(key));
      return stream.end();
    }
    stream.goLive();
    response.once('close', () => {
      if (ended) return;
      clearInterval(heartbeat);
      stop();
    });
  });

  return router;
}
