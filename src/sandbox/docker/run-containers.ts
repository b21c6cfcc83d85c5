// The containers serving runs on this engine right now, and their removals: shared by the run paths (parked, direct) and the reaper.
import { Removals } from '../removals.ts';

export class RunContainers {
  private readonly serving = new Set<string>();
  readonly removals = new Removals();

  /** A container now serves a run: the reaper leaves it alone. */
  serve(containerId: string): void {
    this.serving.add(containerId);
  }

  release(containerId: string): void {
    this.serving.delete(containerId);
  }

  isServing(containerId: string): boolean {
    return this.serving.has(containerId);
  }
}
