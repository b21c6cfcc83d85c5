// GET /v1/runs/{id}/logs: a run's output as Server-Sent Events, live while it runs, ending with its terminal status.
import { Router } from 'express';
import type { LiveLogEvent } from '../../runs/live-logs.ts';
import type { LiveLogRelay } from '../../cluster/live-log-relay.ts';
import type { RunService } from '../../runs/run-service.ts';
import { runResultView } from '../../runs/run-view.ts';
import type { RunRecord } from '../../store/run-store.ts';
import { isTerminal } from '../../run-status.ts';
import { principalOf, requireScope } from '../authenticate.ts';
import type { EventStream } from '../event-stream.ts';
import { openLogStream, tailLive, type LogStreamLimits } from '../sse-tail.ts';

function sendFinished(stream: EventStream, run: RunRecord): void {
  if (run.stdout) stream.send('stdout', { text: run.stdout });
  if (run.stderr) stream.send('stderr', { text: run.stderr });
  stream.send('end', runResultView(run));
  stream.end();
}

export function runLogRoutes(runService: RunService, liveLogs: LiveLogRelay, limits: LogStreamLimits): Router {
  const router = Router();

  router.get('/v1/runs/:runId/logs', requireScope('runs:read'), async (request, response) => {
    const tenantId = principalOf(request).tenantId;
    const runId = request.params.runId as string;
    const run = await runService.get(tenantId, runId); // 404 for another tenant's run, before any stream starts
    const follow = request.query.follow === '1' || request.query.follow === 'true';
    const stream = await openLogStream(request, response, tenantId, limits, 'live-log');
    if (isTerminal(run.status)) return sendFinished(stream, run);

    const send = (event: LiveLogEvent) => {
      if (event.type === 'log') stream.send(event.stream, { text: event.text });
    };
    if (!follow) {
      // Without follow: what was printed so far (here, or from the server running it), then the run as it is now.
      const snapshot = await liveLogs.snapshot(runId);
      if (!snapshot) return sendFinished(stream, await runService.get(tenantId, runId));
      snapshot.forEach(send);
      stream.send('status', runResultView(await runService.get(tenantId, runId)));
      stream.end();
      return;
    }
    const live = tailLive(request, response, stream, {
      follow: (listener) => liveLogs.follow(runId, listener),
      isEnd: (event) => event.type === 'end',
      send,
      final: async () => runResultView(await runService.waitForTerminal(runId)),
      unfinished: { message: 'a live-log stream ended without its final status', context: { runId } },
    });
    // Not live in this process (it finished in between): what the database holds is the whole story.
    if (!live) sendFinished(stream, await runService.get(tenantId, runId));
  });

  return router;
}
