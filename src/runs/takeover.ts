// Carrying on runs a server took from another (or from its own earlier life): running ones adopted, pending ones queued again.
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { SandboxBackend } from '../sandbox/backend.ts';
import type { ProjectStore } from '../store/project-store.ts';
import type { RunRecord } from '../store/run-store.ts';
import type { RunOwnership } from '../cluster/membership.ts';
import type { RunService } from './run-service.ts';
import { adoptRuns } from './adoption.ts';

export interface TakeoverDeps {
  projects: ProjectStore;
  runService: RunService;
  sandbox: SandboxBackend;
  ownership: RunOwnership;
  logger: Logger;
}

/**
 * Runs whose cancel was asked while no live server held them (run-service.ts `cancel`): cancelled here now, a running
 * one's container stopped through its adoption. Returns the others, to be carried on, and the ids of these.
 */
export function cancelAsked(runs: readonly RunRecord[], deps: Pick<TakeoverDeps, 'runService' | 'logger'>): { rest: RunRecord[]; cancelled: Set<string> } {
  const rest: RunRecord[] = [];
  const cancelled = new Set<string>();
  for (const run of runs) {
    if (run.cancelRequestedAt === null) {
      rest.push(run);
      continue;
    }
    cancelled.add(run.id);
    deps.runService.cancelTakenOver(run).catch((error: unknown) => deps.logger.warn({ runId: run.id, err: errorMessage(error) }, 'cancelling a run taken over failed'));
  }
  return { rest, cancelled };
}

/** Pending runs (never started) are queued again here; one whose project was removed meanwhile ends error. */
export async function queueAgain(runs: readonly RunRecord[], deps: Pick<TakeoverDeps, 'projects' | 'runService'>): Promise<{ requeued: number; abandoned: number }> {
  const counts = { requeued: 0, abandoned: 0 };
  const pending = runs.filter((run) => run.status === 'pending');
  if (pending.length === 0) return counts;
  const projectsById = new Map((await deps.projects.listAll()).map((project) => [project.id, project]));
  for (const run of pending) {
    const project = projectsById.get(run.projectId);
    if (!project) {
      await deps.runService.abandon(run.id, 'the project of this run was removed before it could start');
      counts.abandoned += 1;
    } else {
      deps.runService.enqueue(run, project);
      counts.requeued += 1;
    }
  }
  return counts;
}

/** Runs taken from dead or stopped servers while this one serves: each is carried on here as after a restart. */
export async function takeOver(runs: readonly RunRecord[], deps: TakeoverDeps): Promise<void> {
  const { rest, cancelled } = cancelAsked(runs, deps);
  const adopted = adoptRuns(rest, deps);
  const { requeued, abandoned } = await queueAgain(rest, deps);
  deps.logger.info({ adopted: adopted.size, requeued, abandoned, cancelled: cancelled.size }, 'took over the runs of servers that died or stopped');
}

/**
 * What a live server counts as live when it sweeps containers: those of runs it carries, and those of runs another
 * server answers for (alive, or dead and not yet taken: the taker adopts them).
 */
export async function liveRuns(
  deps: Pick<TakeoverDeps, 'runService' | 'ownership'>,
  carried: (runId: string) => boolean = (runId) => deps.runService.isActive(runId),
): Promise<{ isLive: (runId: string) => boolean; keep: readonly string[] }> {
  const others = await deps.ownership.unfinishedForReaper();
  return { isLive: (runId) => carried(runId) || others.runIds.has(runId), keep: others.sandboxRefs };
}

/** Removes what dead servers (no live server of their engine instance left) left on the engine: parked and finished runs' containers. */
export async function sweepInstances(instances: readonly string[], deps: TakeoverDeps & { minAgeMs: number }): Promise<void> {
  for (const instanceId of instances) {
    try {
      const { isLive, keep } = await liveRuns(deps);
      const removed = await deps.sandbox.reap(isLive, { instanceId, minAgeMs: deps.minAgeMs, keep });
      if (removed > 0) deps.logger.info({ instanceId, removed }, 'removed containers a dead server left');
    } catch (error) {
      deps.logger.warn({ instanceId, err: errorMessage(error) }, 'could not sweep the containers of a dead server; trying again later');
    }
  }
}
