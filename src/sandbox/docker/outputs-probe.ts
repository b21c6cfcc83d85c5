// A shortcut for the common case of a run that wrote no outputs: look at /outputs from the host instead of exec'ing tar.
import type Dockerode from 'dockerode';
import { readdir, statfs } from 'node:fs/promises';
import { OUTPUTS } from './hardening.ts';

const TMPFS_MAGIC = 0x01021994;

/**
 * True when the container's /outputs is certainly empty. Only possible with runc on a local engine and a server that
 * may read /proc/<pid>/root (root, same pid namespace); gVisor keeps its files inside the sandbox. Anything else —
 * no access, not the tmpfs we mounted, any error — answers false, and the caller reads /outputs with tar.
 */
export async function outputsLookEmpty(container: Dockerode.Container): Promise<boolean> {
  try {
    const pid = (await container.inspect()).State.Pid;
    if (!pid) return false;
    const path = `/proc/${pid}/root${OUTPUTS}`;
    if ((await statfs(path)).type !== TMPFS_MAGIC) return false;
    return (await readdir(path)).length === 0;
  } catch {
    return false;
  }
}
