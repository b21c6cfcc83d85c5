// What a swarm node's engine must supply that a service spec cannot: each setting checked on every node, and what the spec may set instead.
import { SandrunError } from '../../errors.ts';

/** The part of `GET /info` the checks read (API 1.41 names). */
export interface EngineInfo {
  Name?: string;
  DefaultRuntime?: string;
  Runtimes?: Record<string, { path?: string; runtimeArgs?: string[] | null }>;
  MemoryLimit?: boolean;
  PidsLimit?: boolean;
  CpuCfsQuota?: boolean;
  CpuCfsPeriod?: boolean;
  Swarm?: { NodeID?: string };
}

/** What a container created with no security options reads about itself on the node: the daemon's own defaults. */
export interface ProbeFacts {
  noNewPrivs: boolean;
  /** 2: a seccomp filter is in force. */
  seccompMode: number;
  /** The node's swap (the probe runs under runc, whose /proc/meminfo is the host's). */
  swapTotalKb: number;
}

export interface NodeFacts {
  info: EngineInfo;
  networks: { Name: string; Driver: string }[];
  probe: ProbeFacts;
}

/**
 * Settings a service spec carries only from some API version on (docs.docker.com, Engine API version history):
 * below it the engine drops the field without a word, so the node's daemon default must supply it and is checked instead.
 */
export interface ServiceFeatures {
  /** TaskTemplate.ContainerSpec.Privileges.NoNewPrivileges: API 1.44. */
  noNewPrivileges: boolean;
  /** Mounts[].TmpfsOptions.Options (noexec, nosuid, nodev said explicitly): API 1.46. */
  tmpfsOptions: boolean;
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

/** What every engine of the cluster (the manager, which reads the spec, and the nodes, which run it) understands. */
export function serviceFeatures(apiVersions: string[]): ServiceFeatures {
  return {
    noNewPrivileges: apiVersions.every((v) => atLeast(v, 1, 44)),
    tmpfsOptions: apiVersions.every((v) => atLeast(v, 1, 46)),
  };
}

/** The command the probe container runs, and how its output is read. */
export const PROBE_COMMAND = ['/bin/sh', '-c', 'cat /proc/self/status /proc/meminfo'];

export function parseProbe(text: string): ProbeFacts {
  const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(text)?.[1];
  const swap = field('SwapTotal');
  if (field('NoNewPrivs') === undefined || field('Seccomp') === undefined || swap === undefined) {
    throw new SandrunError('internal', `the node probe's output lacks NoNewPrivs, Seccomp or SwapTotal: ${text.slice(0, 200)}`);
  }
  return { noNewPrivs: field('NoNewPrivs') === '1', seccompMode: Number(field('Seccomp')), swapTotalKb: Number(swap) };
}

/** Each setting the node lacks: what it is, what was found, how to fix it. */
export function hardeningProblems(facts: NodeFacts, runtime: 'runc' | 'runsc', features: ServiceFeatures): string[] {
  const { info, networks, probe } = facts;
  const problems: string[] = [];
  if (networks.some((network) => network.Name === 'bridge' && network.Driver === 'bridge')) {
    problems.push('default bridge network: present, so its runs would have network access (a service cannot ask for none); run its dockerd with "bridge": "none"');
  }
  const defaultRuntime = info.DefaultRuntime ?? 'runc';
  if (defaultRuntime !== runtime) {
    problems.push(`default runtime: ${defaultRuntime}, not the configured SANDRUN_RUNTIME=${runtime} (a service cannot choose one); set "default-runtime": "${runtime}" in its daemon.json`);
  }
  if (runtime === 'runsc') {
    const runsc = info.Runtimes?.runsc;
    if (!runsc) problems.push('runtime runsc: not registered; add it under "runtimes" in its daemon.json');
    else if (!(runsc.runtimeArgs ?? []).includes('--network=none')) {
      problems.push('runtime runsc: registered without "--network=none" in its runtimeArgs (runsc cannot start a task without it, and may leak processes trying)');
    }
  }
  for (const [key, what] of [
    ['MemoryLimit', 'memory limits'],
    ['PidsLimit', 'pids limits'],
    ['CpuCfsQuota', 'CPU quotas'],
  ] as const) {
    if (info[key] !== true) problems.push(`${what}: not supported by its cgroups (docker info ${key}=false), so a run's limit would not hold; enable the cgroup controller on the node`);
  }
  if (!features.noNewPrivileges && !probe.noNewPrivs) {
    problems.push('no-new-privileges: off by default, and this API version cannot set it per service; set "no-new-privileges": true in its daemon.json');
  }
  if (probe.seccompMode !== 2) {
    problems.push(`seccomp: no filter on its containers (Seccomp mode ${probe.seccompMode}); remove any "seccomp-profile": "unconfined" from its daemon.json`);
  }
  if (probe.swapTotalKb > 0) {
    problems.push(
      `swap: ${Math.round(probe.swapTotalKb / 1024)} MiB, and a service cannot limit a run's swap (the engine allows it as much swap as memory); turn swap off on the node (swapoff -a, and remove it from /etc/fstab)`,
    );
  }
  return problems;
}

/** Throws a SandrunError naming the node and every setting it lacks. */
export function assertNodeHardened(node: string, facts: NodeFacts, runtime: 'runc' | 'runsc', features: ServiceFeatures): void {
  const problems = hardeningProblems(facts, runtime, features);
  if (problems.length > 0) {
    throw new SandrunError('engine_unavailable', `swarm node ${node} cannot hold runs as hardened as the Docker backend's: ${problems.join('; ')}`, { node, problems });
  }
}
