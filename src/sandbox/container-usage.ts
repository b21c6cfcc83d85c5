// A container's CPU time and peak memory from the engine's cgroup accounting (any Docker engine: the local one, or a swarm node's): the cgroup files when the container is local, else the stats API.
import type Dockerode from 'dockerode';
import { readFileSync } from 'node:fs';
import type { SandboxUsage } from './backend.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** The stats API waits for the engine's next 1 s collection tick; never let accounting hold a run longer than this. */
const STATS_TIMEOUT_MS = 1_500;

interface StatsFrame {
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { max_usage?: number; usage?: number };
}

/**
 * Reads the usage of a still-running container. The cgroup files (cgroup v1, cgroupfs or systemd driver) take
 * well under a millisecond; the engine's one-shot stats call is the fallback for a remote engine, as it can
 * take up to a second (see docs/decisions.md). Never throws: usage is best effort.
 */
export async function readContainerUsage(container: Dockerode.Container): Promise<SandboxUsage | undefined> {
  return fromCgroupFiles(container.id) ?? (await fromStatsApi(container));
}

function fromCgroupFiles(id: string): SandboxUsage | undefined {
  for (const parent of [`docker/${id}`, `system.slice/docker-${id}.scope`]) {
    const cpu = readNumber(`${CGROUP_ROOT}/cpuacct/${parent}/cpuacct.usage`);
    if (cpu === undefined) continue;
    const peak = readNumber(`${CGROUP_ROOT}/memory/${parent}/memory.max_usage_in_bytes`);
    return { cpuSeconds: cpu / 1e9, peakMemoryBytes: peak ?? null };
  }
  return undefined;
}

/**
 * How many processes of a local container the kernel has OOM-killed (cgroup v1 `memory.oom_control`, v2
 * `memory.events`); undefined when its cgroup cannot be read here (a remote engine, a container gone). The engine's
 * own flag (State.OOMKilled) only says so for the container's first process, and its "oom" event reaches only a
 * server that was listening: a run adopted after its server died learns of the kill from here.
 */
export function oomKillsOf(id: string): number | undefined {
  const files = [
    `${CGROUP_ROOT}/memory/docker/${id}/memory.oom_control`,
    `${CGROUP_ROOT}/memory/system.slice/docker-${id}.scope/memory.oom_control`,
    `${CGROUP_ROOT}/system.slice/docker-${id}.scope/memory.events`,
    `${CGROUP_ROOT}/docker/${id}/memory.events`,
  ];
  for (const file of files) {
    try {
      const count = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'))?.[1];
      if (count !== undefined) return Number(count);
    } catch {
      // not this layout
    }
  }
  return undefined;
}

async function fromStatsApi(container: Dockerode.Container): Promise<SandboxUsage | undefined> {
  try {
    // dockerode's types lack the one-shot flag (API 1.41) and the abort signal it forwards.
    const options = { stream: false, 'one-shot': true, abortSignal: AbortSignal.timeout(STATS_TIMEOUT_MS) } as unknown as { stream: false };
    const stats = (await container.stats(options)) as StatsFrame;
    const cpu = stats.cpu_stats?.cpu_usage?.total_usage;
    if (typeof cpu !== 'number') return undefined;
    const peak = stats.memory_stats?.max_usage;
    return { cpuSeconds: cpu / 1e9, peakMemoryBytes: typeof peak === 'number' ? peak : null };
  } catch {
    return undefined;
  }
}

/** Synchronously: a cgroup file is the kernel's answer in memory (tens of µs), cheaper than the thread pool's round trips. */
function readNumber(path: string): number | undefined {
  try {
    const value = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
