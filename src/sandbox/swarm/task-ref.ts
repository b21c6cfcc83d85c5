// A swarm run's note of where it runs (runs.sandbox_ref): what a server that did not start the run adopts it by.
import { z } from 'zod';
import { parseSandboxRef } from '../sandbox-ref.ts';

const SWARM_ID = /^[a-z0-9]{1,64}$/;

const TaskRefSchema = z.object({
  path: z.literal('swarm'),
  /** The run's service: its task's state (exit code) and, once the run is over, what is removed. */
  service: z.string().regex(SWARM_ID),
  /** The node whose engine runs the task's container: the kept log, usage and OOM are read there. */
  node: z.string().regex(SWARM_ID),
  container: z.string().regex(/^[0-9a-f]{64}$/),
  /** The wrapper's frame nonce (service-spec.ts): its markers can be read from any point of the kept log. */
  nonce: z.string().regex(/^sandrun-frame-[0-9a-f]{32}$/),
  /** False for a task whose output the node does not keep (a run with secrets: log driver `none`): it cannot be adopted. */
  kept: z.boolean(),
});

export type TaskRef = z.infer<typeof TaskRefSchema>;

export function taskRef(ref: Omit<TaskRef, 'path'>): string {
  return JSON.stringify({ path: 'swarm', ...ref } satisfies TaskRef);
}

/** The note, or undefined when there is none or it is not one this backend wrote (another backend's, a damaged row). */
export function parseTaskRef(ref: string | null): TaskRef | undefined {
  return parseSandboxRef(TaskRefSchema, ref);
}
