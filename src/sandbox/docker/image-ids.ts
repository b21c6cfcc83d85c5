// The ID an image name stands for, asked of the engine once and kept while the engine's image events say nothing changed.
import type Dockerode from 'dockerode';
import type { Readable } from 'node:stream';
import { followEngineEvents } from './engine-events.ts';

/**
 * Every run records the ID of its image (SPEC §12), asked just before its start: an engine round trip on every run.
 * Kept here, it is asked again only after any image event (a tag, untag, delete, load, pull or import of any image
 * empties the whole cache) and whenever the subscription to those events is down: then every call asks the engine.
 */
export class ImageIds {
  private readonly known = new Map<string, string>();
  /** Moves on with every image event and every change of the subscription: an answer asked across one is not kept. */
  private generation = 0;
  private live = false;
  private subscribing: Promise<void> | undefined;
  private stream: Readable | undefined;
  private closed = false;

  constructor(private readonly docker: Dockerode) {}

  /** The image's ID: kept, or from `inspect` (whose errors pass through, never kept). */
  async idOf(image: string, inspect: () => Promise<string>): Promise<string> {
    const kept = this.live ? this.known.get(image) : undefined;
    if (kept !== undefined) return kept;
    if (!this.closed) this.subscribing ??= this.subscribe();
    const generation = this.generation;
    const id = await inspect();
    if (this.live && generation === this.generation) this.known.set(image, id);
    return id;
  }

  private async subscribe(): Promise<void> {
    try {
      const stream = await followEngineEvents(
        this.docker,
        { filters: { type: ['image'] } },
        () => this.forgetAll(),
        () => {
          this.live = false;
          this.forgetAll();
          this.subscribing = undefined;
        },
      );
      if (this.closed) return void stream.destroy();
      this.stream = stream;
      this.generation += 1;
      this.live = true;
    } catch {
      // Not kept meanwhile; the next call tries again.
      this.subscribing = undefined;
    }
  }

  private forgetAll(): void {
    this.generation += 1;
    this.known.clear();
  }

  close(): void {
    this.closed = true;
    this.stream?.destroy();
  }
}
