// Runs whose server is gone while they ran: this server takes each over from its container (SPEC §13).
import type { Logger } from 'pino';
import type { RunRecord } from '../store/run-store.ts';
import type { RunService } from './run-service.ts';

/**
 * Adopts `runs` (running, started by a server that is gone: this one before a restart, or, later, another whose
 * heartbeat stopped): each is finished from its container by this server, or ends error when its container is
 * gone. Returns their ids, which the caller's reaper must treat as live; their containers are also kept from it by
 * their sandbox notes (run-store.ts RunsElsewhere), since the sandbox holds them only once their secrets are read.
 */
export function adoptRuns(runs: readonly RunRecord[], deps: { runService: RunService; logger: Logger }): Set<string> {
  const adopted = new Set<string>();
  for (const run of runs) {
    if (run.status !== 'running') continue;
    deps.runService.adopt(run);
    adopted.add(run.id);
    deps.logger.info({ runId: run.id, tenantId: run.tenantId, startedAt: run.startedAt }, 'adopting a run whose server stopped while it ran');
  }
  return adopted;
}
