// Artifacts' bytes in the data directory, content-addressed by SHA-256 (artifacts/ab/cdef...): written as they stream in, stored once however many runs keep them.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArtifactSink } from '../sandbox/backend.ts';

const SHA256 = /^[0-9a-f]{64}$/;
/** Where files are written before their hash is known; same filesystem, so the final move is a rename. */
const INCOMING = 'incoming';
/** A half-written file older than this belongs to a process that died: no write takes that long. */
const INCOMING_GRACE_MS = 60 * 60 * 1000;

/** A run's sink: what it stored stays held (no sweep removes it) until release(), once the run's rows are recorded. */
export interface RunArtifactSink extends ArtifactSink {
  release(): void;
}

export class ArtifactBlobs {
  /** Hashes stored by runs whose rows are not recorded yet, with how many runs hold each. */
  private readonly held = new Map<string, number>();
  /** Removals under way: a store of the same bytes waits for them, then puts its file back. */
  private readonly removing = new Map<string, Promise<void>>();

  constructor(private readonly dir: string) {}

  /** A sink for one run's artifacts; release it after its end (with its artifacts) is recorded. */
  forRun(): RunArtifactSink {
    const mine: string[] = [];
    return {
      store: async (content) => {
        const stored = await this.store(content, (sha256) => {
          this.held.set(sha256, (this.held.get(sha256) ?? 0) + 1);
          mine.push(sha256);
        });
        return stored;
      },
      release: () => {
        for (const sha256 of mine.splice(0)) {
          const count = (this.held.get(sha256) ?? 1) - 1;
          if (count > 0) this.held.set(sha256, count);
          else this.held.delete(sha256);
        }
      },
    };
  }

  private async store(content: AsyncIterable<Buffer>, hold: (sha256: string) => void): Promise<{ size: number; sha256: string }> {
    await mkdir(join(this.dir, INCOMING), { recursive: true, mode: 0o700 });
    const incoming = join(this.dir, INCOMING, randomUUID());
    const hash = createHash('sha256');
    let size = 0;
    try {
      const counted = async function* () {
        for await (const chunk of content) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      };
      await pipeline(Readable.from(counted()), createWriteStream(incoming, { mode: 0o600 }));
      const sha256 = hash.digest('hex');
      // Held before anything else, in the same turn as the check a sweep makes: a sweep either removed the file
      // already (awaited here, then it is put back) or sees it held and leaves it.
      hold(sha256);
      await this.removing.get(sha256);
      const path = this.pathOf(sha256);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      // Replaces the same bytes when they were stored already: one rename, never a moment without the file.
      await rename(incoming, path);
      return { size, sha256 };
    } finally {
      await rm(incoming, { force: true });
    }
  }

  /** The stored bytes of a hash; undefined when they are gone (a sweep, an operator). */
  async open(sha256: string): Promise<ReadStream | undefined> {
    if (!SHA256.test(sha256)) return undefined;
    const stream = createReadStream(this.pathOf(sha256));
    return new Promise((resolve) => {
      stream.once('open', () => resolve(stream));
      stream.once('error', () => resolve(undefined));
    });
  }

  /**
   * Removes every stored file that no run references and no run in progress holds, and half-written files of a
   * process that died; returns how many it removed.
   */
  async sweep(isReferenced: (sha256: string) => boolean, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const prefix of await readdir(this.dir).catch(() => [] as string[])) {
      const sub = join(this.dir, prefix);
      for (const name of await readdir(sub).catch(() => [] as string[])) {
        const path = join(sub, name);
        if (prefix === INCOMING) {
          const info = await stat(path).catch(() => undefined);
          if (info && info.mtimeMs <= now - INCOMING_GRACE_MS) removed += await rm(path, { force: true }).then(() => 1);
          continue;
        }
        const sha256 = prefix + name;
        if (!SHA256.test(sha256) || this.held.has(sha256) || this.removing.has(sha256) || isReferenced(sha256)) continue;
        const removal = rm(path, { force: true }).finally(() => this.removing.delete(sha256));
        this.removing.set(sha256, removal);
        await removal;
        removed += 1;
      }
    }
    return removed;
  }

  private pathOf(sha256: string): string {
    return join(this.dir, sha256.slice(0, 2), sha256.slice(2));
  }
}
