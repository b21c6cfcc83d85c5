// A run's secrets on a Docker engine: files in a directory of its container's own on a host tmpfs, bind-mounted read-only at /run/secrets.
import { chmod, chown, lstat, mkdir, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SandrunError, errorMessage } from '../../errors.ts';
import { SECRET_KEY } from '../../secrets/secret-rules.ts';
import { RUN_GID, RUN_UID } from '../container-layout.ts';

/** statfs(2) types of the file systems that live in memory only. */
const IN_MEMORY_TYPES = new Map([
  [0x01021994, 'tmpfs'],
  [0x858458f6, 'ramfs'],
]);

export class SecretFiles {
  private readonly root: string;
  private checked: Promise<void> | undefined;
  /** Root owns the files and gives them to the run user; a server that is not root cannot (see writeSecrets). */
  private readonly canChown = process.getuid?.() === 0;

  /**
   * @param base the operator's directory on a tmpfs (SANDRUN_RUN_SECRETS_DIR), the server's own, 0700
   * @param instanceId this server's: servers sharing a host keep apart under one base
   */
  constructor(
    private readonly base: string,
    instanceId: string,
  ) {
    this.root = join(base, instanceId);
  }

  /** The host directory a container (sandrun-<id>) mounts at /run/secrets. */
  dirOf(id: string): string {
    return join(this.root, id);
  }

  /** Makes the empty directory a container with secrets mounts, before the container is created (a parked one: before its run is known). */
  async prepare(id: string): Promise<string> {
    this.checked ??= this.assertPrivateMemory().catch((error: unknown) => {
      this.checked = undefined;
      throw error;
    });
    await this.checked;
    const dir = this.dirOf(id);
    // A run retried after an engine outage may find its first attempt's directory: it starts empty again.
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: 0o700 });
    return dir;
  }

  /**
   * Writes a run's secrets into the directory its container mounts read-only (seen inside at once): each file
   * 0400 and the directory 0500, both the run user's. A server that is not root cannot give them away: the files
   * are then 0444 and the directory 0555, which inside the container is still the run user alone (every process
   * there runs as it), while on the host the base directory (0700) keeps everyone but the server out.
   */
  async write(dir: string, secrets: Record<string, string>): Promise<void> {
    for (const [key, value] of Object.entries(secrets)) {
      // The store allows no other name (SPEC §10); checked again here, since a name becomes a path.
      if (!SECRET_KEY.test(key)) throw new SandrunError('internal', `secret name ${JSON.stringify(key)} does not match ${SECRET_KEY.source}`);
      const file = join(dir, key);
      await writeFile(file, value, { mode: this.canChown ? 0o400 : 0o444, flag: 'wx' });
      if (this.canChown) await chown(file, RUN_UID, RUN_GID);
    }
    if (this.canChown) await chown(dir, RUN_UID, RUN_GID);
    await chmod(dir, this.canChown ? 0o500 : 0o555);
  }

  async remove(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }

  /** Removes the directories of containers that are gone (a server killed between a container's end and its cleanup). */
  async sweep(bornBefore: number, keep: ReadonlySet<string>): Promise<void> {
    const entries = await readdir(this.root).catch(() => [] as string[]);
    for (const entry of entries) {
      if (keep.has(entry)) continue;
      const path = join(this.root, entry);
      const info = await stat(path).catch(() => undefined);
      if (info && info.mtimeMs <= bornBefore) await rm(path, { recursive: true, force: true });
    }
  }

  /**
   * A value must never reach a disk, and no one else on the host may place or read the directory: the base is on a
   * tmpfs (or ramfs), a real directory (not a link) of the server's own that no one else can write.
   */
  private async assertPrivateMemory(): Promise<void> {
    const fail = (why: string) =>
      new SandrunError('internal', `cannot deliver this run's secrets: SANDRUN_RUN_SECRETS_DIR ${this.base} ${why} (a tmpfs directory of the server's own, such as /dev/shm/sandrun-secrets)`);
    try {
      await mkdir(this.base, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw fail(`cannot be made: ${errorMessage(error)}`);
    }
    const info = await lstat(this.base);
    if (!info.isDirectory()) throw fail('is not a directory (a symbolic link is refused)');
    if (info.uid !== process.getuid?.()) throw fail(`belongs to uid ${info.uid}, not to the server`);
    if ((info.mode & 0o022) !== 0) throw fail(`is writable by others (mode ${(info.mode & 0o777).toString(8)})`);
    const type = IN_MEMORY_TYPES.get((await statfs(this.base)).type);
    if (!type) throw fail('is not on a tmpfs: secrets are written to memory only');
    await mkdir(this.root, { recursive: true, mode: 0o700 });
  }
}
