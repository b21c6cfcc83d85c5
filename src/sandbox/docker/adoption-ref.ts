// A Docker run's note of where it runs (runs.sandbox_ref): what a server that did not start the run adopts it by.
import { z } from 'zod';
import { parseSandboxRef } from '../sandbox-ref.ts';

const ContainerId = z.string().regex(/^[0-9a-f]{64}$/);

const LauncherRefSchema = z.object({
  path: z.literal('launcher'),
  /** The engine's full ID of the run's container (a warm one is named after its pool slot, not the run). */
  container: ContainerId,
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

/** A run on the direct path (direct-runner.ts): its command is its container's own process; /outputs is a volume its holder keeps mounted. */
const DirectRefSchema = z.object({
  path: z.literal('direct'),
  container: ContainerId,
  /** The helper container that keeps the outputs volume mounted and reads it with its `tar`. */
  holder: ContainerId,
  volume: z.string().regex(/^sandrun-[0-9A-Za-z_.-]+-outputs$/),
  /** False for a run with secrets: the engine keeps no log of what it prints, so it cannot be adopted. */
  kept: z.boolean(),
});

const DockerRefSchema = z.discriminatedUnion('path', [LauncherRefSchema, DirectRefSchema]);

export type LauncherRef = z.output<typeof LauncherRefSchema>;
export type KeptBy = LauncherRef['kept'];
export type DirectRef = z.infer<typeof DirectRefSchema>;
export type DockerRef = z.output<typeof DockerRefSchema>;

export function launcherRef(container: string, nonce: string, kept: KeptBy): string {
  return JSON.stringify({ path: 'launcher', container, nonce, kept } satisfies z.input<typeof LauncherRefSchema>);
}

export function directRef(parts: Omit<DirectRef, 'path'>): string {
  return JSON.stringify({ path: 'direct', ...parts } satisfies DirectRef);
}

/** The note, or undefined when there is none or it is not one this backend wrote (another backend's, a damaged row). */
export function parseDockerRef(ref: string | null): DockerRef | undefined {
  return parseSandboxRef(DockerRefSchema, ref);
}

/** The containers a note names: what the reaper must leave to the server that carries its run. */
export function containersOf(ref: DockerRef): string[] {
  return ref.path === 'direct' ? [ref.container, ref.holder] : [ref.container];
}
