// Tears a throw-away swarm cluster down completely and idempotently; also sweeps leftovers of crashed runs.
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { commandLineOf, isAlive, shQuiet, signal, waitForExit } from './host.ts';
import { NAMESPACE_PREFIX, STATE_ROOT, clusterLayout, type NodeLayout } from './layout.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';

interface ClusterState {
  ownerPid: number;
  nodeCount: number;
}

async function readState(id: string): Promise<ClusterState | undefined> {
  try {
    return JSON.parse(await readFile(join(STATE_ROOT, id, 'state.json'), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

/** Stops the node's dockerd (SIGTERM, then SIGKILL after 3 s), if it runs. */
export async function stopDaemon(node: NodeLayout): Promise<void> {
  const pid = Number((await readFile(node.pidFile, 'utf8').catch(() => '')).trim());
  // Only a pid whose command line still names this node's data root is ours (pids are reused).
  if (!pid || !(await commandLineOf(pid)).includes(node.dataRoot)) return;
  signal(pid, 'SIGTERM');
  if (!(await waitForExit(pid, 3_000))) {
    signal(pid, 'SIGKILL');
    await waitForExit(pid, 5_000);
  }
}

/** Pids in the node's cgroups (its task containers) and in its network namespace (containerd, shims). */
async function leftoverPids(node: NodeLayout): Promise<number[]> {
  const pids = new Set<number>();
  const inNamespace = await shQuiet('ip', ['netns', 'pids', node.namespace]);
  for (const line of inNamespace.split('\n')) if (line.trim()) pids.add(Number(line.trim()));
  for (const dir of await cgroupDirs(node)) {
    const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const line of procs.split('\n')) if (line.trim()) pids.add(Number(line.trim()));
  }
  return [...pids].filter((pid) => pid > 1 && pid !== process.pid);
}

/** Every cgroup directory under the node's cgroup parent, deepest first. */
async function cgroupDirs(node: NodeLayout): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) if (entry.isDirectory()) await walk(join(dir, entry.name));
    found.push(dir);
  };
  for (const controller of await readdir(CGROUP_ROOT).catch(() => [])) {
    const dir = join(CGROUP_ROOT, controller, node.cgroupParent);
    if (existsSync(dir)) await walk(dir);
  }
  return found;
}

async function unmountUnder(roots: string[]): Promise<void> {
  const mountInfo = await readFile('/proc/self/mountinfo', 'utf8');
  const points = mountInfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => roots.some((root) => point === root || point.startsWith(`${root}/`)))
    .sort((a, b) => b.length - a.length);
  for (const point of points) await shQuiet('umount', ['-l', point]);
}

/** Removes everything cluster `id` made: daemons, their children, mounts, namespaces (with their veths and bridge), cgroups, directories. */
export async function teardownCluster(id: string, nodeCount?: number): Promise<void> {
  const count = nodeCount ?? (await readState(id))?.nodeCount ?? 3;
  const layout = clusterLayout(id, count);
  await Promise.all(layout.nodes.map((node) => stopDaemon(node)));
  for (const node of layout.nodes) {
    for (const pid of await leftoverPids(node)) signal(pid, 'SIGKILL');
  }
  for (const node of layout.nodes) for (const pid of await leftoverPids(node)) await waitForExit(pid, 5_000);
  await unmountUnder([layout.dataDir, layout.stateDir]);
  const namespaces = (await shQuiet('ip', ['netns', 'list']))
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(`${NAMESPACE_PREFIX}${id}-`));
  for (const namespace of namespaces) await shQuiet('ip', ['netns', 'del', namespace]);
  for (const node of layout.nodes) for (const dir of await cgroupDirs(node)) await rmdir(dir).catch(() => undefined);
  await rm(layout.dataDir, { recursive: true, force: true });
  await rm(layout.stateDir, { recursive: true, force: true });
}

/** Tears down every cluster whose owning process is gone (a crashed earlier run), and stray namespaces of ours. */
export async function sweepLeftovers(): Promise<string[]> {
  const ids = new Set<string>();
  for (const id of await readdir(STATE_ROOT).catch(() => [])) {
    const state = await readState(id);
    if (!state || !isAlive(state.ownerPid)) ids.add(id);
  }
  const namespaces = (await shQuiet('ip', ['netns', 'list'])).split('\n').map((line) => line.split(' ')[0] ?? '');
  for (const name of namespaces) {
    const match = new RegExp(`^${NAMESPACE_PREFIX}([0-9a-f]+)-`).exec(name);
    if (match?.[1] && !existsSync(join(STATE_ROOT, match[1]))) ids.add(match[1]);
  }
  for (const id of ids) await teardownCluster(id);
  return [...ids];
}
