// At start-up: no run stays pending or running forever, and no container outlives its run.
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { SandboxBackend } from '../sandbox/backend.ts';
import type { ProjectStore } from '../store/project-store.ts';
import type { RunStore } from '../store/run-store.ts';
import type { RunService } from './run-service.ts';
import { adoptRuns } from './adoption.ts';

export interface ReconcileReport {
  containersRemoved: number;
  adopted: number;
  abandoned: number;
  requeued: number;
}

/**
 * Runs that were running when the server stopped are adopted: finished from their containers, or ended `error` when
 * their container is gone (never re-run: a re-run may repeat side effects). Runs still pending never started: they
 * are queued again. Every other container of this server (parked ahead, or of a run that ended) is removed.
 */
export async function reconcile(deps: {
  runs: RunStore;
  projects: ProjectStore;
  runService: RunService;
  sandbox: SandboxBackend;
  logger: Logger;
}): Promise<ReconcileReport> {
  const report: ReconcileReport = { containersRemoved: 0, adopted: 0, abandoned: 0, requeued: 0 };
  const projectsById = new Map((await deps.projects.listAll()).map((project) => [project.id, project]));
  const unfinished = await deps.runs.unfinished();
  // First, so that the sweep below leaves their containers (and their egress grants) alone.
  const adopted = adoptRuns(unfinished, deps);
  report.adopted = adopted.size;
  try {
    // Nothing else is live yet in this process: every other managed container belongs to a previous life.
    report.containersRemoved = await deps.sandbox.reap((runId) => adopted.has(runId));
  } catch (error) {
    deps.logger.warn({ err: errorMessage(error) }, 'could not reach the engine to remove leftover containers; the reaper will retry');
  }
  for (const run of unfinished) {
    if (adopted.has(run.id)) continue;
    const project = projectsById.get(run.projectId);
    if (!project) {
      await deps.runService.abandon(run.id, 'the project of this run was removed before it could start');
      report.abandoned += 1;
    } else {
      deps.runService.enqueue(run, project);
      report.requeued += 1;
    }
  }
  deps.logger.info(report, 'reconciled runs with the engine');
  return report;
}
