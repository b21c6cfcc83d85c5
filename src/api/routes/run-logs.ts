// GET /v1/runs/{id}/logs: a run's output as Server-Sent Events, live while it runs, ending with its terminal status.
import { Router, type Response } from 'express';
import type { LiveLogEvent, LiveLogs } from '../../runs/live-logs.ts';
import type { RunService } from '../../runs/run-service.ts';
import { runResultView } from '../../runs/run-view.ts';
import type { RunRecord } from '../../store/run-store.ts';
import { isTerminal } from '../../run-status.ts';
import { principalOf, requireScope } from '../authenticate.ts';

const HEARTBEAT_MS = 15_000;

function send(response: Response, event: string, data: unknown): void {
  response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function sendFinished(response: Response, run: RunRecord): void {
  if (run.stdout) send(response, 'stdout', { text: run.stdout });
  if (run.stderr) send(response, 'stderr', { text: run.stderr });
  send(response, 'end', runResultView(run));
  response.end();
}

export function runLogRoutes(runService: RunService, liveLogs: LiveLogs): Router {
  const router = Router();

  router.get('/v1/runs/:runId/logs', requireScope('runs:read'), (request, response) => {
    const tenantId = principalOf(request).tenantId;
    const runId = request.params.runId as string;
    const run = runService.get(tenantId, runId); // 404 for another tenant's run, before any stream starts
    const follow = request.query.follow === '1' || request.query.follow === 'true';
    response.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    response.flushHeaders();
    if (isTerminal(run.status)) return sendFinished(response, run);

    let ended = false;
    const heartbeat = setInterval(() => response.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const stop = liveLogs.follow(runId, (event: LiveLogEvent) => {
      if (event.type === 'log') {
        send(response, event.stream, { text: event.text });
        return;
      }
      ended = true;
      finish();
    });
    const finish = () => {
      clearInterval(heartbeat);
      stop?.();
      void runService.waitForTerminal(runId).then((finished) => {
        send(response, 'end', runResultView(finished));
        response.end();
      }, () => response.end());
    };
    if (!stop) {
      // Not live in this process (it finished in between): what the database holds is the whole story.
      clearInterval(heartbeat);
      return sendFinished(response, runService.get(tenantId, runId));
    }
    if (!follow) {
      // Without follow: what was printed so far, then the run as it is now.
      stop();
      clearInterval(heartbeat);
      send(response, 'status', runResultView(runService.get(tenantId, runId)));
      response.end();
      return;
    }
    request.on('close', () => {
      if (ended) return;
      clearInterval(heartbeat);
      stop();
    });
  });

  return router;
}
