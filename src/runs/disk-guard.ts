// Free space on the data directory's disk: below the floor no run is accepted or started and no repository is cloned or fetched, before anything fills it.
import { statfsSync } from 'node:fs';
import { SandrunError } from '../errors.ts';

const MiB = 1024 * 1024;

export class DiskGuard {
  constructor(
    private readonly dataDir: string,
    private readonly minFreeBytes: number,
  ) {}

  freeBytes(): number {
    const stats = statfsSync(this.dataDir);
    return stats.bavail * stats.bsize;
  }

  /** Throws disk_full (503) when the data directory's disk has less free space than the configured floor. */
  assertRoom(): void {
    if (this.minFreeBytes === 0) return;
    const free = this.freeBytes();
    if (free < this.minFreeBytes) {
      throw new SandrunError(
        'disk_full',
        `the disk of the data directory ${this.dataDir} has ${Math.floor(free / MiB)} MiB free, below the ${Math.floor(this.minFreeBytes / MiB)} MiB floor (SANDRUN_MIN_FREE_MB); no run is accepted and no repository cloned or fetched until space is freed`,
      );
    }
  }
}

/** A write that failed for want of space, as the error a run or a client should see. */
export function diskFullError(error: unknown): SandrunError | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'SQLITE_FULL' || code === 'EDQUOT') {
    return new SandrunError('disk_full', `the data directory's disk is full: ${(error as Error).message}`, undefined, { cause: error });
  }
  return undefined;
}
