// Where a throw-away swarm cluster keeps its namespaces, sockets, directories and cgroups: all derived from its id.
import { join } from 'node:path';

/** Every cluster's state lives under here, one directory per cluster id (state.json records the owner). */
export const STATE_ROOT = '/run/sandrun-swarm';
const DATA_ROOT = '/var/lib/sandrun-swarm';
export const NAMESPACE_PREFIX = 'srsw-';
/** Inside the cluster's own namespaces only: no address here is routed anywhere outside them. */
export const SUBNET_PREFIX = '10.213.0';

export interface NodeLayout {
  name: string;
  namespace: string;
  address: string;
  socket: string;
  dataRoot: string;
  execRoot: string;
  pidFile: string;
  configFile: string;
  logFile: string;
  cgroupParent: string;
}

export interface ClusterLayout {
  id: string;
  stateDir: string;
  dataDir: string;
  hubNamespace: string;
  nodes: NodeLayout[];
}

export function clusterLayout(id: string, nodeCount: number): ClusterLayout {
  const stateDir = join(STATE_ROOT, id);
  const dataDir = join(DATA_ROOT, id);
  const nodes = Array.from({ length: nodeCount }, (_, index): NodeLayout => {
    const name = `n${index + 1}`;
    return {
      name,
      namespace: `${NAMESPACE_PREFIX}${id}-${name}`,
      address: `${SUBNET_PREFIX}.${11 + index}`,
      socket: join(stateDir, `${name}.sock`),
      dataRoot: join(dataDir, name),
      execRoot: join(stateDir, name),
      pidFile: join(stateDir, `${name}.pid`),
      configFile: join(stateDir, `${name}.json`),
      logFile: join(dataDir, `${name}.log`),
      cgroupParent: `/${NAMESPACE_PREFIX}${id}-${name}`,
    };
  });
  return { id, stateDir, dataDir, hubNamespace: `${NAMESPACE_PREFIX}${id}-hub`, nodes };
}

/** What a node's dockerd reads instead of /etc/docker/daemon.json: no default bridge (tasks get loopback only), no runsc. */
export function daemonConfig(node: NodeLayout): Record<string, unknown> {
  return {
    bridge: 'none',
    iptables: false,
    'ip-forward': false,
    'ip-masq': false,
    'no-new-privileges': true,
    'storage-driver': 'overlay2',
    'cgroup-parent': node.cgroupParent,
    'log-driver': 'local',
    'log-opts': { 'max-size': '2m', 'max-file': '1', compress: 'false' },
    runtimes: {},
    features: { buildkit: false },
  };
}
