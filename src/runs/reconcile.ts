// At start-up: no run stays pending or running forever, and no container outlives its run.
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { SandboxBackend } from '../sandbox/backend.ts';
import type { ProjectStore } from '../store/project-store.ts';
import type { RunOwnership } from '../cluster/membership.ts';
import type { RunService } from './run-service.ts';
import { adoptRuns } from './adoption.ts';
import { cancelAsked, liveRuns, queueAgain } from './takeover.ts';

export interface ReconcileReport {
  containersRemoved: number;
  adopted: number;
  abandoned: number;
  requeued: number;
  /** Runs whose cancel was asked while no server held them. */
  cancelled: number;
}

/**
 * The runs this server is to carry (membership.ts: on SQLite every unfinished run; on PostgreSQL its own earlier
 * starts' and dead servers', never a live server's) are settled: running ones are adopted (finished from their
 * containers, or ended `error` when their container is gone; never re-run: a re-run may repeat side effects), pending
 * ones are queued again. Every other container of this server (parked ahead, or of a run that ended) is removed.
 */
export async function reconcile(deps: {
  projects: ProjectStore;
  runService: RunService;
  sandbox: SandboxBackend;
  ownership: RunOwnership;
  logger: Logger;
}): Promise<ReconcileReport> {
  const report: ReconcileReport = { containersRemoved: 0, adopted: 0, abandoned: 0, requeued: 0, cancelled: 0 };
  const { rest, cancelled } = cancelAsked(await deps.ownership.claimAtStart(), deps);
  report.cancelled = cancelled.size;
  // First, so that the sweep below leaves their containers (and their egress grants) alone.
  const adopted = adoptRuns(rest, deps);
  report.adopted = adopted.size;
  // Another server may have adopted a run of this server's earlier life meanwhile: its container is that server's now.
  const { isLive, keep } = await liveRuns(deps, (runId) => adopted.has(runId) || cancelled.has(runId));
  try {
    // Nothing else is live yet in this process: every other container of its instance belongs to a previous life.
    report.containersRemoved = await deps.sandbox.reap(isLive, { keep });
  } catch (error) {
    deps.logger.warn({ err: errorMessage(error) }, 'could not reach the engine to remove leftover containers; the reaper will retry');
  }
  Object.assign(report, await queueAgain(rest, deps));
  deps.logger.info(report, 'reconciled runs with the engine');
  return report;
}
