// A CPU cgroup of high weight for the API server and its load generator: what docs/operations.md recommends
// (systemd CPUWeight=, compose cpu_shares) so the API is not starved while containers start and stop.
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

const V1_GROUP = '/sys/fs/cgroup/cpu/sandrun-bench-api';
const V2_ROOT = '/sys/fs/cgroup';
const V2_GROUP = `${V2_ROOT}/sandrun-bench-api`;

export interface CpuPriority {
  /** What was set up, for the report. */
  description: string;
  /** Moves a process (all its threads) into the group. */
  add(pid: number): void;
  remove(): void;
}

/** The group, or a reason why there is none (not root, no writable cpu controller). */
export function highCpuWeightGroup(): CpuPriority | string {
  try {
    mkdirSync(V1_GROUP, { recursive: true });
    writeFileSync(`${V1_GROUP}/cpu.shares`, '10240');
    return group(V1_GROUP, 'cgroup v1 cpu.shares 10240 (default 1024, as the engine and every container have)');
  } catch {
    // not cgroup v1, or not allowed
  }
  try {
    if (!readFileSync(`${V2_ROOT}/cgroup.subtree_control`, 'utf8').includes('cpu')) writeFileSync(`${V2_ROOT}/cgroup.subtree_control`, '+cpu');
    mkdirSync(V2_GROUP, { recursive: true });
    writeFileSync(`${V2_GROUP}/cpu.weight`, '1000');
    return group(V2_GROUP, 'cgroup v2 cpu.weight 1000 (default 100)');
  } catch (error) {
    return `no writable cpu cgroup controller here (${(error as Error).message})`;
  }
}

function group(dir: string, description: string): CpuPriority {
  return {
    description,
    add: (pid) => writeFileSync(`${dir}/cgroup.procs`, String(pid)),
    remove: () => {
      try {
        rmdirSync(dir); // only possible once its processes have ended
      } catch {
        // still in use; left for the next run
      }
    },
  };
}
