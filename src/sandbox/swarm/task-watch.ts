// Follows the one task of a run's service until it ends, or its node is lost. Swarm (API 1.41) has no task events: this polls.
import type Dockerode from 'dockerode';
import { SandrunError } from '../../errors.ts';
import { engineError } from '../engine-errors.ts';
import type { SwarmNodes } from './swarm-nodes.ts';
import { delay } from '../../delay.ts';

export interface TaskInfo {
  ID: string;
  NodeID?: string;
  Status: { State: string; Timestamp?: string; Err?: string; Message?: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } };
}

const TERMINAL = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned', 'remove']);
const POLL_MS = 100;
const NODE_CHECK_MS = 1000;
/** A task not running after this long (no node can take it) is a platform failure. */
const START_TIMEOUT_MS = 120_000;
const MANAGER_OUTAGE_MS = 45_000;

export function isTerminal(task: TaskInfo): boolean {
  return TERMINAL.has(task.Status.State);
}

async function taskOf(manager: Dockerode, serviceId: string): Promise<TaskInfo | undefined> {
  try {
    const tasks = (await manager.listTasks({ filters: { service: [serviceId] } })) as TaskInfo[];
    return tasks[0];
  } catch (error) {
    throw engineError(error, `following the task of service ${serviceId}`);
  }
}


/**
 * Resolves with the task once it is terminal; calls onRunning once when it starts. Rejects with
 * engine_unavailable when the manager reports the task's node down (its task may run on, unseen).
 * Resolves undefined when `stop` aborts first.
 */
export async function watchTask(
  manager: Dockerode,
  nodes: SwarmNodes,
  serviceId: string,
  stop: AbortSignal,
  onRunning: (task: TaskInfo) => void,
): Promise<TaskInfo | undefined> {
  const created = Date.now();
  let running = false;
  let nodeCheckedAt = 0;
  let failingSince: number | undefined;
  while (!stop.aborted) {
    let task: TaskInfo | undefined;
    try {
      task = await taskOf(manager, serviceId);
      failingSince = undefined;
    } catch (error) {
      // A leader election makes the managers refuse calls for ~15 s; only a longer silence fails the run.
      failingSince ??= Date.now();
      if (Date.now() - failingSince > MANAGER_OUTAGE_MS) throw error;
      await delay(POLL_MS * 4, stop);
      continue;
    }
    if (task && isTerminal(task)) return task;
    if (task?.Status.State === 'running' && !running) {
      running = true;
      onRunning(task);
    }
    if (!running && Date.now() - created > START_TIMEOUT_MS) {
      throw new SandrunError('engine_unavailable', `no swarm node started the run within ${START_TIMEOUT_MS / 1000} s: ${task?.Status.Err ?? task?.Status.Message ?? 'no task'}`);
    }
    if (task?.NodeID && Date.now() - nodeCheckedAt >= NODE_CHECK_MS) {
      nodeCheckedAt = Date.now();
      const state = await nodes.stateOf(task.NodeID).catch(() => 'unknown');
      if (state === 'down' || state === 'disconnected') {
        throw new SandrunError('engine_unavailable', `swarm node ${task.NodeID} running this run was lost (the manager reports it ${state}); the run's result is unknown`);
      }
    }
    await delay(POLL_MS, stop);
  }
  return undefined;
}
