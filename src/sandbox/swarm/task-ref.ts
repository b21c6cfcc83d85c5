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
  /**
   * What the task keeps for a server that adopts the run: its node's log of its stdio ('log'), or, for a run with
   * secrets (log driver `none`), copies of its output and exit in its container's memory ('memory': kept-in-memory.ts;
   * the adopter finds out whether the image let the wrapper make them). Notes written before 'memory' say true (the
   * log) or false (nothing: it cannot be adopted).
   */
  kept: z.union([z.enum(['log', 'memory']), z.boolean()]).transform((kept) => (kept === true ? 'log' : kept)),
});

export type TaskRef = z.infer<typeof TaskRefSchema>;

export function taskRef(ref: Omit<TaskRef, 'path'>): string {
  return JSON.stringify({ path: 'swarm', ...ref } satisfies z.input<typeof TaskRefSchema>);
}

/** The note, or undefined when there is none or it is not one this backend wrote (another backend's, a damaged row). */
export function parseTaskRef(ref: string | null): TaskRef | undefined {
  return parseSandboxRef(TaskRefSchema, ref);
}
