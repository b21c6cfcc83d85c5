// A Docker run's note of where it runs (runs.sandbox_ref): what a server that did not start the run adopts it by.
import { z } from 'zod';
import { parseSandboxRef } from '../sandbox-ref.ts';

const LauncherRefSchema = z.object({
  path: z.literal('launcher'),
  /** The engine's full ID of the run's container (a warm one is named after its pool slot, not the run). */
  container: z.string().regex(/^[0-9a-f]{64}$/),
  /** The nonce of the run's launcher markers: its output can be read from any point of the kept log. */
  nonce: z.string().regex(/^[0-9a-f]{32}$/),
  /**
   * What the container keeps of its run for a server that adopts it: its whole stream in the engine's log ('log'), or,
   * for a run with secrets, copies of its output and exit in its own memory ('memory': kept-in-memory.ts); false: nothing
   * (a run with secrets on an image without `mkfifo` and `tee`), it cannot be adopted. Notes written before 'memory'
   * said true or false.
   */
  kept: z.union([z.enum(['log', 'memory']), z.boolean()]).transform((kept) => (kept === true ? 'log' : kept)),
});

export type LauncherRef = z.output<typeof LauncherRefSchema>;
export type KeptBy = LauncherRef['kept'];

export function launcherRef(container: string, nonce: string, kept: KeptBy): string {
  return JSON.stringify({ path: 'launcher', container, nonce, kept } satisfies z.input<typeof LauncherRefSchema>);
}

/** The note, or undefined when there is none or it is not one this backend wrote (another backend's, a damaged row). */
export function parseLauncherRef(ref: string | null): LauncherRef | undefined {
  return parseSandboxRef(LauncherRefSchema, ref);
}
