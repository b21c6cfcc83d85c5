// GET /v1/runs/{id}/logs: a run's output as Server-Sent Events, live while it runs, ending with its terminal status.
import { Router } from 'express';
import type { LiveLogEvent, LiveLogs } from '../../runs/live-logs.ts';
import type { RunService } from '../../runs/run-service.ts';
import { runResultView } from '../../runs/run-view.ts';
import type { RunRecord } from '../../store/run-store.ts';
import { isTerminal } from '../../run-status.ts';
import { principalOf, requireScope } from '../authenticate.ts';
import { EventStream, HEARTBEAT_MS } from '../event-stream.ts';
import type { LogStreamSlots } from '../log-stream-slots.ts';

export interface LogStreamLimits {
  /** Open streams per tenant. */
  slots: LogStreamSlots;
  /** Live output that may wait unsent for one client before it is dropped. */
  maxBacklogBytes: number;
}

function sendFinished(stream: EventStream, run: RunRecord): void {
  if (run.stdout) stream.send('stdout', { text: run.stdout });
  if (run.stderr) stream.send('stderr', { text: run.stderr });
  stream.send('end', runResultView(run));
  stream.end();
}

export function runLogRoutes(runService: RunService, liveLogs: LiveLogs, limits: LogStreamLimits): Router {
  const router = Router();

  router.get('/v1/runs/:runId/logs', requireScope('runs:read'), (request, response) => {
    const tenantId = principalOf(request).tenantId;
    const runId = request.params.runId as string;
    const run = runService.get(tenantId, runId); // 404 for another tenant's run, before any stream starts
    const follow = request.query.follow === '1' || request.query.follow === 'true';
    const release = limits.slots.acquire(tenantId); // 429 past the tenant's cap, before any stream starts
    response.once('close', release);
    const stream = new EventStream(response, {
      maxBacklogBytes: limits.maxBacklogBytes,
      onDrop: (backlogBytes) => request.log?.warn({ backlogBytes }, 'dropped a live-log client that does not read'),
    });
    if (isTerminal(run.status)) return sendFinished(stream, run);

    let ended = false;
    const heartbeat = setInterval(() => stream.comment('keep-alive'), HEARTBEAT_MS);
    const stop = liveLogs.follow(runId, (event: LiveLogEvent) => {
      if (event.type === 'log') {
        stream.send(event.stream, { text: event.text });
        return;
      }
      ended = true;
      finish();
    });
    const finish = () => {
      clearInterval(heartbeat);
      stop?.();
      // Caught as a whole: a throw while sending the last event must end this stream, never the process.
      void runService
        .waitForTerminal(runId)
        .then((finished) => stream.send('end', runResultView(finished)))
        .catch((error: unknown) => request.log?.warn({ err: error, runId }, 'a live-log stream ended without its final status'))
        .finally(() => stream.end());
    };
    if (!stop) {
      // Not live in this process (it finished in between): what the database holds is the whole story.
      clearInterval(heartbeat);
      return sendFinished(stream, runService.get(tenantId, runId));
    }
    if (!follow) {
      // Without follow: what was printed so far, then the run as it is now.
      stop();
      clearInterval(heartbeat);
      stream.send('status', runResultView(runService.get(tenantId, runId)));
      stream.end();
      return;
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
