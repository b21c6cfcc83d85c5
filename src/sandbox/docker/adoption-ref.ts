// A Docker run's note of where it runs (runs.sandbox_ref): what a server that did not start the run adopts it by.
import { z } from 'zod';
import { parseSandboxRef } from '../sandbox-ref.ts';

const LauncherRefSchema = z.object({
  path: z.literal('launcher'),
  /** The engine's full ID of the run's container (a warm one is named after its pool slot, not the run). */
  container: z.string().regex(/^[0-9a-f]{64}$/),
  /** The nonce of the run's launcher markers: its output can be read from any point of the kept log. */
  nonce: z.string().regex(/^[0-9a-f]{32}$/),
  /** False for a container whose stream the engine does not keep (a run with secrets: hardening.ts): it cannot be adopted. */
  kept: z.boolean(),
});

export type LauncherRef = z.infer<typeof LauncherRefSchema>;

export function launcherRef(container: string, nonce: string, kept: boolean): string {
  return JSON.stringify({ path: 'launcher', container, nonce, kept } satisfies LauncherRef);
}

/** The note, or undefined when there is none or it is not one this backend wrote (another backend's, a damaged row). */
export function parseLauncherRef(ref: string | null): LauncherRef | undefined {
  return parseSandboxRef(LauncherRefSchema, ref);
}
