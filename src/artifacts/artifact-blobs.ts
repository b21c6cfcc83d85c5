// Artifacts' bytes in the data directory, content-addressed by SHA-256 (artifacts/ab/cdef...): written as they stream in, stored once however many runs keep them.
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArtifactSink } from '../sandbox/backend.ts';

const SHA256 = /^[0-9a-f]{64}$/;
/** Where files are written before their hash is known; same filesystem, so the final move is a rename. */
const INCOMING = 'incoming';
/** A half-written file older than this belongs to a process that died: no write takes that long. */
const INCOMING_GRACE_MS = 60 * 60 * 1000;
/** A file this small is read whole before it is written: when its bytes are stored already, nothing is written. */
const SMALL_FILE_BYTES = 64 * 1024;
/** How many hashes this process remembers having stored (the common run writes the same small outputs each time). */
const KNOWN_HASHES = 10_000;

/** A run's sink: what it stored stays held (no sweep removes it) until release(), once the run's rows are recorded. */
export interface RunArtifactSink extends ArtifactSink {
  release(): void;
}

/** Where the bytes of a hash live under a directory of blobs (this store's, or a backup's): ab/cdef... */
export function blobPath(dir: string, sha256: string): string {
  return join(dir, sha256.slice(0, 2), sha256.slice(2));
}

export class ArtifactBlobs {
  /** Hashes stored by runs whose rows are not recorded yet, with how many runs hold each. */
  private readonly held = new Map<string, number>();
  /** Removals under way: a store of the same bytes waits for them, then puts its file back. */
  private readonly removing = new Map<string, Promise<void>>();
  /** Hashes whose file this process stored or found, oldest first; a sweep's removal forgets one. */
  private readonly known = new Set<string>();
  private incomingReady: Promise<unknown> | undefined;
  /** While a sweep runs: hashes held meanwhile, which it keeps (its database check may predate their runs' rows). */
  private heldDuringSweep: Set<string> | undefined;

  constructor(private readonly dir: string) {}

  /** A sink for one run's artifacts; release it after its end (with its artifacts) is recorded. */
  forRun(): RunArtifactSink {
    const mine: string[] = [];
    return {
      store: async (content) => {
        const stored = await this.store(content, (sha256) => {
          this.held.set(sha256, (this.held.get(sha256) ?? 0) + 1);
          this.heldDuringSweep?.add(sha256);
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
    const iterator = content[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let headBytes = 0;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return this.storeSmall(Buffer.concat(head, headBytes), hold);
      head.push(next.value);
      headBytes += next.value.length;
      if (headBytes > SMALL_FILE_BYTES) break;
    }
    const rest = async function* () {
      yield* head;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    };
    return this.storeStreamed(rest(), hold);
  }

  /** A small file, whole: hashed first, written only when its bytes are not stored yet. */
  private async storeSmall(bytes: Buffer, hold: (sha256: string) => void): Promise<{ size: number; sha256: string }> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    hold(sha256);
    await this.removing.get(sha256);
    if (!this.known.has(sha256)) {
      const incoming = await this.incomingPath();
      try {
        await writeFile(incoming, bytes, { mode: 0o600 });
        await this.placeFile(incoming, sha256);
      } finally {
        await rm(incoming, { force: true });
      }
    }
    return { size: bytes.length, sha256 };
  }

  private async storeStreamed(content: AsyncIterable<Buffer>, hold: (sha256: string) => void): Promise<{ size: number; sha256: string }> {
    const incoming = await this.incomingPath();
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
      await this.placeFile(incoming, sha256);
      return { size, sha256 };
    } finally {
      await rm(incoming, { force: true });
    }
  }

  private async incomingPath(): Promise<string> {
    this.incomingReady ??= mkdir(join(this.dir, INCOMING), { recursive: true, mode: 0o700 }).catch((error: unknown) => {
      this.incomingReady = undefined;
      throw error;
    });
    await this.incomingReady;
    return join(this.dir, INCOMING, randomUUID());
  }

  /** Moves a written file to its hash's place: one rename, never a moment without the file when it was there already. */
  private async placeFile(incoming: string, sha256: string): Promise<void> {
    const path = this.pathOf(sha256);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await rename(incoming, path);
    this.known.delete(sha256);
    this.known.add(sha256);
    if (this.known.size > KNOWN_HASHES) this.known.delete(this.known.values().next().value!);
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
  async sweep(isReferenced: (sha256: string) => boolean | Promise<boolean>, now = Date.now()): Promise<number> {
    const heldMeanwhile = new Set<string>();
    this.heldDuringSweep = heldMeanwhile;
    try {
      return await this.sweepUnreferenced(heldMeanwhile, isReferenced, now);
    } finally {
      this.heldDuringSweep = undefined;
    }
  }

  private async sweepUnreferenced(heldMeanwhile: Set<string>, isReferenced: (sha256: string) => boolean | Promise<boolean>, now: number): Promise<number> {
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
        if (!SHA256.test(sha256) || this.held.has(sha256) || this.removing.has(sha256)) continue;
        heldMeanwhile.delete(sha256);
        if (await isReferenced(sha256)) continue;
        // The last look and the start of the removal in one synchronous step: a store of these bytes either came
        // before it (and is seen here) or waits for the removal and puts its file back.
        if (this.held.has(sha256) || this.removing.has(sha256) || heldMeanwhile.has(sha256)) continue;
        this.known.delete(sha256);
        const removal = rm(path, { force: true }).finally(() => this.removing.delete(sha256));
        this.removing.set(sha256, removal);
        await removal;
        removed += 1;
      }
    }
    return removed;
  }

  private pathOf(sha256: string): string {
    return blobPath(this.dir, sha256);
  }
}
