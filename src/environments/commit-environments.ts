// What an environment's key is made of at one commit, kept so that runs of a commit already seen neither read its
// declared files nor hash them again: the checked inputs and the last key resolved from them, bounded in entries and bytes.
import { SandrunError } from '../errors.ts';
import type { EnvironmentInputs } from '../projects/environment-files.ts';
import type { ResolvedEnvironment } from './environment-recipe.ts';

export interface CommitEnvironment {
  /** A commit never changes: its checked inputs are read once (a refusal too, which is as final as the commit). */
  readonly inputs: Promise<EnvironmentInputs>;
  /** The last key resolved from the inputs, with what else it was made of (tenant, base image ID, wheel listing). */
  resolved: { sources: string; environment: ResolvedEnvironment } | null;
}

export interface CommitEnvironmentLimits {
  maxEntries: number;
  /** Of the declared files' text held, counted in characters (a lockfile may be 16 MiB). */
  maxBytes: number;
}

interface Held {
  entry: CommitEnvironment;
  bytes: number;
}

export class CommitEnvironments {
  /** In order of use, the least recently used first. */
  private readonly held = new Map<string, Held>();
  private heldBytes = 0;

  constructor(private readonly limits: CommitEnvironmentLimits) {}

  /** The entry of `key` (a project, a commit and its declaration), its inputs read with `read` when it has none. */
  get(key: string, read: () => Promise<EnvironmentInputs>): CommitEnvironment {
    const found = this.held.get(key);
    if (found) {
      this.held.delete(key);
      this.held.set(key, found);
      return found.entry;
    }
    const held: Held = { entry: { inputs: read(), resolved: null }, bytes: 0 };
    this.held.set(key, held);
    held.entry.inputs.then(
      (inputs) => {
        if (this.held.get(key) !== held) return;
        held.bytes = bytesOf(inputs);
        this.heldBytes += held.bytes;
        this.evict();
      },
      (error: unknown) => {
        // Anything but a refusal (git, the disk) may go another way next time.
        if (!(error instanceof SandrunError && error.code === 'environment_failed')) this.forget(key, held);
      },
    );
    this.evict();
    return held.entry;
  }

  /** Entries and bytes held, for tests and a curious operator. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.held.size, bytes: this.heldBytes };
  }

  private evict(): void {
    for (const [key, held] of this.held) {
      if (this.held.size <= this.limits.maxEntries && this.heldBytes <= this.limits.maxBytes) return;
      this.forget(key, held);
    }
  }

  private forget(key: string, held: Held): void {
    if (this.held.get(key) !== held) return;
    this.held.delete(key);
    this.heldBytes -= held.bytes;
  }
}

/** The text an entry holds: its resolved build refers to the same strings, but for pip's requirements, joined anew. */
function bytesOf(inputs: EnvironmentInputs): number {
  const pip = inputs.pip ? inputs.pip.requirements.reduce((sum, line) => sum + line.length + 1, 0) : 0;
  const npm = inputs.npm ? inputs.npm.packageJson.length + inputs.npm.lockfile.length : 0;
  return pip * 2 + npm + inputs.apt.reduce((sum, name) => sum + name.length, 0);
}
