// The operator's wheel directory (SANDRUN_PIP_FIND_LINKS) as an environment's key sees it, listed at most once per few
// seconds however many runs ask: a wheel added or replaced is another environment from then on.
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** How long a listing answers for the directory: runs at the same commit within it list nothing. */
export const WHEEL_LISTING_TTL_MS = 5_000;

export interface WheelListing {
  /** Names and sizes, sorted by name. */
  files: Array<[string, number]>;
  /** Of `files`: what a cached key is compared by, so a listing that did not change keeps it. */
  digest: string;
}

export class WheelDirectory {
  private cached: { at: number; listing: Promise<WheelListing> } | null = null;

  /** `now`: milliseconds on the service's clock. */
  constructor(
    private readonly dir: string,
    private readonly now: () => number,
  ) {}

  listing(): Promise<WheelListing> {
    const now = this.now();
    // A clock set back lists again rather than keep a listing for as long as it went back.
    if (this.cached && now >= this.cached.at && now - this.cached.at < WHEEL_LISTING_TTL_MS) return this.cached.listing;
    const listing = list(this.dir);
    const cached = { at: now, listing };
    listing.catch(() => {
      if (this.cached === cached) this.cached = null;
    });
    this.cached = cached;
    return listing;
  }
}

async function list(dir: string): Promise<WheelListing> {
  const names = (await readdir(dir)).sort();
  const files = await Promise.all(names.map(async (name): Promise<[string, number]> => [name, (await stat(join(dir, name))).size]));
  return { files, digest: createHash('sha256').update(JSON.stringify(files)).digest('hex') };
}
