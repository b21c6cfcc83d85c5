// At start-up: no run stays pending or running forever, and no container outlives its run.
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { SandboxBackend } from '../sandbox/backend.ts';
import type { ProjectStore } from '../store/project-store.ts';
import type { RunStore } from '../store/run-store.ts';
import type { RunService } from './run-service.ts';

export interface ReconcileReport {
  containersRemoved: number;
  abandoned: number;
  requeued: number;
}

/**
 * Runs that were running when the server stopped lost their output stream and are marked `error`
 * (never re-run: a re-run may repeat side effects). Runs still pending never started: they are queued again.
 */
export async function reconcile(deps: {
  runs: RunStore;
  projects: ProjectStore;
  runService: RunService;
  sandbox: SandboxBackend;
  logger: Logger;
}): Promise<ReconcileReport> {
  const report: ReconcileReport = { containersRemoved: 0, abandoned: 0, requeued: 0 };
  try {
    // Nothing is live yet in this process: every managed container belongs to a previous life.
    report.containersRemoved = await deps.sandbox.reap(() => false);
  } catch (error) {
    deps.logger.warn({ err: errorMessage(error) }, 'could not reach the engine to remove leftover containers; the reaper will retry');
  }
  const projectsById = new Map((await deps.projects.listAll()).map((project) => [project.id, project]));
  for (const run of await deps.runs.unfinished()) {
    const project = projectsById.get(run.projectId);
    if (run.status === 'running' || !project) {
      const reason = project
        ? 'the server stopped while this run was running; its container was removed and the run was not retried'
        : 'the project of this run was removed before it could start';
      await deps.runService.abandon(run.id, reason);
      report.abandoned += 1;
    } else {
      deps.runService.enqueue(run, project);
      report.requeued += 1;
    }
  }
  deps.logger.info(report, 'reconciled runs with the engine');
  return report;
}
