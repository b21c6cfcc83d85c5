// Waiting a while without holding the process open: one helper for every back-off, grace period and drain bound.
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves after `ms`, or as soon as `signal` aborts (it never rejects for the abort). */
export async function delay(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { ref: false, signal });
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  }
}
